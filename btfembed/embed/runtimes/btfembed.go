//go:build linux

// The btfembed runtime for Go: pick the embedded BTF of the running kernel.
// Standard library only.  Same rules as the C runtime (btfembed.h) and the
// Python runtime (btfembed/embed/runtime.py):
//
//  1. If /sys/kernel/btf/vmlinux is readable the kernel has its own BTF:
//     status KernelBTF, no blob, unless forced (Options.Force or
//     BTFEMBED_FORCE=1).
//  2. The running kernel's key: uname machine normalized to BTFHub names
//     (aarch64 -> arm64, amd64 -> x86_64, ...), ID and VERSION_ID of
//     /etc/os-release (else /usr/lib/os-release; quotes and escapes removed
//     as os-release(5) says; empty when missing), uname release.
//  3. The full key is looked up first.  Otherwise the entries with the same
//     arch and release are used if they all share one blob (Exact false);
//     Ambiguous if their blobs differ; NoMatch if there are none.
//  4. The blob's block is decompressed and the blob's SHA-256 is checked
//     against the pack before it is returned.
//
// Environment variables (ignored with Options.NoEnv, and in a process with
// privileges its user lacks: setuid, setgid or file capabilities, as C's
// secure_getenv does; they win over the options; empty means unset, "0" is
// false): BTFEMBED_FORCE,
// BTFEMBED_KEY (distro/version/arch/release, "_" for an empty field:
// exactly this entry, no fallback), BTFEMBED_HOST_ROOT (read
// <root>/etc/os-release, then <root>/usr/lib/os-release: agents in
// containers see the host this way), BTFEMBED_OS_RELEASE (file read
// instead of the os-release files), BTFEMBED_RELEASE and BTFEMBED_MACHINE
// (instead of uname), BTFEMBED_SYSFS_BTF (instead of
// /sys/kernel/btf/vmlinux), BTFEMBED_DEBUG (print Explain() on stderr).
//
// Values longer than 255 bytes or holding a NUL never match.

package btfembed

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"syscall"
	"unsafe"
)

// Status is the outcome of a lookup.
type Status int

const (
	Embedded  Status = 0 // the embedded BTF for this kernel was selected
	KernelBTF Status = 1 // the kernel has its own BTF (/sys/kernel/btf/vmlinux)
	NoMatch   Status = 2 // no embedded BTF for this kernel
	Ambiguous Status = 3 // distro unknown to the pack, release matches different BTFs
)

func (s Status) String() string {
	switch s {
	case Embedded:
		return "embedded"
	case KernelBTF:
		return "kernel-btf"
	case NoMatch:
		return "no-match"
	case Ambiguous:
		return "ambiguous"
	}
	return "unknown"
}

// Describe is a sentence for a status.
func (s Status) Describe() string {
	switch s {
	case Embedded:
		return "embedded BTF selected for this kernel"
	case KernelBTF:
		return "the kernel has its own BTF (/sys/kernel/btf/vmlinux)"
	case NoMatch:
		return "no embedded BTF for this kernel"
	case Ambiguous:
		return "no embedded BTF for this kernel's distribution, and its release matches several different BTFs"
	}
	return "unknown btfembed status"
}

// Key is a kernel key: BTFHub arch, os-release ID and VERSION_ID, uname -r.
type Key struct {
	Arch, Distro, DistroVersion, Release string
}

func (k Key) String() string {
	return k.Arch + "/" + k.Distro + "/" + k.DistroVersion + "/" + k.Release
}

// RunningKey is a Key plus whether its parts can match a pack entry.
type RunningKey struct {
	Key
	UnameOK  bool   // Arch and Release usable
	OSOK     bool   // Distro and DistroVersion usable
	Explicit bool   // given by BTFEMBED_KEY / Options.Key: exact match only
	Source   string // what the key was computed from (Explain's from=)
}

// Options override the inputs of a lookup (zero value: the system's).
type Options struct {
	Force     bool   // use the embedded BTF even if the kernel has BTF
	NoEnv     bool   // ignore the BTFEMBED_* environment variables
	Debug     bool   // print Explain() on stderr
	Key       string // this key (distro/version/arch/release), exactly
	HostRoot  string // read the os-release files under this directory
	OSRelease string // file read instead of /etc/os-release, /usr/lib/os-release
	Release   string // instead of uname -r
	Machine   string // instead of uname -m
	SysfsBTF  string // instead of /sys/kernel/btf/vmlinux
}

// Decision says what a lookup decided and why.
type Decision struct {
	Status Status
	Key    RunningKey // the running kernel's key
	Match  Key        // the pack entry used (Status == Embedded)
	Entry  int        // its index in Kernels(), -1 if none
	Exact  bool       // the full key matched (false: release+arch fallback)
	How    string     // exact, shared, ambiguous, none or kernel-btf
	SHA256 [32]byte   // digest of the blob used (Status == Embedded)
}

func orUnderscore(s string) string {
	if s == "" {
		return "_"
	}
	return s
}

func btfhub(k Key) string {
	return orUnderscore(k.Distro) + "/" + orUnderscore(k.DistroVersion) + "/" + orUnderscore(k.Arch) + "/" +
		orUnderscore(k.Release)
}

// Explain is the decision in one line, as BTFEMBED_DEBUG=1 prints it (the
// same line as the C and Python runtimes):
//
//	btfembed: key=D/V/A/R from=SOURCE match=HOW entry=D/V/A/R sha256=HEX status=STATUS
func (d Decision) Explain() string {
	entry := "- sha256=-"
	if d.Status == Embedded {
		entry = fmt.Sprintf("%s sha256=%x", btfhub(d.Match), d.SHA256[:])
	}
	return fmt.Sprintf("btfembed: key=%s from=%s match=%s entry=%s status=%s", btfhub(d.Key.Key),
		first(d.Key.Source, "-"), first(d.How, "none"), entry, d.Status)
}

func (d Decision) String() string {
	s := fmt.Sprintf("btfembed: %s (%s) key=%s", d.Status, d.Status.Describe(), d.Key.Key)
	if d.Status == Embedded {
		s += fmt.Sprintf(" match=%s exact=%t", d.Match, d.Exact)
	}
	return s
}

// ErrInvalidPack: the embedded data is not a valid btfembed pack (corrupt,
// stale, or a format this runtime does not read).
var ErrInvalidPack = errors.New("not a valid btfembed pack")

// ErrStaleObject: a BPF object whose digest the pack does not record.
var ErrStaleObject = errors.New("BPF object not among those the embedded BTF was built for")

const (
	sysfsBTF      = "/sys/kernel/btf/vmlinux"
	osReleaseMax  = 64 * 1024
	fieldMax      = 255
	blobMax       = 256 * 1024 * 1024
	packMagic     = "BTFEMBED-PACK\n"
	packFormat    = 3
	packHeader    = 96
	packBlockRec  = 12
	packBlobRec   = 44
	packEntryRec  = 20
	packObjectRec = 36
	packCountMax  = 1 << 24
	blockSizeMax  = 256 * 1024 * 1024
	codecNone     = 0
	codecZlib     = 1
	flagBTFRecode = 1 // blobs stored transformed by the BTF recoding
	flagSplit     = 2 // a block holds its blobs' first parts, then their second parts
	flagsKnown    = flagBTFRecode | flagSplit
)

// btfKinds: per BTF kind, bytes after the common 12, bytes per member,
// whether members start with a name offset, and where in a member a value
// is stored as a difference from the previous member's (0: none).
var btfKinds = [20][4]uint32{
	{0, 0, 0, 0}, {4, 0, 0, 0}, {0, 0, 0, 0}, {12, 0, 0, 0}, {0, 12, 1, 8}, {0, 12, 1, 8}, {0, 8, 1, 4},
	{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 8, 1, 0},
	{4, 0, 0, 0}, {0, 12, 0, 0}, {0, 0, 0, 0}, {4, 0, 0, 0}, {0, 0, 0, 0}, {0, 12, 1, 0},
}

// btfRecodeDecode undoes the BTF recoding (docs/pack-format.md) in
// place: the walk reads only fields the transform leaves alone.
func btfRecodeDecode(b []byte) {
	le := binary.LittleEndian
	n := uint64(len(b))
	if n < 24 || le.Uint16(b) != 0xEB9F {
		return
	}
	hdr := uint64(le.Uint32(b[4:]))
	t0 := hdr + uint64(le.Uint32(b[8:]))
	t1 := t0 + uint64(le.Uint32(b[12:]))
	s0 := hdr + uint64(le.Uint32(b[16:]))
	s1 := s0 + uint64(le.Uint32(b[20:]))
	if hdr < 24 || t1 > n || s1 > n || !(t1 <= s0 || s1 <= t0) {
		return
	}
	strs := b[s0:s1]
	next := uint64(1)
	for pos := t0; pos+12 <= t1; {
		info := le.Uint32(b[pos+4:])
		kind := (info >> 24) & 0x1f
		if kind == 0 || kind >= 20 {
			break
		}
		k := btfKinds[kind]
		end := pos + 12 + uint64(k[0]) + uint64(info&0xffff)*uint64(k[1])
		if end > t1 {
			break
		}
		fields := []uint64{pos}
		if k[2] == 1 {
			for f := pos + 12 + uint64(k[0]); f < end; f += uint64(k[1]) {
				fields = append(fields, f)
			}
		}
		for _, f := range fields {
			v := uint64(le.Uint32(b[f:]))
			if v == 0 {
				le.PutUint32(b[f:], uint32(next))
				z := -1
				if next < uint64(len(strs)) {
					z = bytes.IndexByte(strs[next:], 0)
				}
				if z >= 0 {
					next += uint64(z) + 1
				} else {
					next = uint64(len(strs))
				}
			} else if v <= next {
				le.PutUint32(b[f:], uint32(v-1))
			}
		}
		if k[3] != 0 {
			prev := uint32(0)
			for f := pos + 12 + uint64(k[0]) + uint64(k[3]); f < end; f += uint64(k[1]) {
				prev += le.Uint32(b[f:])
				le.PutUint32(b[f:], prev)
			}
		}
		pos = end
	}
}

var archAliases = map[string]string{
	"aarch64": "arm64", "arm64": "arm64", "armv8": "arm64",
	"x86_64": "x86_64", "amd64": "x86_64", "x86-64": "x86_64", "x64": "x86_64",
	"i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86", "x86": "x86",
	"armv7l": "arm", "armv6l": "arm", "armhf": "arm", "arm": "arm",
	"ppc64le": "ppc64le", "powerpc64le": "ppc64le",
	"s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loongarch64", "mips64": "mips64",
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func strip(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// NormalizeArch gives BTFHub's name for a uname machine (aarch64 -> arm64).
func NormalizeArch(machine string) string {
	b := []byte(strip(machine))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
	}
	if a, ok := archAliases[string(b)]; ok {
		return a
	}
	return string(b)
}

func unquote(v string) string {
	v = strip(v)
	if len(v) < 2 || v[0] != v[len(v)-1] || (v[0] != '"' && v[0] != '\'') {
		return v
	}
	body := v[1 : len(v)-1]
	if v[0] == '\'' {
		return body
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '\\' && i+1 < len(body) && bytes.IndexByte([]byte("\"\\$`"), body[i+1]) >= 0 {
			out = append(out, body[i+1])
			i++
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

func isKeyChar(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
}

// ParseOSRelease parses os-release(5) content: KEY=value lines (ending at
// \n or \r), values optionally single- or double-quoted, # comments; the
// last assignment wins.
func ParseOSRelease(data []byte) map[string]string {
	out := map[string]string{}
	lines := bytes.FieldsFunc(data, func(r rune) bool { return r == '\n' || r == '\r' })
	for _, raw := range lines {
		line := strip(string(raw))
		if line == "" || line[0] == '#' {
			continue
		}
		eq := bytes.IndexByte([]byte(line), '=')
		if eq < 0 {
			continue
		}
		k := strip(line[:eq])
		valid := k != ""
		for i := 0; i < len(k); i++ {
			if !isKeyChar(k[i]) {
				valid = false
			}
		}
		if valid {
			out[k] = unquote(line[eq+1:])
		}
	}
	return out
}

func env(name string, opts *Options) string {
	if opts.NoEnv || privileged() {
		return ""
	}
	return os.Getenv(name)
}

var (
	privilegedOnce sync.Once
	privilegedProc bool
)

// privileged reports whether the process runs with privileges its user
// lacks (setuid, setgid, file capabilities): its environment is then that
// user's to choose, so the overrides are not read. The kernel says so in
// the auxiliary vector (AT_SECURE, what glibc's secure_getenv tests); a Go
// program, linked statically, reads it from /proc/self/auxv, which such a
// process may not be allowed to read: that counts as privileged too.
func privileged() bool {
	privilegedOnce.Do(func() {
		privilegedProc = os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid() || atSecure()
	})
	return privilegedProc
}

const atSecureTag = 23 // AT_SECURE

func atSecure() bool {
	data, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // no /proc: the uid test alone
	}
	var probe uint16 = 1
	var order binary.ByteOrder = binary.BigEndian
	if *(*byte)(unsafe.Pointer(&probe)) == 1 {
		order = binary.LittleEndian
	}
	word := int(unsafe.Sizeof(uintptr(0)))
	for i := 0; i+2*word <= len(data); i += 2 * word {
		var tag, val uint64
		if word == 8 {
			tag, val = order.Uint64(data[i:]), order.Uint64(data[i+8:])
		} else {
			tag, val = uint64(order.Uint32(data[i:])), uint64(order.Uint32(data[i+4:]))
		}
		if tag == 0 { // AT_NULL
			break
		}
		if tag == atSecureTag {
			return val != 0
		}
	}
	return false
}

func envTrue(name string, opts *Options) bool {
	v := env(name, opts)
	return v != "" && v != "0"
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// readHead reads up to limit bytes, non-blocking (a FIFO never hangs).
func readHead(path string, limit int) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	buf := make([]byte, limit)
	n := 0
	for n < limit {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m <= 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

func usable(v string) bool {
	return len(v) <= fieldMax && bytes.IndexByte([]byte(v), 0) < 0
}

func cstr(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// ParseKey reads distro/version/arch/release ("_" for an empty field; the
// release is the rest): ok false when it is not one.
func ParseKey(text string) (Key, bool) {
	parts := make([]string, 0, 4)
	for i := 0; i < 3; i++ {
		slash := bytes.IndexByte([]byte(text), '/')
		if slash < 0 {
			return Key{}, false
		}
		parts, text = append(parts, text[:slash]), text[slash+1:]
	}
	parts = append(parts, text)
	for i, p := range parts {
		if p == "_" {
			parts[i] = ""
		}
	}
	k := Key{Arch: NormalizeArch(parts[2]), Distro: parts[0], DistroVersion: parts[1], Release: parts[3]}
	if parts[2] == "" || k.Release == "" || !usable(parts[2]) || !usable(k.Distro) || !usable(k.DistroVersion) ||
		!usable(k.Release) {
		return Key{}, false
	}
	return k, true
}

// Running computes the running kernel's key (rule 2) with the overrides.
func Running(opts *Options) (RunningKey, error) {
	if opts == nil {
		opts = &Options{}
	}
	if explicit, source := env("BTFEMBED_KEY", opts), "BTFEMBED_KEY"; explicit != "" || opts.Key != "" {
		if explicit == "" {
			explicit, source = opts.Key, "key option"
		}
		k, ok := ParseKey(explicit)
		if !ok {
			return RunningKey{Explicit: true, Source: source + " (not distro/version/arch/release)"}, nil
		}
		return RunningKey{Key: k, UnameOK: true, OSOK: true, Explicit: true, Source: source}, nil
	}
	release := first(env("BTFEMBED_RELEASE", opts), opts.Release)
	machine := first(env("BTFEMBED_MACHINE", opts), opts.Machine)
	if release == "" || machine == "" {
		var u syscall.Utsname
		if err := syscall.Uname(&u); err != nil {
			return RunningKey{}, err
		}
		release = first(release, cstr(u.Release[:]))
		machine = first(machine, cstr(u.Machine[:]))
	}
	k := RunningKey{UnameOK: true, OSOK: true}
	k.Arch, k.Release = NormalizeArch(machine), release
	if !usable(k.Arch) || !usable(k.Release) {
		k.UnameOK = false
		if !usable(k.Arch) {
			k.Arch = ""
		}
		if !usable(k.Release) {
			k.Release = ""
		}
	}
	overridden := first(env("BTFEMBED_RELEASE", opts), opts.Release, env("BTFEMBED_MACHINE", opts), opts.Machine) != ""
	var fields map[string]string
	root := first(env("BTFEMBED_HOST_ROOT", opts), opts.HostRoot)
	paths := []string{root + "/etc/os-release", root + "/usr/lib/os-release"}
	if p := first(env("BTFEMBED_OS_RELEASE", opts), opts.OSRelease); p != "" {
		paths = []string{p}
	}
	k.Source = "no os-release"
	for _, p := range paths {
		if data, err := readHead(p, osReleaseMax); err == nil {
			fields, k.Source = ParseOSRelease(data), p
			break
		}
	}
	if overridden {
		k.Source += ", override"
	} else {
		k.Source += ", uname"
	}
	k.Distro, k.DistroVersion = fields["ID"], fields["VERSION_ID"]
	if !usable(k.Distro) {
		k.Distro, k.OSOK = "", false
	}
	if !usable(k.DistroVersion) {
		k.DistroVersion, k.OSOK = "", false
	}
	return k, nil
}

// ---------------------------------------------------------------------------
// Pack format 3 (docs/pack-format.md of btfembed)

type block struct{ start, stored, raw uint32 }
type blob struct {
	block, off, length uint32
	digest             [32]byte
}
type entry struct {
	key  Key
	blob uint32
}

// Pack is a parsed, checked btfembed pack.
type Pack struct {
	data    []byte
	codec   uint32
	flags   uint32
	blocks  []block
	blobs   []blob
	entries []entry
	objects map[[32]byte]string
}

func bad(name, why string) error {
	return fmt.Errorf("%s: %w: %s", name, ErrInvalidPack, why)
}

func keyLess(a, b Key) bool {
	if a.Arch != b.Arch {
		return a.Arch < b.Arch
	}
	if a.Distro != b.Distro {
		return a.Distro < b.Distro
	}
	if a.DistroVersion != b.DistroVersion {
		return a.DistroVersion < b.DistroVersion
	}
	return a.Release < b.Release
}

// ParsePack reads and checks a pack: header, index digest, every table.
func ParsePack(data []byte, name string) (*Pack, error) {
	le := binary.LittleEndian
	if len(data) < len(packMagic) || string(data[:len(packMagic)]) != packMagic {
		return nil, bad(name, "wrong magic")
	}
	if len(data) < packHeader {
		return nil, bad(name, "truncated header")
	}
	if f := le.Uint16(data[14:]); f != packFormat {
		return nil, bad(name, fmt.Sprintf("unsupported format %d (this runtime reads format %d; regenerate)", f, packFormat))
	}
	codec := le.Uint32(data[16:])
	nEntries, nBlobs, nBlocks, nObjects := le.Uint32(data[20:]), le.Uint32(data[24:]), le.Uint32(data[28:]), le.Uint32(data[32:])
	stringsSize, blockMax, flags, packSize := le.Uint32(data[36:]), le.Uint32(data[40:]), le.Uint32(data[44:]), le.Uint32(data[48:])
	if codec > 3 {
		return nil, bad(name, fmt.Sprintf("unknown codec %d", codec))
	}
	if flags&^flagsKnown != 0 {
		return nil, bad(name, fmt.Sprintf("unknown flags %#x", flags))
	}
	if uint64(packSize) != uint64(len(data)) {
		return nil, bad(name, fmt.Sprintf("size %d but the header says %d (truncated or padded)", len(data), packSize))
	}
	if nEntries >= packCountMax || nBlobs >= packCountMax || nBlocks >= packCountMax || nObjects >= packCountMax || blockMax > blockSizeMax {
		return nil, bad(name, "counts out of range")
	}
	dataOffset := uint64(packHeader) + uint64(nBlocks)*packBlockRec + uint64(nBlobs)*packBlobRec +
		uint64(nEntries)*packEntryRec + uint64(nObjects)*packObjectRec + uint64(stringsSize)
	if dataOffset > uint64(len(data)) {
		return nil, bad(name, "index runs past the end")
	}
	h := sha256.New()
	h.Write(data[:64])
	h.Write(data[packHeader:dataOffset])
	if !bytes.Equal(h.Sum(nil), data[64:96]) {
		return nil, bad(name, "index digest mismatch")
	}
	p := &Pack{data: data, codec: codec, flags: flags, objects: map[[32]byte]string{}}
	pos := uint64(packHeader)
	var expect uint64
	for i := uint32(0); i < nBlocks; i++ {
		off, stored, raw := le.Uint32(data[pos:]), le.Uint32(data[pos+4:]), le.Uint32(data[pos+8:])
		pos += packBlockRec
		if uint64(off) != expect || dataOffset+uint64(off)+uint64(stored) > uint64(len(data)) || raw > blockMax {
			return nil, bad(name, "block out of place")
		}
		if codec == codecNone && stored != raw {
			return nil, bad(name, "stored block size differs from its raw size")
		}
		p.blocks = append(p.blocks, block{uint32(dataOffset) + off, stored, raw})
		expect = uint64(off) + uint64(stored)
	}
	if dataOffset+expect != uint64(len(data)) {
		return nil, bad(name, "data after the last block")
	}
	for i := uint32(0); i < nBlobs; i++ {
		b := blob{block: le.Uint32(data[pos:]), off: le.Uint32(data[pos+4:]), length: le.Uint32(data[pos+8:])}
		copy(b.digest[:], data[pos+12:pos+packBlobRec])
		pos += packBlobRec
		if b.block >= nBlocks || uint64(b.off)+uint64(b.length) > uint64(p.blocks[b.block].raw) || b.length > blobMax {
			return nil, bad(name, "blob out of its block")
		}
		p.blobs = append(p.blobs, b)
	}
	strs := data[dataOffset-uint64(stringsSize) : dataOffset]
	if stringsSize > 0 && (strs[0] != 0 || strs[len(strs)-1] != 0) {
		return nil, bad(name, "malformed string table")
	}
	str := func(off uint32) (string, error) {
		if off >= stringsSize || (off > 0 && strs[off-1] != 0) {
			return "", bad(name, "string offset out of range")
		}
		end := bytes.IndexByte(strs[off:], 0)
		if end > fieldMax {
			return "", bad(name, "string too long")
		}
		return string(strs[off : off+uint32(end)]), nil
	}
	for i := uint32(0); i < nEntries; i++ {
		var f [4]string
		for j := range f {
			s, err := str(le.Uint32(data[pos+uint64(4*j):]))
			if err != nil {
				return nil, err
			}
			f[j] = s
		}
		e := entry{Key{f[0], f[1], f[2], f[3]}, le.Uint32(data[pos+16:])}
		pos += packEntryRec
		if e.blob >= nBlobs {
			return nil, bad(name, fmt.Sprintf("kernel entry refers to blob %d", e.blob))
		}
		if len(p.entries) > 0 && !keyLess(p.entries[len(p.entries)-1].key, e.key) {
			return nil, bad(name, "kernel entries are not sorted")
		}
		p.entries = append(p.entries, e)
	}
	for i := uint32(0); i < nObjects; i++ {
		s, err := str(le.Uint32(data[pos:]))
		if err != nil {
			return nil, err
		}
		var d [32]byte
		copy(d[:], data[pos+4:pos+packObjectRec])
		p.objects[d] = s
		pos += packObjectRec
	}
	if codec != codecNone && codec != codecZlib {
		return nil, bad(name, fmt.Sprintf("codec %d is not supported by the Go runtime (regenerate with --codec zlib or none)", codec))
	}
	return p, nil
}

// Kernels lists the pack's kernel keys, sorted.
func (p *Pack) Kernels() []Key {
	out := make([]Key, len(p.entries))
	for i, e := range p.entries {
		out[i] = e.key
	}
	return out
}

// Blob returns the raw BTF of entry i, decompressed and checked.
func (p *Pack) Blob(i int) ([]byte, error) {
	if i < 0 || i >= len(p.entries) {
		return nil, fmt.Errorf("btfembed: entry %d out of range", i)
	}
	b := p.blobs[p.entries[i].blob]
	blk := p.blocks[b.block]
	stored := p.data[blk.start : blk.start+blk.stored]
	raw := stored
	if p.codec == codecZlib {
		r, err := zlib.NewReader(bytes.NewReader(stored))
		if err != nil {
			return nil, bad("pack", fmt.Sprintf("block %d does not decompress (%v)", b.block, err))
		}
		raw = make([]byte, blk.raw)
		if _, err := io.ReadFull(r, raw); err != nil {
			return nil, bad("pack", fmt.Sprintf("block %d is truncated (%v)", b.block, err))
		}
		var extra [1]byte
		if n, err := r.Read(extra[:]); n != 0 || err != io.EOF {
			return nil, bad("pack", fmt.Sprintf("block %d is larger than stated or corrupt", b.block))
		}
	}
	var out []byte
	if p.flags&flagSplit != 0 {
		out = p.unsplit(p.entries[i].blob, raw)
		if out == nil {
			return nil, bad("pack", fmt.Sprintf("block %d: blobs do not fit", b.block))
		}
	} else {
		out = raw[b.off : b.off+b.length]
		if p.codec == codecNone {
			out = append([]byte(nil), out...) // never hand out (or recode) the pack's own bytes
		}
	}
	if p.flags&flagBTFRecode != 0 {
		btfRecodeDecode(out)
	}
	if sha256.Sum256(out) != b.digest {
		return nil, bad("pack", fmt.Sprintf("blob %d: digest mismatch", p.entries[i].blob))
	}
	return out, nil
}

// splitPoint is where a blob of n bytes starting with h is cut in a split
// block: at its string section when that ends the blob after the types,
// else at its end (docs/pack-format.md).
func splitPoint(h []byte, n uint64) uint64 {
	le := binary.LittleEndian
	if n < 24 || len(h) < 24 || le.Uint16(h) != 0xEB9F {
		return n
	}
	hdr := uint64(le.Uint32(h[4:]))
	s0 := hdr + uint64(le.Uint32(h[16:]))
	if hdr < 24 || hdr+uint64(le.Uint32(h[8:]))+uint64(le.Uint32(h[12:])) > s0 || s0+uint64(le.Uint32(h[20:])) != n {
		return n
	}
	return s0
}

// unsplit copies blob k out of its split block: its first part among the
// first parts of the block's blobs (in table order), its second after all
// of them; nil when they do not fit.
func (p *Pack) unsplit(k uint32, blk []byte) []byte {
	block := p.blobs[k].block
	size := uint64(len(blk))
	var a, rest, at, cut, b uint64
	for j, o := range p.blobs {
		if o.block != block {
			continue
		}
		n := uint64(o.length)
		if a > size {
			return nil
		}
		head := blk[a:]
		if len(head) > 24 {
			head = head[:24]
		}
		c := splitPoint(head, n)
		if uint32(j) == k {
			at, cut, b = a, c, rest
		}
		a += c
		rest += n - c
		if a+rest > size {
			return nil
		}
	}
	n := uint64(p.blobs[k].length)
	out := make([]byte, 0, n)
	out = append(out, blk[at:at+cut]...)
	return append(out, blk[a+b:a+b+n-cut]...)
}

// Find applies rule 3: the entry index and whether the full key matched.
func (p *Pack) Find(k RunningKey) (Status, int, bool) {
	if !k.UnameOK {
		return NoMatch, -1, false
	}
	if k.OSOK {
		i := sort.Search(len(p.entries), func(i int) bool { return !keyLess(p.entries[i].key, k.Key) })
		if i < len(p.entries) && p.entries[i].key == k.Key {
			return Embedded, i, true
		}
	}
	if k.Explicit {
		return NoMatch, -1, false
	}
	found := -1
	for i, e := range p.entries {
		if e.key.Arch != k.Arch || e.key.Release != k.Release {
			continue
		}
		if found < 0 {
			found = i
		} else if e.blob != p.entries[found].blob {
			return Ambiguous, -1, false
		}
	}
	if found < 0 {
		return NoMatch, -1, false
	}
	return Embedded, found, false
}

// Lookup applies all the rules: the decision, and the raw BTF when the
// status is Embedded (nil otherwise).
func (p *Pack) Lookup(opts *Options) (Decision, []byte, error) {
	if opts == nil {
		opts = &Options{}
	}
	d, blob, err := p.decide(opts)
	if err == nil && (opts.Debug || envTrue("BTFEMBED_DEBUG", opts)) {
		fmt.Fprintln(os.Stderr, d.Explain())
	}
	return d, blob, err
}

func (p *Pack) decide(opts *Options) (Decision, []byte, error) {
	d := Decision{Entry: -1, How: "none"}
	k, err := Running(opts)
	if err != nil {
		return d, nil, err
	}
	d.Key = k
	if !opts.Force && !envTrue("BTFEMBED_FORCE", opts) {
		sysfs := first(env("BTFEMBED_SYSFS_BTF", opts), opts.SysfsBTF, sysfsBTF)
		if syscall.Access(sysfs, 4 /* R_OK */) == nil {
			d.Status, d.How = KernelBTF, "kernel-btf"
			return d, nil, nil
		}
	}
	status, i, exact := p.Find(k)
	d.Status = status
	if status == Ambiguous {
		d.How = "ambiguous"
	}
	if status != Embedded {
		return d, nil, nil
	}
	blob, err := p.Blob(i)
	if err != nil {
		return d, nil, err
	}
	d.Match, d.Entry, d.Exact, d.How = p.entries[i].key, i, exact, "shared"
	if exact {
		d.How = "exact"
	}
	d.SHA256 = p.blobs[p.entries[i].blob].digest
	return d, blob, nil
}

// ObjectDigest is the stale-object digest of a BPF object (ELF bytes):
// sha256(u32 len(.BTF) || .BTF || u32 len(.BTF.ext) || .BTF.ext).
func ObjectDigest(object []byte) ([32]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(object))
	if err != nil {
		return [32]byte{}, fmt.Errorf("btfembed: not a BPF object (ELF): %w", err)
	}
	h := sha256.New()
	for _, name := range []string{".BTF", ".BTF.ext"} {
		var data []byte
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			if data, err = s.Data(); err != nil {
				return [32]byte{}, fmt.Errorf("btfembed: %s: %w", name, err)
			}
		}
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(data)))
		h.Write(n[:])
		h.Write(data)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// CheckObject fails with ErrStaleObject when the pack records BPF objects
// and this one (its .BTF and .BTF.ext) is not among them: the embedded BTF
// was minimized for other CO-RE relocations.
func (p *Pack) CheckObject(object []byte) error {
	if len(p.objects) == 0 {
		return nil
	}
	d, err := ObjectDigest(object)
	if err != nil {
		return err
	}
	if _, ok := p.objects[d]; !ok {
		return fmt.Errorf("%w (regenerate the embedded BTF after rebuilding the object)", ErrStaleObject)
	}
	return nil
}

// ---------------------------------------------------------------------------
// The pack embedded in this package

var (
	embeddedOnce sync.Once
	embeddedPack *Pack
	embeddedErr  error
)

// Embedded returns this package's pack, parsed and checked once.
func EmbeddedPack() (*Pack, error) {
	embeddedOnce.Do(func() {
		if uint64(len(packData)) != packSize || sha256.Sum256(packData) != packSHA256 {
			embeddedErr = bad(packFile, "does not belong to this package (regenerate both with btfembed generate)")
			return
		}
		embeddedPack, embeddedErr = ParsePack(packData, packFile)
	})
	return embeddedPack, embeddedErr
}

// Lookup applies the rules to the embedded pack: the decision, and the raw
// BTF (for btf.LoadSpecFromReader) when the status is Embedded.
func Lookup(opts *Options) (Decision, []byte, error) {
	p, err := EmbeddedPack()
	if err != nil {
		return Decision{Entry: -1}, nil, err
	}
	return p.Lookup(opts)
}

// Kernels lists the embedded kernel keys.
func Kernels() ([]Key, error) {
	p, err := EmbeddedPack()
	if err != nil {
		return nil, err
	}
	return p.Kernels(), nil
}

// CheckObject checks a BPF object against the embedded pack (see
// Pack.CheckObject).
func CheckObject(object []byte) error {
	p, err := EmbeddedPack()
	if err != nil {
		return err
	}
	return p.CheckObject(object)
}
