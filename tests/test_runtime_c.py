"""The C runtime (btfembed.h / btfembed.c) beyond the lookup rules (those
are in test_runtime_rules.py): how the blob is handed over (memfd, temporary
file, no /proc), corrupt tables, write failures, and memory and fd hygiene
under AddressSanitizer/UBSan (gcc and clang) and valgrind."""

from __future__ import annotations

import errno
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from btfembed.embed.keys import KernelKey
from btfembed.embed.pack import build_pack, encode_pack

import test_pack_format

from test_runtime_rules import (
    DEB_REL, INCLUDE, Harness, blobs, build_harness, clean_env, compile_c, compiler, parse_output, rules_items,
)

DEB_ARGS = ["--release", DEB_REL, "--machine", "x86_64", "--sysfs", "/nonexistent"]


@pytest.fixture(scope="module")
def pack():
    return build_pack(rules_items())


@pytest.fixture(scope="module")
def harness(pack, tmp_path_factory) -> Harness:
    return build_harness(tmp_path_factory.mktemp("c-raw"), pack, compress=False)


@pytest.fixture(scope="module")
def zharness(pack, tmp_path_factory) -> Harness:
    return build_harness(tmp_path_factory.mktemp("c-zlib"), pack, compress=True)


def deb_blob(pack) -> bytes:
    return pack.blob_for(KernelKey("x86_64", "debian", "12", DEB_REL))


def osr(tmp_path: Path) -> str:
    p = tmp_path / "os-release"
    p.write_text('ID=debian\nVERSION_ID="12"\n')
    return str(p)


# ---------------------------------------------------------------------------
# Handing the blob over


def test_memfd_by_default(harness: Harness, pack, tmp_path: Path) -> None:
    out, _ = harness.run(DEB_ARGS + ["--os-release", osr(tmp_path), "--dump", str(tmp_path / "d")])
    assert out["rc"] == "0" and out["method"] == "memfd"
    assert re.fullmatch(r"/proc/self/fd/\d+", out["path"])
    assert (tmp_path / "d").read_bytes() == deb_blob(pack)
    assert out["fds_leaked"] == "0"


@pytest.mark.parametrize("how", ["option", "env"])
@pytest.mark.parametrize("which", ["raw", "zlib"])
def test_tmpfile_fallback(harness: Harness, zharness: Harness, pack, tmp_path: Path, how: str, which: str) -> None:
    h = harness if which == "raw" else zharness
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    args = DEB_ARGS + ["--os-release", osr(tmp_path), "--hold"]
    env = {}
    if how == "option":
        args += ["--no-memfd", "--tmpdir", str(tmpdir)]
    else:
        env = {"BTFEMBED_NO_MEMFD": "1", "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen(h.cmd(args), env=clean_env(**env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("holding"):
            break
    out = parse_output("".join(lines))
    path = Path(out["path"])
    assert out["method"] == "tmpfile" and path.parent == tmpdir and path.name.startswith("btfembed-")
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    assert path.read_bytes() == deb_blob(pack)
    rest, _ = proc.communicate("\n")
    assert proc.returncode == 0
    assert parse_output(rest)["fds_leaked"] == "0"
    assert not path.exists() and list(tmpdir.iterdir()) == []


def test_no_proc_falls_back_to_tmpfile(harness: Harness, pack, tmp_path: Path) -> None:
    """In a mount namespace without /proc the memfd path would not open: the
    runtime notices and writes a temporary file instead."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("needs root and unshare(1)")
    probe = subprocess.run([unshare, "--mount", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare --mount does not work here: {probe.stderr.decode().strip()}")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    script = 'umount -l /proc && exec "$@"'
    cmd = [unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(harness.exe),
           *DEB_ARGS, "--os-release", osr(tmp_path), "--tmpdir", str(tmpdir), "--dump", str(tmp_path / "d")]
    proc = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = parse_output(proc.stdout)
    assert out["rc"] == "0" and out["method"] == "tmpfile" and out["path"].startswith(str(tmpdir))
    assert (tmp_path / "d").read_bytes() == deb_blob(pack)
    assert list(tmpdir.iterdir()) == []


def test_write_failure_is_reported_and_leaves_nothing(harness: Harness, tmp_path: Path) -> None:
    """RLIMIT_FSIZE below the blob size: the memfd write fails (EFBIG), the
    file fallback fails too; the error comes back and no file remains."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    out, proc = harness.run(DEB_ARGS + ["--os-release", osr(tmp_path), "--tmpdir", str(tmpdir)],
                            preexec_fn=limit, restore_signals=False)
    assert int(out["rc"]) == -27 and "too large" in out["status"].lower()  # EFBIG
    assert out["path"] == "" and out["method"] == "none" and out["fds_leaked"] == "0"
    assert list(tmpdir.iterdir()) == []


@pytest.mark.parametrize("tmpdir,rc", [("/nonexistent-dir", -2), ("/" + "d" * 5000, -36)])
def test_bad_tmpdir(harness: Harness, tmp_path: Path, tmpdir: str, rc: int) -> None:
    out, _ = harness.run(DEB_ARGS + ["--os-release", osr(tmp_path), "--no-memfd", "--tmpdir", tmpdir])
    assert int(out["rc"]) == rc and out["path"] == "" and out["fds_leaked"] == "0"


def test_repeated_calls_do_not_leak(harness: Harness, tmp_path: Path) -> None:
    out, _ = harness.run(DEB_ARGS + ["--os-release", osr(tmp_path), "--repeat", "50"])
    assert out["rc"] == "0" and out["fds_leaked"] == "0"


# ---------------------------------------------------------------------------
# Corrupt tables are refused (tables are generated, but a bad link or a
# hand edit must not make the runtime read out of bounds)

CORRUPTIONS = [(name, mangle) for name, mangle in test_pack_format.MANGLES]


@pytest.mark.parametrize("codec", ["none", "zlib", "xz"])
@pytest.mark.parametrize("name,mangle", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_packs(tmp_path: Path, name: str, mangle, codec: str) -> None:
    """A damaged embedded pack: an error status (-EBADMSG), never a path.
    Two kernels; the Debian one (selected) has its blob stored last, where
    the byte flips and truncations hit."""
    b = blobs()
    pack = build_pack([(KernelKey("x86_64", "debian", "12", DEB_REL), b["D"]),
                       (KernelKey("x86_64", "aaa", "1", "1.0-other"), b["C"])])
    data = mangle(encode_pack(pack, codec=codec, block_size=3000))
    h = build_harness(tmp_path, pack, codec=codec, pack_bytes=data)
    out, _ = h.run(DEB_ARGS + ["--os-release", osr(tmp_path), "--force"])
    assert int(out["rc"]) == -errno.EBADMSG, out
    assert out["path"] == "" and out["fds_leaked"] == "0"


ONCE_C = r"""
#include "gen.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* argv[1]: key; argv[2]: offset of an index byte; argv[3]: offset of a blob byte. */
int main(int argc, char **argv)
{
	struct btfembed_options o = { 0 };
	struct btfembed_btf b;
	unsigned char *pack = (unsigned char *)t_pack;
	int rc;

	(void)argc;
	o.flags = BTFEMBED_FORCE | BTFEMBED_NO_ENV;
	o.key = argv[1];
	rc = t_btf_path_opts(&b, &o);
	btfembed_release(&b);
	printf("first %d checked %d\n", rc, t_checked);
	pack[atol(argv[2])] ^= 0x01;
	rc = t_btf_path_opts(&b, &o);
	btfembed_release(&b);
	printf("index-flipped %d check %d\n", rc, btfembed_check(&t_btf_table, 0));
	pack[atol(argv[2])] ^= 0x01;
	pack[atol(argv[3])] ^= 0x01;
	rc = t_btf_path_opts(&b, &o);
	btfembed_release(&b);
	printf("blob-flipped %d path %s\n", rc, b.path ? b.path : "-");
	return 0;
}
"""


def test_index_checked_once_blobs_always(pack, tmp_path: Path) -> None:
    """The index digest and structure are checked on the first call only
    (the generated table's flag remembers it; btfembed_check() always
    checks); every call still checks the blob's digest.  The pack is made
    writable here to change it between calls."""
    from btfembed.embed.codegen import generate_c

    data = encode_pack(pack, codec="none")
    c_text, h_text = generate_c(pack, prefix="t", codec="none")
    assert "static const char t_pack[" in c_text and "static int t_checked;" in c_text
    c_text = c_text.replace("static const char t_pack[", "static char t_pack[")
    (tmp_path / "gen.h").write_text(h_text)
    (tmp_path / "gen.c").write_text(c_text)
    (tmp_path / "t.c").write_text('#include "gen.c"\n' + ONCE_C)
    exe = compile_c(compiler("gcc"), tmp_path / "t", [tmp_path / "t.c"])
    index = 52                                  # a reserved header byte: covered by the index digest only
    blob = pack.blob_for(KernelKey("x86_64", "debian", "12", DEB_REL))
    blob_at = data.index(blob) + len(blob) // 2
    out = subprocess.run([str(exe), f"debian/12/x86_64/{DEB_REL}", str(index), str(blob_at)], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    assert out[0] == "first 0 checked 1"
    assert out[1] == f"index-flipped 0 check {-errno.EBADMSG}"
    assert out[2] == f"blob-flipped {-errno.EBADMSG} path -"


@pytest.mark.parametrize("codec,split", [("none", False), ("none", True), ("xz", True)])
def test_btf_recode_decoded_as_python_encodes(tmp_path: Path, codec: str, split: bool) -> None:
    """The C inverse of the BTF recoding (and of split blocks) agrees with
    the Python encoder on real blobs and on damaged, truncated and non-BTF
    ones: btfembed_check(table, 1) decodes every blob and checks its digest."""
    import random

    from btfembed.embed.codegen import generate_c

    rng = random.Random(5)
    real = sorted(blobs().values())
    items = []
    for i in range(60):
        b = bytearray(rng.choice(real))
        if i >= len(real):
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            if rng.random() < 0.3:
                b = b[:rng.randrange(1, len(b) + 1)]
        items.append((KernelKey("x86_64", "d", str(i), f"5.{i}"), bytes(b)))
    pack = build_pack(items)
    data = encode_pack(pack, codec=codec, btf_recode=True, split=split, block_size=40000)
    c_text, h_text = generate_c(pack, prefix="t", codec=codec, pack_bytes=data)
    (tmp_path / "gen.h").write_text(h_text)
    (tmp_path / "gen.c").write_text(c_text)
    (tmp_path / "t.c").write_text('#include "gen.c"\n#include <stdio.h>\n'
                                  'int main(void) { printf("%d %ld\\n", btfembed_check(&t_btf_table, 1), '
                                  'btfembed_count(&t_btf_table)); return 0; }\n')
    exe = compile_c(compiler("gcc"), tmp_path / "t", [tmp_path / "t.c"],
                    libs=("-llzma",) if codec == "xz" else ())
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "60"]
    bad = bytearray(data)
    bad[44] = 0                                 # the flag cleared: digests no longer match
    c_text, _ = generate_c(pack, prefix="t", codec=codec, pack_bytes=test_pack_format._reseal(bad))
    (tmp_path / "gen.c").write_text(c_text)
    exe = compile_c(compiler("gcc"), tmp_path / "t2", [tmp_path / "t.c"],
                    libs=("-llzma",) if codec == "xz" else ())
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(-errno.EBADMSG), "60"]


SHA_C = r"""
#define BTFEMBED_STATIC 1
#include "btfembed.c"
#include <stdio.h>

/* stdin: data; prints the SHA-256 of its first n bytes for n = 0, 1, ..., fed in
 * pieces of 1 to 200 bytes */
int main(void)
{
	static unsigned char data[1 << 16];
	size_t len = fread(data, 1, sizeof(data), stdin), n, at, piece;
	struct btfembed__sha256 s;
	unsigned char d[32];
	int i;

	for (n = 0; n <= len; n += n < 300 ? 1 : 997) {
		btfembed__sha256_init(&s);
		for (at = 0, piece = 1; at < n; at += piece, piece = piece % 200 + 7)
			btfembed__sha256_update(&s, data + at, piece < n - at ? piece : n - at);
		btfembed__sha256_final(&s, d);
		for (i = 0; i < 32; i++)
			printf("%02x", d[i]);
		printf("\n");
	}
	return 0;
}
"""


@pytest.mark.parametrize("variant", ["default", "portable"])
def test_sha256_matches_hashlib(tmp_path: Path, variant: str) -> None:
    """The runtime's SHA-256, with the x86-64 SHA extensions where this CPU
    has them (default) and without (portable), fed in uneven pieces."""
    import hashlib
    import random

    (tmp_path / "sha.c").write_text(SHA_C)
    flags = ("-DBTFEMBED_NO_SHA_NI",) if variant == "portable" else ()
    exe = compile_c(compiler("gcc"), tmp_path / "sha", [tmp_path / "sha.c"], flags=flags)
    data = random.Random(3).randbytes(40000)
    out = subprocess.run([str(exe)], input=data, capture_output=True, check=True).stdout.decode().split()
    lengths = []
    n = 0
    while n <= len(data):
        lengths.append(n)
        n += 1 if n < 300 else 997
    assert out == [hashlib.sha256(data[:n]).hexdigest() for n in lengths]


def test_table_of_another_abi(pack, tmp_path: Path) -> None:
    h = build_harness(tmp_path, pack, transform=lambda t: t.replace("\tBTFEMBED_TABLE_ABI,", "\t1u,"))
    out, _ = h.run(DEB_ARGS + ["--os-release", osr(tmp_path), "--force"])
    assert int(out["rc"]) == -errno.EINVAL and out["path"] == ""


def test_missing_decoder(pack, tmp_path: Path) -> None:
    h = build_harness(tmp_path, pack, codec="zlib", flags=("-Wno-unused-function",),
                      transform=lambda t: t.replace("\tt_decode,", "\tNULL,"))
    out, _ = h.run(DEB_ARGS + ["--os-release", osr(tmp_path), "--force"])
    assert int(out["rc"]) == -errno.ENOTSUP and out["path"] == ""


def test_strerror_covers_every_status(harness: Harness, tmp_path: Path) -> None:
    seen = set()
    for args in (["--release", "9", "--force"], ["--sysfs", str(INCLUDE / "btfembed.h")]):
        out, _ = harness.run(["--machine", "x86_64", "--os-release", osr(tmp_path), *args])
        seen.add(out["status"])
    assert {"no embedded BTF for this kernel", "the kernel has its own BTF (/sys/kernel/btf/vmlinux)"} <= seen


# ---------------------------------------------------------------------------
# Sanitizers and valgrind

SANITIZER_RUNS = [
    ["--force"],
    ["--force", "--no-memfd"],
    ["--force", "--repeat", "5"],
    ["--release", "9.9.9", "--force"],
    ["--release", "3.10.0-1160.el7.x86_64", "--force"],
    ["--sysfs", str(INCLUDE / "btfembed.h")],
    ["--key-only"],
    ["--key-only", "--machine", "  AArch64 ", "--release", "r" * 300],
]


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_asan_ubsan(pack, tmp_path: Path, cc: str) -> None:
    flags = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    if subprocess.run([compiler(cc), *flags, "-o", str(tmp_path / "probe"), str(probe)],
                      capture_output=True).returncode != 0:
        pytest.skip(f"{cc} cannot build with -fsanitize=address,undefined here")
    os_release = osr(tmp_path)
    for compress in (False, True):
        h = build_harness(tmp_path / f"asan-{compress}", pack, compress=compress, cc=cc, flags=flags)
        for args in SANITIZER_RUNS:
            base = ["--os-release", os_release, "--release", DEB_REL, "--machine", "x86_64", "--sysfs", "/nonexistent"]
            out, proc = h.run(base + args, env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                                                "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"},
                              check=False)
            assert proc.returncode == 0 and "runtime error" not in proc.stderr, (args, proc.stderr)
            assert "ERROR: AddressSanitizer" not in proc.stderr and "LeakSanitizer" not in proc.stderr


def test_valgrind(pack, zharness: Harness, harness: Harness, tmp_path: Path) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind not installed")
    wrapper = (valgrind, "-q", "--error-exitcode=1", "--leak-check=full", "--show-leak-kinds=all",
               "--errors-for-leak-kinds=all")
    os_release = osr(tmp_path)
    base = ["--os-release", os_release, "--release", DEB_REL, "--machine", "x86_64", "--sysfs", "/nonexistent"]
    for h, args in [(harness, ["--force"]), (harness, ["--force", "--no-memfd", "--repeat", "3"]),
                    (zharness, ["--force", "--repeat", "3"]), (zharness, ["--release", "9"]),
                    (harness, ["--key-only"])]:
        out, proc = h.run(base + args, wrapper=wrapper, check=False)
        assert proc.returncode == 0 and proc.stderr == "", (args, proc.stderr)
        assert out.get("fds_leaked", "0") == "0"


# ---------------------------------------------------------------------------
# The runtime files themselves

@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("std", ["c99", "c11", "gnu17"])
def test_runtime_compiles_pedantic(cc: str, std: str, tmp_path: Path) -> None:
    compiler(cc)
    proc = subprocess.run([cc, f"-std={std}", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wstrict-prototypes",
                           "-Werror", "-c", str(INCLUDE / "btfembed.c"), "-o", str(tmp_path / "r.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_header_is_usable_from_cpp(tmp_path: Path) -> None:
    gxx = compiler("g++")
    src = tmp_path / "use.cpp"
    src.write_text('#include "btfembed.h"\nint main() { btfembed_btf b = {}; btfembed_release(&b); '
                   'return btfembed_strerror(BTFEMBED_NO_MATCH)[0] == 0; }\n')
    proc = subprocess.run([gxx, "-Wall", "-Wextra", "-Werror", f"-I{INCLUDE}", "-o", str(tmp_path / "use"), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert subprocess.run([str(tmp_path / "use")]).returncode == 0


def test_header_version_matches_package() -> None:
    from btfembed import __version__
    assert f'#define BTFEMBED_VERSION "{__version__}"' in (INCLUDE / "btfembed.h").read_text()


def test_release_is_safe_on_zeroed_struct(tmp_path: Path) -> None:
    """btfembed_release() on a zero-initialized struct must not close fd 0."""
    src = tmp_path / "z.c"
    src.write_text('#include "btfembed.h"\n#include <fcntl.h>\nint main(void) { struct btfembed_btf b;\n'
                   'memset(&b, 0, sizeof b); btfembed_release(&b); return fcntl(0, F_GETFD) < 0; }\n')
    exe = compile_c(compiler("gcc"), tmp_path / "z", [src])
    assert subprocess.run([str(exe)], stdin=subprocess.DEVNULL).returncode == 0
