// The btfembed runtime for Rust: pick the embedded BTF of the running
// kernel.  Standard library only (plus a few libc functions std already
// links: uname, memfd_create, fcntl, mkstemp, access, getauxval).  Same rules as the C
// runtime (btfembed.h) and the Python runtime (btfembed/embed/runtime.py):
//
// 1. If /sys/kernel/btf/vmlinux is readable the kernel has its own BTF:
//    Status::KernelBtf, no blob, unless forced (Options::force or
//    BTFEMBED_FORCE=1).
// 2. The running kernel's key: uname machine normalized to BTFHub names
//    (aarch64 -> arm64, amd64 -> x86_64, ...), ID and VERSION_ID of
//    /etc/os-release (else /usr/lib/os-release; quotes and escapes removed
//    as os-release(5) says; empty when missing), uname release.
// 3. The full key is looked up first.  Otherwise the entries with the same
//    arch and release are used if they all share one blob (exact false);
//    Ambiguous if their blobs differ; NoMatch if there are none.
// 4. The blob's SHA-256 is checked against the pack before it is returned;
//    btf_path() hands it over as a path for libbpf's btf_custom_path (a
//    sealed memfd seen through /proc/self/fd/N, else a 0600 temporary file),
//    closed or removed when the BtfFile is dropped.
//
// Environment variables (ignored with Options::no_env, and in a process with
// privileges its user lacks: setuid, setgid or file capabilities, as C's
// secure_getenv does; they win over the options; empty means unset, "0" is
// false): BTFEMBED_FORCE, BTFEMBED_KEY
// (distro/version/arch/release, "_" for an empty field: exactly this entry,
// no fallback), BTFEMBED_HOST_ROOT (read <root>/etc/os-release, then
// <root>/usr/lib/os-release), BTFEMBED_OS_RELEASE, BTFEMBED_RELEASE,
// BTFEMBED_MACHINE, BTFEMBED_SYSFS_BTF, BTFEMBED_NO_MEMFD, BTFEMBED_DEBUG
// (print explain() on stderr).
//
// Codecs: none, and zlib through the small DEFLATE decoder below (Rust's
// standard library has none); xz and zstd are refused.
//
// No inner attributes, so the file can be used with `mod x;` or with
// `mod x { include!(...); }` alike.

use std::borrow::Cow;
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::raw::{c_char, c_int, c_uint, c_ulong};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};

/// The outcome of a lookup.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The embedded BTF for this kernel was selected.
    Embedded = 0,
    /// The kernel has its own BTF (/sys/kernel/btf/vmlinux).
    KernelBtf = 1,
    /// No embedded BTF for this kernel.
    NoMatch = 2,
    /// Distro unknown to the pack, and the release matches different BTFs.
    Ambiguous = 3,
}

#[allow(dead_code)]
impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Embedded => "embedded",
            Status::KernelBtf => "kernel-btf",
            Status::NoMatch => "no-match",
            Status::Ambiguous => "ambiguous",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Status::Embedded => "embedded BTF selected for this kernel",
            Status::KernelBtf => "the kernel has its own BTF (/sys/kernel/btf/vmlinux)",
            Status::NoMatch => "no embedded BTF for this kernel",
            Status::Ambiguous => {
                "no embedded BTF for this kernel's distribution, and its release matches several different BTFs"
            }
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kernel key: BTFHub arch, os-release ID and VERSION_ID, uname -r.
#[allow(dead_code)]
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub arch: String,
    pub distro: String,
    pub distro_version: String,
    pub release: String,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}", self.arch, self.distro, self.distro_version, self.release)
    }
}

/// The running kernel's key, and whether its parts can match an entry
/// (values longer than 255 bytes or holding a NUL never match).
#[allow(dead_code)]
#[derive(Clone, Debug, Default)]
pub struct RunningKey {
    pub key: Key,
    pub uname_ok: bool,
    pub os_ok: bool,
    /// Given by BTFEMBED_KEY / Options::key: exact match only.
    pub explicit: bool,
    /// What the key was computed from (explain()'s from=).
    pub source: String,
}

/// Overrides of the lookup's inputs (Default: the system's).
#[allow(dead_code)]
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub force: bool,
    pub no_env: bool,
    pub no_memfd: bool,
    pub debug: bool,
    /// This key (distro/version/arch/release), exactly.
    pub key: Option<String>,
    /// Read the os-release files under this directory.
    pub host_root: Option<PathBuf>,
    pub os_release: Option<PathBuf>,
    pub release: Option<String>,
    pub machine: Option<String>,
    pub sysfs_btf: Option<PathBuf>,
    pub tmpdir: Option<PathBuf>,
}

/// What a lookup decided.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Decision {
    pub status: Status,
    pub key: RunningKey,
    /// The entry used (Status::Embedded): its key and index in kernels().
    pub matched: Option<(Key, usize)>,
    /// The full key matched (false: release+arch fallback).
    pub exact: bool,
    /// exact, shared, ambiguous, none or kernel-btf.
    pub how: &'static str,
    /// SHA-256 of the blob used (Status::Embedded).
    pub sha256: [u8; 32],
}

fn or_underscore(s: &str) -> &str {
    if s.is_empty() {
        "_"
    } else {
        s
    }
}

fn btfhub(k: &Key) -> String {
    format!(
        "{}/{}/{}/{}",
        or_underscore(&k.distro),
        or_underscore(&k.distro_version),
        or_underscore(&k.arch),
        or_underscore(&k.release)
    )
}

#[allow(dead_code)]
impl Decision {
    /// The decision in one line, as BTFEMBED_DEBUG=1 prints it (the same
    /// line as the C and Python runtimes):
    /// `btfembed: key=D/V/A/R from=SOURCE match=HOW entry=D/V/A/R sha256=HEX status=STATUS`
    pub fn explain(&self) -> String {
        let entry = match &self.matched {
            Some((k, _)) => {
                let hex: String = self.sha256.iter().map(|b| format!("{:02x}", b)).collect();
                format!("{} sha256={}", btfhub(k), hex)
            }
            None => "- sha256=-".to_string(),
        };
        let source = if self.key.source.is_empty() { "-" } else { self.key.source.as_str() };
        format!(
            "btfembed: key={} from={} match={} entry={} status={}",
            btfhub(&self.key.key),
            source,
            self.how,
            entry,
            self.status
        )
    }
}

/// A corrupt or stale pack, a stale BPF object, or a system error.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn bad(why: &str) -> Error {
    Error(format!("{}: not a valid btfembed pack: {}", PACK_FILE, why))
}

const SYSFS_BTF: &str = "/sys/kernel/btf/vmlinux";
const OS_RELEASE_MAX: usize = 64 * 1024;
const FIELD_MAX: usize = 255;
const BLOB_MAX: u32 = 256 * 1024 * 1024;
const PACK_MAGIC: &[u8] = b"BTFEMBED-PACK\n";
const PACK_FORMAT: u16 = 3;
const PACK_HEADER_SIZE: usize = 96;
const PACK_BLOCK_RECORD: usize = 12;
const PACK_BLOB_RECORD: usize = 44;
const PACK_ENTRY_RECORD: usize = 20;
const PACK_OBJECT_RECORD: usize = 36;
const PACK_COUNT_MAX: u32 = 1 << 24;
const PACK_BLOCK_SIZE_MAX: u32 = 256 * 1024 * 1024;
const CODEC_NONE: u32 = 0;
const CODEC_ZLIB: u32 = 1;
const FLAG_BTF_RECODE: u32 = 1; // blobs stored transformed by the BTF recoding
const FLAG_SPLIT: u32 = 2; // a block holds its blobs' first parts, then their second parts
const FLAGS_KNOWN: u32 = FLAG_BTF_RECODE | FLAG_SPLIT;
// Per BTF kind: bytes after the common 12, bytes per member, members named,
// where in a member a value is stored as a difference (0: none).
const BTF_KINDS: [[u32; 4]; 20] = [
    [0, 0, 0, 0], [4, 0, 0, 0], [0, 0, 0, 0], [12, 0, 0, 0], [0, 12, 1, 8], [0, 12, 1, 8], [0, 8, 1, 4],
    [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 8, 1, 0],
    [4, 0, 0, 0], [0, 12, 0, 0], [0, 0, 0, 0], [4, 0, 0, 0], [0, 0, 0, 0], [0, 12, 1, 0],
];

const ARCH_ALIASES: &[(&str, &str)] = &[
    ("aarch64", "arm64"), ("arm64", "arm64"), ("armv8", "arm64"),
    ("x86_64", "x86_64"), ("amd64", "x86_64"), ("x86-64", "x86_64"), ("x64", "x86_64"),
    ("i386", "x86"), ("i486", "x86"), ("i586", "x86"), ("i686", "x86"), ("x86", "x86"),
    ("armv7l", "arm"), ("armv6l", "arm"), ("armhf", "arm"), ("arm", "arm"),
    ("ppc64le", "ppc64le"), ("powerpc64le", "ppc64le"),
    ("s390x", "s390x"), ("riscv64", "riscv64"), ("loongarch64", "loongarch64"), ("mips64", "mips64"),
];

// ---------------------------------------------------------------------------
// Kernel key

fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\n' || c == 0x0b || c == 0x0c || c == b'\r'
}

fn strip(mut s: &[u8]) -> &[u8] {
    while let Some((&c, rest)) = s.split_first() {
        if !is_space(c) {
            break;
        }
        s = rest;
    }
    while let Some((&c, rest)) = s.split_last() {
        if !is_space(c) {
            break;
        }
        s = rest;
    }
    s
}

/// BTFHub's name for a uname machine (aarch64 -> arm64).
#[allow(dead_code)]
pub fn normalize_arch(machine: &str) -> String {
    let lower: Vec<u8> = strip(machine.as_bytes()).iter().map(|c| c.to_ascii_lowercase()).collect();
    let lower = String::from_utf8_lossy(&lower).into_owned();
    for (alias, name) in ARCH_ALIASES {
        if *alias == lower {
            return name.to_string();
        }
    }
    lower
}

fn unquote(v: &[u8]) -> Vec<u8> {
    let v = strip(v);
    let n = v.len();
    if n < 2 || v[0] != v[n - 1] || (v[0] != b'"' && v[0] != b'\'') {
        return v.to_vec();
    }
    let body = &v[1..n - 1];
    if v[0] == b'\'' {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'\\' && i + 1 < body.len() && b"\"\\$`".contains(&body[i + 1]) {
            out.push(body[i + 1]);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Parse os-release(5) content: KEY=value lines (ending at \n or \r),
/// values optionally single- or double-quoted, # comments; the last
/// assignment wins.  Returns (key, value) pairs in file order.
#[allow(dead_code)]
pub fn parse_os_release(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for raw in data.split(|&c| c == b'\n' || c == b'\r') {
        let line = strip(raw);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let eq = match line.iter().position(|&c| c == b'=') {
            Some(eq) => eq,
            None => continue,
        };
        let key = strip(&line[..eq]);
        if key.is_empty() || !key.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_') {
            continue;
        }
        out.push((key.to_vec(), unquote(&line[eq + 1..])));
    }
    out
}

fn env_var(name: &str, opts: &Options) -> Option<OsString> {
    if opts.no_env || privileged() {
        return None;
    }
    match std::env::var_os(name) {
        Some(v) if !v.is_empty() => Some(v),
        _ => None,
    }
}

fn env_true(name: &str, opts: &Options) -> bool {
    match env_var(name, opts) {
        Some(v) => v.as_bytes() != b"0",
        None => false,
    }
}

#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const O_NONBLOCK: i32 = 0x80;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const O_NONBLOCK: i32 = 0o4000;

/// Up to `limit` bytes of `path`, opened non-blocking (a FIFO never hangs).
fn read_head(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let f = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path)?;
    let mut buf = Vec::new();
    f.take(limit as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn usable(v: &[u8]) -> bool {
    v.len() <= FIELD_MAX && !v.contains(&0)
}

#[repr(C)]
struct Utsname {
    fields: [[c_char; 65]; 6], // sysname, nodename, release, version, machine, domainname
}

extern "C" {
    fn uname(buf: *mut Utsname) -> c_int;
    fn access(path: *const c_char, mode: c_int) -> c_int;
    fn memfd_create(name: *const c_char, flags: c_uint) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn mkstemp(template: *mut c_char) -> c_int;
    fn getauxval(tag: c_ulong) -> c_ulong;
}

const AT_SECURE: c_ulong = 23;

/// Whether the process runs with privileges its user lacks (setuid, setgid,
/// file capabilities): its environment is then that user's to choose, so
/// the overrides are not read (AT_SECURE, what glibc's secure_getenv tests).
fn privileged() -> bool {
    unsafe { getauxval(AT_SECURE) != 0 }
}

fn uname_field(u: &Utsname, i: usize) -> String {
    let bytes: Vec<u8> = u.fields[i].iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn os_str(v: OsString) -> String {
    v.to_string_lossy().into_owned()
}

/// distro/version/arch/release ("_" for an empty field; the release is
/// the rest), or None.
#[allow(dead_code)]
pub fn parse_key(text: &str) -> Option<Key> {
    let mut parts: Vec<&str> = text.splitn(4, '/').collect();
    if parts.len() != 4 {
        return None;
    }
    for p in parts.iter_mut() {
        if *p == "_" {
            *p = "";
        }
    }
    if parts[2].is_empty() || parts[3].is_empty() || !parts.iter().all(|p| usable(p.as_bytes())) {
        return None;
    }
    Some(Key {
        arch: normalize_arch(parts[2]),
        distro: parts[0].to_string(),
        distro_version: parts[1].to_string(),
        release: parts[3].to_string(),
    })
}

/// The running kernel's key (rule 2), with the overrides.
#[allow(dead_code)]
pub fn running_key(opts: &Options) -> Result<RunningKey, Error> {
    let explicit = match env_var("BTFEMBED_KEY", opts) {
        Some(v) => Some((os_str(v), "BTFEMBED_KEY")),
        None => opts.key.clone().filter(|k| !k.is_empty()).map(|k| (k, "key option")),
    };
    if let Some((text, source)) = explicit {
        return Ok(match parse_key(&text) {
            Some(key) => RunningKey { key, uname_ok: true, os_ok: true, explicit: true, source: source.to_string() },
            None => RunningKey {
                key: Key::default(),
                uname_ok: false,
                os_ok: false,
                explicit: true,
                source: format!("{} (not distro/version/arch/release)", source),
            },
        });
    }
    let mut release = env_var("BTFEMBED_RELEASE", opts).map(os_str).or_else(|| opts.release.clone());
    let mut machine = env_var("BTFEMBED_MACHINE", opts).map(os_str).or_else(|| opts.machine.clone());
    release = release.filter(|s| !s.is_empty());
    machine = machine.filter(|s| !s.is_empty());
    let overridden = release.is_some() || machine.is_some();
    if release.is_none() || machine.is_none() {
        let mut u = Utsname { fields: [[0; 65]; 6] };
        if unsafe { uname(&mut u) } != 0 {
            return Err(Error(format!("uname: {}", std::io::Error::last_os_error())));
        }
        release = release.or_else(|| Some(uname_field(&u, 2)));
        machine = machine.or_else(|| Some(uname_field(&u, 4)));
    }
    let mut k = RunningKey { key: Key::default(), uname_ok: true, os_ok: true, explicit: false, source: String::new() };
    let arch = normalize_arch(&machine.unwrap_or_default());
    let release = release.unwrap_or_default();
    for (value, slot) in [(arch, &mut k.key.arch), (release, &mut k.key.release)] {
        if usable(value.as_bytes()) {
            *slot = value;
        } else {
            k.uname_ok = false;
        }
    }
    let paths: Vec<PathBuf> = match env_var("BTFEMBED_OS_RELEASE", opts).map(PathBuf::from).or_else(|| opts.os_release.clone()) {
        Some(p) if !p.as_os_str().is_empty() => vec![p],
        _ => {
            let root = env_var("BTFEMBED_HOST_ROOT", opts)
                .map(PathBuf::from)
                .or_else(|| opts.host_root.clone())
                .unwrap_or_default()
                .into_os_string()
                .into_vec();
            ["/etc/os-release", "/usr/lib/os-release"]
                .iter()
                .map(|p| PathBuf::from(OsString::from_vec([root.as_slice(), p.as_bytes()].concat())))
                .collect()
        }
    };
    let mut fields = Vec::new();
    k.source = "no os-release".to_string();
    for p in &paths {
        if let Ok(data) = read_head(p, OS_RELEASE_MAX) {
            fields = parse_os_release(&data);
            k.source = p.display().to_string();
            break;
        }
    }
    k.source.push_str(if overridden { ", override" } else { ", uname" });
    let get = |name: &[u8]| fields.iter().rev().find(|(k, _)| k.as_slice() == name).map(|(_, v)| v.clone()).unwrap_or_default();
    for (value, slot) in [(get(b"ID"), &mut k.key.distro), (get(b"VERSION_ID"), &mut k.key.distro_version)] {
        if usable(&value) {
            *slot = String::from_utf8_lossy(&value).into_owned();
        } else {
            k.os_ok = false;
        }
    }
    Ok(k)
}

// ---------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), for the digests of the pack

const SHA_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

struct Sha256 {
    h: [u32; 8],
    buf: Vec<u8>,
    len: u64,
}

impl Sha256 {
    fn new() -> Sha256 {
        Sha256 {
            h: [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19],
            buf: Vec::with_capacity(64),
            len: 0,
        }
    }

    fn block(&mut self, b: &[u8]) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = self.h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(SHA_K[i]).wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), v[0], v[1], v[2], v[3].wrapping_add(t1), v[4], v[5], v[6]];
        }
        for i in 0..8 {
            self.h[i] = self.h[i].wrapping_add(v[i]);
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.buf.is_empty() {
            let take = (64 - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == 64 {
                let b = std::mem::take(&mut self.buf);
                self.block(&b);
            }
        }
        while data.len() >= 64 {
            self.block(&data[..64]);
            data = &data[64..];
        }
        self.buf.extend_from_slice(data);
    }

    fn finish(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        while (self.buf.len() + pad.len()) % 64 != 56 {
            pad.push(0);
        }
        pad.extend_from_slice(&bits.to_be_bytes());
        let len = self.len;
        self.update(&pad);
        self.len = len;
        let mut out = [0u8; 32];
        for i in 0..8 {
            out[4 * i..4 * i + 4].copy_from_slice(&self.h[i].to_be_bytes());
        }
        out
    }
}

/// SHA-256 of `data`.
#[allow(dead_code)]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(data);
    h.finish()
}

// ---------------------------------------------------------------------------
// zlib (RFC 1950) / DEFLATE (RFC 1951) decoder, for packs with codec zlib:
// output bounded by the block's raw size, Adler-32 checked.

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u32,
    count: u32,
}

impl<'a> BitReader<'a> {
    fn bits(&mut self, n: u32) -> Result<u32, &'static str> {
        while self.count < n {
            let byte = *self.data.get(self.pos).ok_or("truncated stream")?;
            self.pos += 1;
            self.buf |= (byte as u32) << self.count;
            self.count += 8;
        }
        let v = self.buf & ((1u32 << n) - 1);
        self.buf = if n == 32 { 0 } else { self.buf >> n };
        self.count -= n;
        Ok(v)
    }
}

/// A canonical Huffman code: how many codes of each length, and the
/// symbols in code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Huffman, &'static str> {
        let mut counts = [0u16; 16];
        for &l in lengths {
            counts[l as usize] += 1;
        }
        counts[0] = 0;
        let mut left: i32 = 1;
        for len in 1..16 {
            left = (left << 1) - counts[len] as i32;
            if left < 0 {
                return Err("over-subscribed code");
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbols[offsets[l as usize] as usize] = sym as u16;
                offsets[l as usize] += 1;
            }
        }
        Ok(Huffman { counts, symbols })
    }

    fn decode(&self, r: &mut BitReader<'_>) -> Result<u16, &'static str> {
        let (mut code, mut first, mut index): (i32, i32, i32) = (0, 0, 0);
        for len in 1..16 {
            code |= r.bits(1)? as i32;
            let count = self.counts[len] as i32;
            if code - first < count {
                return Ok(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("invalid Huffman code")
    }
}

const LEN_BASE: [u16; 29] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA: [u8; 30] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

fn inflate_codes(r: &mut BitReader<'_>, out: &mut Vec<u8>, limit: usize, lit: &Huffman, dist: &Huffman) -> Result<(), &'static str> {
    loop {
        let sym = lit.decode(r)? as usize;
        if sym < 256 {
            if out.len() >= limit {
                return Err("larger than stated");
            }
            out.push(sym as u8);
        } else if sym == 256 {
            return Ok(());
        } else {
            let i = sym - 257;
            if i >= 29 {
                return Err("invalid length symbol");
            }
            let len = LEN_BASE[i] as usize + r.bits(LEN_EXTRA[i] as u32)? as usize;
            let d = dist.decode(r)? as usize;
            if d >= 30 {
                return Err("invalid distance symbol");
            }
            let distance = DIST_BASE[d] as usize + r.bits(DIST_EXTRA[d] as u32)? as usize;
            if distance > out.len() {
                return Err("distance too far back");
            }
            if out.len() + len > limit {
                return Err("larger than stated");
            }
            let start = out.len() - distance;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
}

/// Decompress one zlib stream that must produce exactly `raw_size` bytes.
fn zlib_decompress(stored: &[u8], raw_size: usize) -> Result<Vec<u8>, &'static str> {
    if stored.len() < 6 {
        return Err("truncated stream");
    }
    let (cmf, flg) = (stored[0], stored[1]);
    if cmf & 0x0f != 8 || cmf >> 4 > 7 || ((cmf as u16) << 8 | flg as u16) % 31 != 0 || flg & 0x20 != 0 {
        return Err("not a zlib stream");
    }
    let mut r = BitReader { data: &stored[..stored.len() - 4], pos: 2, buf: 0, count: 0 };
    let mut out = Vec::with_capacity(raw_size);
    loop {
        let last = r.bits(1)?;
        match r.bits(2)? {
            0 => {
                r.buf = 0;
                r.count = 0; // to a byte boundary
                let p = r.pos;
                let hdr = r.data.get(p..p + 4).ok_or("truncated stream")?;
                let len = u16::from_le_bytes([hdr[0], hdr[1]]) as usize;
                if len != !u16::from_le_bytes([hdr[2], hdr[3]]) as usize {
                    return Err("bad stored block");
                }
                let body = r.data.get(p + 4..p + 4 + len).ok_or("truncated stream")?;
                if out.len() + len > raw_size {
                    return Err("larger than stated");
                }
                out.extend_from_slice(body);
                r.pos = p + 4 + len;
            }
            1 => {
                let mut lengths = [0u8; 288];
                for (i, l) in lengths.iter_mut().enumerate() {
                    *l = if i < 144 { 8 } else if i < 256 { 9 } else if i < 280 { 7 } else { 8 };
                }
                let lit = Huffman::new(&lengths)?;
                let dist = Huffman::new(&[5u8; 30])?;
                inflate_codes(&mut r, &mut out, raw_size, &lit, &dist)?;
            }
            2 => {
                let nlen = r.bits(5)? as usize + 257;
                let ndist = r.bits(5)? as usize + 1;
                let ncode = r.bits(4)? as usize + 4;
                if nlen > 286 || ndist > 30 {
                    return Err("bad code lengths");
                }
                const ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
                let mut cl = [0u8; 19];
                for &o in ORDER.iter().take(ncode) {
                    cl[o] = r.bits(3)? as u8;
                }
                let clh = Huffman::new(&cl)?;
                let mut lengths = vec![0u8; nlen + ndist];
                let mut i = 0;
                while i < nlen + ndist {
                    let sym = clh.decode(&mut r)?;
                    let (value, repeat) = match sym {
                        0..=15 => (sym as u8, 1),
                        16 => {
                            if i == 0 {
                                return Err("repeat with no length");
                            }
                            (lengths[i - 1], 3 + r.bits(2)? as usize)
                        }
                        17 => (0, 3 + r.bits(3)? as usize),
                        _ => (0, 11 + r.bits(7)? as usize),
                    };
                    if i + repeat > nlen + ndist {
                        return Err("too many code lengths");
                    }
                    for l in lengths[i..i + repeat].iter_mut() {
                        *l = value;
                    }
                    i += repeat;
                }
                if lengths[256] == 0 {
                    return Err("no end-of-block code");
                }
                let lit = Huffman::new(&lengths[..nlen])?;
                let dist = Huffman::new(&lengths[nlen..])?;
                inflate_codes(&mut r, &mut out, raw_size, &lit, &dist)?;
            }
            _ => return Err("invalid block type"),
        }
        if last == 1 {
            break;
        }
    }
    if r.pos != r.data.len() {
        return Err("data after the stream");
    }
    if out.len() != raw_size {
        return Err("smaller than stated");
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &out {
        a = (a + byte as u32) % 65521;
        b = (b + a) % 65521;
    }
    let tail = &stored[stored.len() - 4..];
    if (b << 16 | a) != u32::from_be_bytes([tail[0], tail[1], tail[2], tail[3]]) {
        return Err("Adler-32 mismatch");
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Pack format 3 (docs/pack-format.md of btfembed)

struct Block {
    start: usize,
    stored: usize,
    size: usize,
}

struct Blob {
    block: usize,
    off: usize,
    len: usize,
    digest: [u8; 32],
}

/// Undo the BTF recoding (docs/pack-format.md) in place: the walk
/// reads only fields the transform leaves alone.
fn btf_recode_decode(b: &mut [u8]) {
    let n = b.len() as u64;
    if n < 24 || b[0] != 0x9f || b[1] != 0xeb {
        return;
    }
    let hdr = u32_at(b, 4) as u64;
    let t0 = hdr + u32_at(b, 8) as u64;
    let t1 = t0 + u32_at(b, 12) as u64;
    let s0 = hdr + u32_at(b, 16) as u64;
    let s1 = s0 + u32_at(b, 20) as u64;
    if hdr < 24 || t1 > n || s1 > n || !(t1 <= s0 || s1 <= t0) {
        return;
    }
    let strs = b[s0 as usize..s1 as usize].to_vec();
    let mut next: u64 = 1;
    let mut pos = t0;
    while pos + 12 <= t1 {
        let info = u32_at(b, pos as usize + 4);
        let kind = ((info >> 24) & 0x1f) as usize;
        if kind == 0 || kind >= 20 {
            break;
        }
        let k = BTF_KINDS[kind];
        let end = pos + 12 + k[0] as u64 + (info & 0xffff) as u64 * k[1] as u64;
        if end > t1 {
            break;
        }
        let mut fields = vec![pos];
        if k[2] == 1 {
            let mut f = pos + 12 + k[0] as u64;
            while f < end {
                fields.push(f);
                f += k[1] as u64;
            }
        }
        for f in fields {
            let f = f as usize;
            let v = u32_at(b, f) as u64;
            let w = if v == 0 {
                let w = next;
                next = if (next as usize) < strs.len() {
                    match strs[next as usize..].iter().position(|&c| c == 0) {
                        Some(z) => next + z as u64 + 1,
                        None => strs.len() as u64,
                    }
                } else {
                    strs.len() as u64
                };
                w
            } else if v <= next {
                v - 1
            } else {
                v
            };
            b[f..f + 4].copy_from_slice(&(w as u32).to_le_bytes());
        }
        if k[3] != 0 {
            let mut prev: u32 = 0;
            let mut f = pos + 12 + k[0] as u64 + k[3] as u64;
            while f < end {
                let at = f as usize;
                prev = prev.wrapping_add(u32_at(b, at));
                b[at..at + 4].copy_from_slice(&prev.to_le_bytes());
                f += k[1] as u64;
            }
        }
        pos = end;
    }
}

/// Where a blob of `n` bytes starting with `h` is cut in a split block: at
/// its string section when that ends the blob after the types, else at its
/// end (docs/pack-format.md).
fn split_point(h: &[u8], n: u64) -> u64 {
    if n < 24 || h.len() < 24 || h[0] != 0x9f || h[1] != 0xeb {
        return n;
    }
    let hdr = u32_at(h, 4) as u64;
    let s0 = hdr + u32_at(h, 16) as u64;
    if hdr < 24 || hdr + u32_at(h, 8) as u64 + u32_at(h, 12) as u64 > s0 || s0 + u32_at(h, 20) as u64 != n {
        return n;
    }
    s0
}

/// A parsed, checked btfembed pack (codec none or zlib).
pub struct Pack {
    data: &'static [u8],
    codec: u32,
    flags: u32,
    blocks: Vec<Block>,
    blobs: Vec<Blob>,
    entries: Vec<(Key, usize)>,
    objects: Vec<[u8; 32]>,
}

fn u32_at(d: &[u8], pos: usize) -> u32 {
    u32::from_le_bytes([d[pos], d[pos + 1], d[pos + 2], d[pos + 3]])
}

fn byte_key(k: &Key) -> [&[u8]; 4] {
    [k.arch.as_bytes(), k.distro.as_bytes(), k.distro_version.as_bytes(), k.release.as_bytes()]
}

#[allow(dead_code)]
impl Pack {
    /// Read and check a pack: header, index digest, every table.
    pub fn parse(data: &'static [u8]) -> Result<Pack, Error> {
        if !data.starts_with(PACK_MAGIC) {
            return Err(bad("wrong magic"));
        }
        if data.len() < PACK_HEADER_SIZE {
            return Err(bad("truncated header"));
        }
        let format = u16::from_le_bytes([data[14], data[15]]);
        if format != PACK_FORMAT {
            return Err(bad(&format!("unsupported format {} (this runtime reads format {}; regenerate)", format, PACK_FORMAT)));
        }
        let h = |i: usize| u32_at(data, 16 + 4 * i);
        let (codec, n_entries, n_blobs, n_blocks, n_objects) = (h(0), h(1), h(2), h(3), h(4));
        let (strings_size, block_max, flags, pack_size) = (h(5), h(6), h(7), h(8));
        if codec > 3 {
            return Err(bad(&format!("unknown codec {}", codec)));
        }
        if flags & !FLAGS_KNOWN != 0 {
            return Err(bad(&format!("unknown flags {:#x}", flags)));
        }
        if pack_size as u64 != data.len() as u64 {
            return Err(bad(&format!("size {} but the header says {} (truncated or padded)", data.len(), pack_size)));
        }
        if [n_entries, n_blobs, n_blocks, n_objects].iter().any(|&n| n >= PACK_COUNT_MAX) || block_max > PACK_BLOCK_SIZE_MAX {
            return Err(bad("counts out of range"));
        }
        let data_offset = PACK_HEADER_SIZE as u64
            + n_blocks as u64 * PACK_BLOCK_RECORD as u64
            + n_blobs as u64 * PACK_BLOB_RECORD as u64
            + n_entries as u64 * PACK_ENTRY_RECORD as u64
            + n_objects as u64 * PACK_OBJECT_RECORD as u64
            + strings_size as u64;
        if data_offset > data.len() as u64 {
            return Err(bad("index runs past the end"));
        }
        let data_offset = data_offset as usize;
        let mut meta = Sha256::new();
        meta.update(&data[..64]);
        meta.update(&data[PACK_HEADER_SIZE..data_offset]);
        if meta.finish()[..] != data[64..96] {
            return Err(bad("index digest mismatch"));
        }
        if codec != CODEC_NONE && codec != CODEC_ZLIB {
            return Err(bad(&format!("codec {} is not supported by the Rust runtime (regenerate with --codec zlib or none)", codec)));
        }
        let mut pos = PACK_HEADER_SIZE;
        let mut blocks = Vec::new();
        let mut expect: u64 = 0;
        for _ in 0..n_blocks {
            let (off, stored, raw) = (u32_at(data, pos), u32_at(data, pos + 4), u32_at(data, pos + 8));
            pos += PACK_BLOCK_RECORD;
            if off as u64 != expect || data_offset as u64 + off as u64 + stored as u64 > data.len() as u64 || raw > block_max {
                return Err(bad("block out of place"));
            }
            if codec == CODEC_NONE && stored != raw {
                return Err(bad("stored block size differs from its raw size"));
            }
            blocks.push(Block { start: data_offset + off as usize, stored: stored as usize, size: raw as usize });
            expect = off as u64 + stored as u64;
        }
        if data_offset as u64 + expect != data.len() as u64 {
            return Err(bad("data after the last block"));
        }
        let mut blobs = Vec::new();
        for _ in 0..n_blobs {
            let (block, off, len) = (u32_at(data, pos), u32_at(data, pos + 4), u32_at(data, pos + 8));
            let mut digest = [0u8; 32];
            digest.copy_from_slice(&data[pos + 12..pos + PACK_BLOB_RECORD]);
            pos += PACK_BLOB_RECORD;
            if block >= n_blocks || off as u64 + len as u64 > blocks[block as usize].size as u64 || len > BLOB_MAX {
                return Err(bad("blob out of its block"));
            }
            blobs.push(Blob { block: block as usize, off: off as usize, len: len as usize, digest });
        }
        let strings = &data[data_offset - strings_size as usize..data_offset];
        if !strings.is_empty() && (strings[0] != 0 || strings[strings.len() - 1] != 0) {
            return Err(bad("malformed string table"));
        }
        let string = |off: u32| -> Result<String, Error> {
            let off = off as usize;
            if off >= strings.len() || (off > 0 && strings[off - 1] != 0) {
                return Err(bad("string offset out of range"));
            }
            let end = off + strings[off..].iter().position(|&c| c == 0).unwrap_or(0);
            if end - off > FIELD_MAX {
                return Err(bad("string too long"));
            }
            String::from_utf8(strings[off..end].to_vec()).map_err(|_| bad("string is not UTF-8"))
        };
        let mut entries: Vec<(Key, usize)> = Vec::new();
        for _ in 0..n_entries {
            let key = Key {
                arch: string(u32_at(data, pos))?,
                distro: string(u32_at(data, pos + 4))?,
                distro_version: string(u32_at(data, pos + 8))?,
                release: string(u32_at(data, pos + 12))?,
            };
            let blob = u32_at(data, pos + 16);
            pos += PACK_ENTRY_RECORD;
            if blob >= n_blobs {
                return Err(bad(&format!("kernel entry refers to blob {}", blob)));
            }
            if let Some((prev, _)) = entries.last() {
                if byte_key(prev) >= byte_key(&key) {
                    return Err(bad("kernel entries are not sorted"));
                }
            }
            entries.push((key, blob as usize));
        }
        let mut objects = Vec::new();
        for _ in 0..n_objects {
            string(u32_at(data, pos))?;
            let mut d = [0u8; 32];
            d.copy_from_slice(&data[pos + 4..pos + PACK_OBJECT_RECORD]);
            objects.push(d);
            pos += PACK_OBJECT_RECORD;
        }
        Ok(Pack { data, codec, flags, blocks, blobs, entries, objects })
    }

    /// The kernel keys, sorted.
    pub fn kernels(&self) -> Vec<Key> {
        self.entries.iter().map(|(k, _)| k.clone()).collect()
    }

    /// The raw BTF of entry `i` (its block decompressed), its SHA-256
    /// checked: borrowed from the executable for codec none (unless recoded).
    pub fn blob(&self, i: usize) -> Result<Cow<'static, [u8]>, Error> {
        let (_, b) = self.entries.get(i).ok_or_else(|| Error(format!("btfembed: entry {} out of range", i)))?;
        let blob = &self.blobs[*b];
        let block = &self.blocks[blob.block];
        let data: &'static [u8] = self.data;
        let stored = &data[block.start..block.start + block.stored];
        let whole: Cow<'static, [u8]> = if self.codec == CODEC_ZLIB {
            Cow::Owned(zlib_decompress(stored, block.size)
                .map_err(|why| bad(&format!("block {} does not decompress ({})", blob.block, why)))?)
        } else {
            Cow::Borrowed(stored)
        };
        let mut raw: Cow<'static, [u8]> = if self.flags & FLAG_SPLIT != 0 {
            Cow::Owned(self.unsplit(*b, &whole).ok_or_else(|| bad(&format!("block {}: blobs do not fit", blob.block)))?)
        } else {
            match whole {
                Cow::Owned(v) => Cow::Owned(v[blob.off..blob.off + blob.len].to_vec()),
                Cow::Borrowed(s) => Cow::Borrowed(&s[blob.off..blob.off + blob.len]),
            }
        };
        if self.flags & FLAG_BTF_RECODE != 0 {
            btf_recode_decode(raw.to_mut());
        }
        if sha256(&raw) != blob.digest {
            return Err(bad(&format!("blob {}: digest mismatch", b)));
        }
        Ok(raw)
    }

    /// Blob `k` out of its split block: its first part among the first
    /// parts of the block's blobs (in table order), its second after all of
    /// them; None when they do not fit.
    fn unsplit(&self, k: usize, blk: &[u8]) -> Option<Vec<u8>> {
        let block = self.blobs[k].block;
        let size = blk.len() as u64;
        let (mut a, mut rest, mut at, mut cut, mut b) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for (j, o) in self.blobs.iter().enumerate() {
            if o.block != block {
                continue;
            }
            let n = o.len as u64;
            if a > size {
                return None;
            }
            let head = &blk[a as usize..(a + 24).min(size) as usize];
            let c = split_point(head, n);
            if j == k {
                at = a;
                cut = c;
                b = rest;
            }
            a += c;
            rest += n - c;
            if a + rest > size {
                return None;
            }
        }
        let n = self.blobs[k].len as u64;
        let mut out = Vec::with_capacity(n as usize);
        out.extend_from_slice(&blk[at as usize..(at + cut) as usize]);
        out.extend_from_slice(&blk[(a + b) as usize..(a + b + n - cut) as usize]);
        Some(out)
    }

    /// Rule 3: status, entry index, whether the full key matched.
    pub fn find(&self, k: &RunningKey) -> (Status, Option<usize>, bool) {
        if !k.uname_ok {
            return (Status::NoMatch, None, false);
        }
        if k.os_ok {
            if let Ok(i) = self.entries.binary_search_by(|(e, _)| byte_key(e).cmp(&byte_key(&k.key))) {
                return (Status::Embedded, Some(i), true);
            }
        }
        if k.explicit {
            return (Status::NoMatch, None, false);
        }
        let mut found: Option<usize> = None;
        for (i, (e, blob)) in self.entries.iter().enumerate() {
            if e.arch != k.key.arch || e.release != k.key.release {
                continue;
            }
            match found {
                None => found = Some(i),
                Some(f) if self.entries[f].1 != *blob => return (Status::Ambiguous, None, false),
                _ => {}
            }
        }
        match found {
            Some(i) => (Status::Embedded, Some(i), false),
            None => (Status::NoMatch, None, false),
        }
    }

    /// All the rules: the decision, and the raw BTF (for aya's Btf::parse)
    /// when the status is Embedded.
    pub fn lookup(&self, opts: &Options) -> Result<(Decision, Option<Cow<'static, [u8]>>), Error> {
        let got = self.decide(opts)?;
        if opts.debug || env_true("BTFEMBED_DEBUG", opts) {
            eprintln!("{}", got.0.explain());
        }
        Ok(got)
    }

    fn decide(&self, opts: &Options) -> Result<(Decision, Option<Cow<'static, [u8]>>), Error> {
        let key = running_key(opts)?;
        let mut d = Decision { status: Status::NoMatch, key, matched: None, exact: false, how: "none", sha256: [0; 32] };
        if !opts.force && !env_true("BTFEMBED_FORCE", opts) {
            let sysfs = env_var("BTFEMBED_SYSFS_BTF", opts)
                .map(PathBuf::from)
                .or_else(|| opts.sysfs_btf.clone())
                .unwrap_or_else(|| PathBuf::from(SYSFS_BTF));
            if readable(&sysfs) {
                d.status = Status::KernelBtf;
                d.how = "kernel-btf";
                return Ok((d, None));
            }
        }
        let (status, index, exact) = self.find(&d.key);
        d.status = status;
        if status == Status::Ambiguous {
            d.how = "ambiguous";
        }
        let i = match index {
            Some(i) => i,
            None => return Ok((d, None)),
        };
        let blob = self.blob(i)?;
        d.matched = Some((self.entries[i].0.clone(), i));
        d.exact = exact;
        d.how = if exact { "exact" } else { "shared" };
        d.sha256 = self.blobs[self.entries[i].1].digest;
        Ok((d, Some(blob)))
    }

    /// Fails when the pack records BPF objects and `object` (its .BTF and
    /// .BTF.ext sections) is not among them.
    pub fn check_object(&self, object: &[u8]) -> Result<(), Error> {
        if self.objects.is_empty() {
            return Ok(());
        }
        let d = object_digest(object)?;
        if self.objects.contains(&d) {
            Ok(())
        } else {
            Err(Error("btfembed: BPF object not among those the embedded BTF was built for (regenerate it after rebuilding the object)".to_string()))
        }
    }
}

fn readable(path: &Path) -> bool {
    match CString::new(path.as_os_str().as_bytes()) {
        Ok(c) => unsafe { access(c.as_ptr(), 4 /* R_OK */) == 0 },
        Err(_) => false,
    }
}

/// The stale-object digest of a BPF object (ELF):
/// sha256(u32 len(.BTF) || .BTF || u32 len(.BTF.ext) || .BTF.ext).
#[allow(dead_code)]
pub fn object_digest(object: &[u8]) -> Result<[u8; 32], Error> {
    let bad_elf = |why: &str| Error(format!("btfembed: not a BPF object (ELF): {}", why));
    if object.len() < 52 || &object[..4] != b"\x7fELF" {
        return Err(bad_elf("no ELF header"));
    }
    let (class, order) = (object[4], object[5]);
    if !(class == 1 || class == 2) || !(order == 1 || order == 2) {
        return Err(bad_elf("unknown ELF class or byte order"));
    }
    let rd = |pos: usize, n: usize| -> Result<u64, Error> {
        let b = object.get(pos..pos + n).ok_or_else(|| bad_elf("truncated"))?;
        let mut v: u64 = 0;
        for i in 0..n {
            let byte = if order == 1 { b[n - 1 - i] } else { b[i] };
            v = (v << 8) | byte as u64;
        }
        Ok(v)
    };
    let (shoff, shentsize, shnum, shstrndx, want) = if class == 2 {
        (rd(0x28, 8)?, rd(0x3a, 2)?, rd(0x3c, 2)?, rd(0x3e, 2)?, 64)
    } else {
        (rd(0x20, 4)?, rd(0x2e, 2)?, rd(0x30, 2)?, rd(0x32, 2)?, 40)
    };
    if shentsize < want || shoff + shnum * shentsize > object.len() as u64 || shstrndx >= shnum {
        return Err(bad_elf("section headers out of range"));
    }
    let mut heads = Vec::new();
    for i in 0..shnum {
        let at = (shoff + i * shentsize) as usize;
        let w = if class == 2 { 8 } else { 4 };
        let (name, kind) = (rd(at, 4)?, rd(at + 4, 4)?);
        let (off, size) = (rd(at + 8 + 2 * w, w)?, rd(at + 8 + 3 * w, w)?);
        heads.push((name as usize, kind, off as usize, size as usize));
    }
    let (_, _, stroff, strsize) = heads[shstrndx as usize];
    let names = object.get(stroff..stroff.saturating_add(strsize)).ok_or_else(|| bad_elf("section name table out of range"))?;
    let mut found: [Option<&[u8]>; 2] = [None, None];
    for &(name, kind, off, size) in &heads {
        if name >= names.len() || kind == 8 {
            continue; // SHT_NOBITS holds no bytes
        }
        let end = name + names[name..].iter().position(|&c| c == 0).ok_or_else(|| bad_elf("section name runs past its table"))?;
        let body = object.get(off..off.saturating_add(size)).ok_or_else(|| bad_elf("section runs past the end"))?;
        for (slot, want) in found.iter_mut().zip([&b".BTF"[..], &b".BTF.ext"[..]]) {
            if slot.is_none() && &names[name..end] == want {
                *slot = Some(body);
            }
        }
    }
    let mut h = Sha256::new();
    for part in found.iter() {
        let part = part.unwrap_or(&[]);
        h.update(&(part.len() as u32).to_le_bytes());
        h.update(part);
    }
    Ok(h.finish())
}

// ---------------------------------------------------------------------------
// Handing the blob to libbpf

/// A path holding the BTF for libbpf's btf_custom_path (libbpf-rs:
/// ObjectBuilder's custom BTF path option), valid until dropped: a sealed
/// memfd as /proc/self/fd/N, or a 0600 temporary file that is removed.
#[allow(dead_code)]
pub struct BtfFile {
    path: PathBuf,
    file: Option<File>,
    temporary: bool,
}

#[allow(dead_code)]
impl BtfFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the BTF is in a memfd (else a temporary file).
    pub fn is_memfd(&self) -> bool {
        !self.temporary
    }

    /// Write `data` to a memfd (unless `no_memfd` or BTFEMBED_NO_MEMFD=1),
    /// else to a temporary file in `tmpdir`, $TMPDIR (not in a privileged process) or /tmp.
    pub fn new(data: &[u8], opts: &Options) -> Result<BtfFile, Error> {
        if !opts.no_memfd && !env_true("BTFEMBED_NO_MEMFD", opts) {
            if let Some(f) = BtfFile::memfd(data) {
                return Ok(f);
            }
        }
        let dir = opts
            .tmpdir
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(|| std::env::var_os("TMPDIR").filter(|d| !d.is_empty() && !privileged()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let mut template = dir.join("btfembed-XXXXXX").into_os_string().into_vec();
        template.push(0);
        let fd = unsafe { mkstemp(template.as_mut_ptr() as *mut c_char) };
        template.pop();
        let path = PathBuf::from(OsStr::from_bytes(&template));
        if fd < 0 {
            return Err(Error(format!("{}: {}", path.display(), std::io::Error::last_os_error())));
        }
        let mut file = unsafe { File::from_raw_fd(fd) };
        let out = BtfFile { path, file: None, temporary: true }; // removes the file on error
        file.write_all(data).map_err(|e| Error(format!("{}: {}", out.path.display(), e)))?;
        Ok(out)
    }

    fn memfd(data: &[u8]) -> Option<BtfFile> {
        const MFD_CLOEXEC: c_uint = 1;
        const MFD_ALLOW_SEALING: c_uint = 2;
        const F_ADD_SEALS: c_int = 1033;
        const SEALS: c_int = 1 | 2 | 4 | 8; // SEAL, SHRINK, GROW, WRITE
        let fd = unsafe { memfd_create(b"btfembed\0".as_ptr() as *const c_char, MFD_CLOEXEC | MFD_ALLOW_SEALING) };
        if fd < 0 {
            return None;
        }
        let mut file = unsafe { File::from_raw_fd(fd) };
        file.write_all(data).ok()?;
        unsafe { fcntl(file.as_raw_fd(), F_ADD_SEALS, SEALS) };
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        if !readable(&path) {
            return None; // no /proc: libbpf could not open it
        }
        Some(BtfFile { path, file: Some(file), temporary: false })
    }
}

impl Drop for BtfFile {
    fn drop(&mut self) {
        self.file.take();
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// The pack embedded in this module

/// This module's pack, parsed and checked once.
#[allow(dead_code)]
pub fn embedded_pack() -> Result<&'static Pack, Error> {
    static ONCE: std::sync::Once = std::sync::Once::new();
    static PACK: AtomicPtr<Result<Pack, String>> = AtomicPtr::new(std::ptr::null_mut());
    ONCE.call_once(|| {
        let got = if PACK_DATA.len() as u64 != PACK_SIZE || sha256(PACK_DATA) != PACK_SHA256 {
            Err(format!("{}: does not belong to this module (regenerate both with btfembed generate)", PACK_FILE))
        } else {
            Pack::parse(PACK_DATA).map_err(|e| e.0)
        };
        PACK.store(Box::into_raw(Box::new(got)), Ordering::Release); // lives as long as the program
    });
    // Set once by call_once above, never freed.
    match unsafe { PACK.load(Ordering::Acquire).as_ref() } {
        Some(Ok(p)) => Ok(p),
        Some(Err(e)) => Err(Error(e.clone())),
        None => Err(Error("btfembed: pack not initialized".to_string())),
    }
}

/// The rules applied to the embedded pack: the decision, and the raw BTF
/// (for aya's Btf::parse) when the status is Embedded.
#[allow(dead_code)]
pub fn lookup(opts: &Options) -> Result<(Decision, Option<Cow<'static, [u8]>>), Error> {
    embedded_pack()?.lookup(opts)
}

/// The rules, and the BTF as a path for libbpf's btf_custom_path (None:
/// the kernel has its own BTF, or nothing matches; see the decision).
#[allow(dead_code)]
pub fn btf_path(opts: &Options) -> Result<(Decision, Option<BtfFile>), Error> {
    let (d, blob) = lookup(opts)?;
    match blob {
        Some(b) => Ok((d, Some(BtfFile::new(&b, opts)?))),
        None => Ok((d, None)),
    }
}

/// The embedded kernel keys.
#[allow(dead_code)]
pub fn kernels() -> Result<Vec<Key>, Error> {
    Ok(embedded_pack()?.kernels())
}

/// Check a BPF object against the embedded pack (Pack::check_object).
#[allow(dead_code)]
pub fn check_object(object: &[u8]) -> Result<(), Error> {
    embedded_pack()?.check_object(object)
}
