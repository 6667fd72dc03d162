"""The lookup rules, run against both runtimes: the C runtime (btfembed.c,
through a generated table and a small harness program) and the Python
runtime (btfembed/embed/runtime.py), with the inputs given as options and as
environment variables, on compressed and uncompressed tables.

Also: os-release parsing of the three implementations (keys.py, runtime.py,
C) agrees on generated inputs, and so do their arch tables.

The blobs are real: task_small.el.o minimized against the in-repo kernels.
Helpers here (``Harness``, ``pack_fixture``...) are reused by
test_runtime_c.py and test_e2e_load.py.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import key_rules
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfembed.embed import keys, runtime
from btfembed.embed.codegen import generate_c, write_c
from btfembed.embed.codegen._table import canonical_table
from btfembed.core import Target
from btfembed.embed.keys import KernelKey
from btfembed.minimize.engine import minimize
from btfembed.inputs.objects import load_object
from btfembed.embed.pack import Pack, build_pack, write_pack
from btfembed.inputs.containers import load_btf

REPO = Path(__file__).resolve().parent.parent
INCLUDE = REPO / "btfembed" / "embed" / "include"
KERNELS = REPO / "tests" / "data" / "kernels"
OBJS = REPO / "tests" / "data" / "objs"

DEBIAN = KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"
CILIUM = KERNELS / "cilium-testdata_2019-11_x86_64_5.3-approx.btf.xz"
KYLIN = KERNELS / "kylin_V10_arm64_4.19.90-24.4.v2101.ky10.aarch64.btf.xz"
EL7 = "3.10.0-1160.el7.x86_64"
DEB_REL = "6.1.0-50-amd64"
KYLIN_REL = "4.19.90-24.4.v2101.ky10.aarch64"

ENV_VARS = ("BTFEMBED_FORCE", "BTFEMBED_NO_MEMFD", "BTFEMBED_OS_RELEASE", "BTFEMBED_RELEASE",
            "BTFEMBED_MACHINE", "BTFEMBED_SYSFS_BTF")


@functools.lru_cache(maxsize=None)
def minimized(kernel: str, obj: str = str(OBJS / "task_small.el.o")) -> bytes:
    """Real minimized BTF of ``obj`` for ``kernel``."""
    return minimize([load_object(obj)], Target(load_btf(kernel))).data


def blobs() -> dict[str, bytes]:
    out = {"D": minimized(str(DEBIAN)), "C": minimized(str(CILIUM)), "K": minimized(str(KYLIN))}
    assert len(set(out.values())) == 3, "the test needs three different blobs"
    return out


def rules_items() -> list[tuple[KernelKey, bytes]]:
    """The kernels of the shared key-rule table: two releases each with two
    distros (sharing one blob / with different blobs), an arm64 kernel, an
    unknown distro."""
    return key_rules.entries(blobs())


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(extra)
    return env


def compiler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed")
    return path


def compile_c(cc: str, out: Path, sources: list, *, flags: tuple = (), libs: tuple = ()) -> Path:
    cmd = [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g", f"-I{INCLUDE}", *flags,
           "-o", str(out), *map(str, sources), *libs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return out


# A test program: selects a blob with t_btf_path_opts() (the generated,
# private runtime) and computes keys with btfembed_running_key() (btfembed.c
# compiled on its own: external linkage, linked next to the private copy).
HARNESS_C = r"""
#include "gen.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const char *name, const char *s)
{
	printf("%s=", name);
	for (; *s; s++)
		printf("%02x", (unsigned char)*s);
	printf("\n");
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

int main(int argc, char **argv)
{
	struct btfembed_options opt;
	struct btfembed_btf btf;
	const char *dump = NULL;
	int i, rc = 0, hold = 0, key_only = 0, repeat = 1, fds_before;

	memset(&opt, 0, sizeof(opt));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--force")) opt.flags |= BTFEMBED_FORCE;
		else if (!strcmp(a, "--no-memfd")) opt.flags |= BTFEMBED_NO_MEMFD;
		else if (!strcmp(a, "--no-env")) opt.flags |= BTFEMBED_NO_ENV;
		else if (!strcmp(a, "--hold")) hold = 1;
		else if (!strcmp(a, "--key-only")) key_only = 1;
		else if (v && !strcmp(a, "--os-release")) opt.os_release = argv[++i];
		else if (v && !strcmp(a, "--release")) opt.release = argv[++i];
		else if (v && !strcmp(a, "--machine")) opt.machine = argv[++i];
		else if (v && !strcmp(a, "--sysfs")) opt.sysfs_btf = argv[++i];
		else if (v && !strcmp(a, "--tmpdir")) opt.tmpdir = argv[++i];
		else if (v && !strcmp(a, "--dump")) dump = argv[++i];
		else if (v && !strcmp(a, "--repeat")) repeat = atoi(argv[++i]);
		else { fprintf(stderr, "bad argument %s\n", a); return 2; }
	}
	if (key_only) {
		struct btfembed_key k;
		rc = btfembed_running_key(&k, &opt);
		printf("rc=%d\n", rc);
		hex("arch", k.arch); hex("distro", k.distro); hex("version", k.distro_version); hex("release", k.release);
		printf("uname_ok=%d\nos_ok=%d\n", k.uname_ok, k.os_ok);
		return 0;
	}
	fds_before = count_fds();
	for (i = 0; i < repeat; i++) {
		rc = t_btf_path_opts(&btf, &opt);
		if (i + 1 < repeat)
			btfembed_release(&btf);
	}
	printf("rc=%d\nstatus=%s\n", rc, btfembed_strerror(rc));
	hex("arch", btf.key.arch); hex("distro", btf.key.distro); hex("version", btf.key.distro_version); hex("release", btf.key.release);
	printf("kernel=%ld\nexact=%d\n", btf.kernel, btf.exact);
	printf("method=%s\n", (btf.flags & BTFEMBED_BTF_MEMFD) ? "memfd" : (btf.flags & BTFEMBED_BTF_TMPFILE) ? "tmpfile" : "none");
	printf("path=%s\n", btf.path ? btf.path : "");
	if (dump && btf.path) {
		FILE *in = fopen(btf.path, "rb"), *out = fopen(dump, "wb");
		char buf[4096];
		size_t n;
		if (!in || !out) { printf("dump=failed\n"); return 1; }
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			fwrite(buf, 1, n, out);
		fclose(in);
		fclose(out);
	}
	if (hold) {
		char line[16];
		printf("holding\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin)) {}
	}
	btfembed_release(&btf);
	btfembed_release(&btf);
	printf("released=1\nfds_leaked=%d\n", count_fds() - fds_before);
	return 0;
}
"""

RC_STATUS = {0: runtime.EMBEDDED, 1: runtime.KERNEL_BTF, 2: runtime.NO_MATCH, 3: runtime.AMBIGUOUS}


def parse_output(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    for k in ("arch", "distro", "version", "release"):
        if k in out:
            out[k] = bytes.fromhex(out[k]).decode("utf-8", "surrogateescape")
    return out


class Harness:
    """A compiled harness for one generated table."""

    def __init__(self, exe: Path, pack: Pack, workdir: Path):
        self.exe, self.pack, self.workdir = exe, pack, workdir
        self.table = canonical_table(pack)

    def cmd(self, args: list[str], wrapper: tuple = ()) -> list[str]:
        return [*wrapper, str(self.exe), *args]

    def run(self, args: list[str] = (), env: dict | None = None, wrapper: tuple = (), check: bool = True,
            **kw) -> tuple[dict[str, str], subprocess.CompletedProcess]:
        proc = subprocess.run(self.cmd(list(args), wrapper), env=clean_env(**(env or {})),
                              capture_output=True, text=True, **kw)
        if check:
            assert proc.returncode == 0, proc.stderr
        return parse_output(proc.stdout), proc


CODEC_LIBS = {"none": (), "zlib": ("-lz",), "xz": ("-llzma",), "zstd": ("-lzstd",)}


def build_harness(workdir: Path, pack: Pack, *, compress: bool = False, codec: str | None = None,
                  cc: str = "gcc", flags: tuple = (), name: str = "harness", transform=None,
                  pack_bytes: bytes | None = None) -> Harness:
    """Generate ``pack`` (prefix ``t``; ``pack_bytes``: embed these bytes
    instead) into ``workdir`` and compile the harness against it;
    ``transform`` may rewrite the generated C first."""
    cc = compiler(cc)
    codec = codec or ("zlib" if compress else "none")
    workdir.mkdir(parents=True, exist_ok=True)
    c_text, h_text = generate_c(pack, prefix="t", codec=codec, pack_bytes=pack_bytes)
    (workdir / "gen.h").write_text(h_text)
    c_path = workdir / "gen.c"
    c_path.write_text(c_text)
    if transform is not None:
        text = c_path.read_text()
        changed = transform(text)
        assert changed != text, "the transformation changed nothing"
        c_path.write_text(changed)
    (workdir / "harness.c").write_text(HARNESS_C)
    exe = compile_c(cc, workdir / name, [workdir / "harness.c", c_path, runtime_object(cc, tuple(flags))],
                    flags=(f"-I{workdir}", *flags), libs=CODEC_LIBS[codec])
    return Harness(exe, pack, workdir)


_RUNTIME_OBJECTS: dict[tuple, Path] = {}


def runtime_object(cc: str, flags: tuple) -> Path:
    """btfembed.c (external linkage) compiled with ``cc`` and ``flags``,
    once per test process: the harnesses differ only in their generated
    table (gen.c, which holds its own private copy of the runtime)."""
    src = INCLUDE / "btfembed.c"
    st = src.stat()
    key = (cc, flags, st.st_mtime_ns, st.st_size)
    obj = _RUNTIME_OBJECTS.get(key)
    if obj is None or not obj.exists():
        d = Path(tempfile.mkdtemp(prefix="btfembed-runtime-"))
        atexit.register(shutil.rmtree, d, True)
        obj = compile_c(cc, d / "btfembed.o", [src], flags=("-c", *flags))
        _RUNTIME_OBJECTS[key] = obj
    return obj


@pytest.fixture(scope="module", params=[False, True], ids=["raw", "zlib"])
def rules_harness(request, tmp_path_factory) -> Harness:
    pack = build_pack(rules_items())
    return build_harness(tmp_path_factory.mktemp("rules"), pack, compress=request.param)


# ---------------------------------------------------------------------------
# Scenarios: (name, os-release text or None for a missing file, release,
# machine, force, kernel has BTF, expected status, expected key, exact)

DEB_KEY = ("x86_64", "debian", "12", DEB_REL)
# From the shared table (tests/data/key_rules.json), the cases without an
# environment of their own; tests/test_key_rules.py runs the rest.
SCENARIOS = [
    (c["name"], c["os_release"], c["release"], c["machine"], c.get("force", False), c.get("kernel_btf", False),
     *key_rules.expected(c))
    for c in key_rules.cases() if key_rules.simple(c)
]
SCENARIO = {s[0]: s for s in SCENARIOS}


def scenario_inputs(tmp: Path, scn) -> dict:
    name, osr, release, machine, force, has_btf = scn[:6]
    osr_path = tmp / f"{name}.os-release"
    if osr is not None:
        osr_path.write_bytes(osr.encode())
    sysfs = tmp / "vmlinux-present"
    sysfs.write_bytes(b"x")
    return {"os_release": str(osr_path), "release": release, "machine": machine, "force": force,
            "sysfs_btf": str(sysfs) if has_btf else str(tmp / "no-such-vmlinux")}


def run_c(h: Harness, inp: dict, via: str, tmp: Path) -> tuple[str, tuple | None, bool, bytes | None]:
    dump = tmp / "dump.btf"
    if dump.exists():
        dump.unlink()
    if via == "options":
        args = ["--os-release", inp["os_release"], "--release", inp["release"], "--machine", inp["machine"],
                "--sysfs", inp["sysfs_btf"]] + (["--force"] if inp["force"] else [])
        env = {}
    else:
        args = []
        env = {"BTFEMBED_OS_RELEASE": inp["os_release"], "BTFEMBED_RELEASE": inp["release"],
               "BTFEMBED_MACHINE": inp["machine"], "BTFEMBED_SYSFS_BTF": inp["sysfs_btf"]}
        if inp["force"]:
            env["BTFEMBED_FORCE"] = "1"
    out, _ = h.run(args + ["--dump", str(dump)], env=env)
    status = RC_STATUS[int(out["rc"])]
    assert out["released"] == "1" and out["fds_leaked"] == "0"
    match = h.table.kernels[int(out["kernel"])][0] if status == runtime.EMBEDDED else None
    assert (out["path"] != "") == (status == runtime.EMBEDDED)
    return status, match and tuple(match), out["exact"] == "1", dump.read_bytes() if dump.exists() else None


def run_py(pack: Pack, pack_path: Path, inp: dict, via: str, monkeypatch) -> tuple:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    if via == "options":
        res = runtime.lookup(str(pack_path), **inp)
    else:
        monkeypatch.setenv("BTFEMBED_OS_RELEASE", inp["os_release"])
        monkeypatch.setenv("BTFEMBED_RELEASE", inp["release"])
        monkeypatch.setenv("BTFEMBED_MACHINE", inp["machine"])
        monkeypatch.setenv("BTFEMBED_SYSFS_BTF", inp["sysfs_btf"])
        if inp["force"]:
            monkeypatch.setenv("BTFEMBED_FORCE", "1")
        res = runtime.lookup(str(pack_path))
    return res.status, res.match, res.exact, res.blob


@pytest.mark.parametrize("via", ["options", "env"])
@pytest.mark.parametrize("scn", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_rules_c_runtime(rules_harness: Harness, scn, via: str, tmp_path: Path) -> None:
    status, match, exact, blob = run_c(rules_harness, scenario_inputs(tmp_path, scn), via, tmp_path)
    assert (status, match, exact) == (scn[6], scn[7], scn[8])
    if status == runtime.EMBEDDED:
        assert blob == rules_harness.pack.blob_for(KernelKey(*match))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "zlib"])
@pytest.mark.parametrize("via", ["options", "env"])
@pytest.mark.parametrize("scn", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_rules_python_runtime(scn, via: str, compress: bool, tmp_path: Path, monkeypatch) -> None:
    pack = build_pack(rules_items())
    pack_path = tmp_path / "rules.pack"
    write_pack(str(pack_path), pack, compress=compress)
    status, match, exact, blob = run_py(pack, pack_path, scenario_inputs(tmp_path, scn), via, monkeypatch)
    assert (status, match, exact) == (scn[6], scn[7], scn[8])
    if status == runtime.EMBEDDED:
        assert blob == pack.blob_for(KernelKey(*match))
    else:
        assert blob is None


def test_force_env_zero_means_not_forced(rules_harness: Harness, tmp_path: Path, monkeypatch) -> None:
    scn = SCENARIO["kernel-has-btf"]
    inp = scenario_inputs(tmp_path, scn)
    out, _ = rules_harness.run(["--os-release", inp["os_release"], "--release", DEB_REL, "--sysfs", inp["sysfs_btf"]],
                               env={"BTFEMBED_FORCE": "0"})
    assert out["rc"] == "1"
    monkeypatch.setenv("BTFEMBED_FORCE", "0")
    assert runtime.lookup(build_pack(rules_items()), **inp).status == runtime.KERNEL_BTF


def test_no_env_flag_ignores_environment(rules_harness: Harness, tmp_path: Path, monkeypatch) -> None:
    inp = scenario_inputs(tmp_path, SCENARIO["exact-double-quoted"])
    env = {"BTFEMBED_RELEASE": "9.9.9", "BTFEMBED_MACHINE": "s390x", "BTFEMBED_FORCE": "1",
           "BTFEMBED_SYSFS_BTF": "/nonexistent", "BTFEMBED_OS_RELEASE": "/nonexistent"}
    args = ["--os-release", inp["os_release"], "--release", DEB_REL, "--machine", "x86_64",
            "--sysfs", inp["sysfs_btf"], "--force"]
    out, _ = rules_harness.run(args, env=env)                   # env wins over options
    assert out["rc"] == "2" and out["release"] == "9.9.9" and out["arch"] == "s390x"
    out, _ = rules_harness.run(args + ["--no-env"], env=env)    # ...unless disabled
    assert out["rc"] == "0" and out["exact"] == "1" and out["release"] == DEB_REL
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert runtime.lookup(build_pack(rules_items()), **inp).status == runtime.NO_MATCH
    res = runtime.lookup(build_pack(rules_items()), use_env=False, **inp)
    assert (res.status, res.exact, res.key) == (runtime.EMBEDDED, True, DEB_KEY)


def test_real_os_release_and_uname_when_not_overridden(rules_harness: Harness) -> None:
    """Without overrides both runtimes read /etc/os-release and uname like
    keys.running_key()."""
    out, _ = rules_harness.run(["--key-only"])
    expected = keys.running_key()
    assert (out["arch"], out["distro"], out["version"], out["release"]) == tuple(expected)
    assert runtime.running_key(use_env=False) == tuple(expected)


# ---------------------------------------------------------------------------
# The key rules: one Python implementation (keys.py uses runtime.py's), and
# the C runtime, which must agree with it.

def test_arch_tables_agree(rules_harness: Harness) -> None:
    assert keys.normalize_arch is runtime.normalize_arch and keys.parse_os_release is runtime.parse_os_release
    machines = sorted(runtime._ARCH_ALIASES) + [" AArch64\t", "X86_64", "Unknown-ARCH", "i686 ", "sparc64", "ARMv7L"]
    for m in machines:
        out, _ = rules_harness.run(["--key-only", "--machine", m])
        assert out["arch"] == keys.normalize_arch(m) == runtime.normalize_arch(m), m


_CHARS = st.sampled_from(list("aZ09_-. ") + ["ID", "VERSION_ID", "=", '"', "'", "\\", "$", "`", "#", "\t",
                                             "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2028", "é", "д", "\x00",
                                             "\n", "\r", "\r\n", "x" * 130,
                                             "\\$", '\\"', "\\\\", "\\`", "\\'", "\\x"])


@st.composite
def os_release_texts(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            lines.append("".join(draw(st.lists(_CHARS, max_size=12))))
        else:
            key = draw(st.sampled_from(["ID", "VERSION_ID", " ID", "ID ", "\tVERSION_ID", "NAME", "IDX", "I D"]))
            q = draw(st.sampled_from(["", '"', "'", '"', "'"]))
            q2 = q if draw(st.integers(0, 5)) else draw(st.sampled_from(["", '"', "'"]))
            value = "".join(draw(st.lists(_CHARS.filter(lambda c: c not in ("\n", "\r", "\r\n")), max_size=8)))
            ws = draw(st.sampled_from(["", " ", "\t", "\x0b"]))
            lines.append(f"{key}{ws}={ws}{q}{value}{q2}{ws}")
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return sep.join(lines) + draw(st.sampled_from(["", sep]))


def _expected_field(value: str) -> tuple[str, bool]:
    ok = "\0" not in value and len(value.encode()) <= 255
    return (value if ok else ""), ok


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=os_release_texts())
def test_os_release_parsers_agree(rules_harness: Harness, text: str) -> None:
    assert keys.parse_os_release(text) == runtime.parse_os_release(text)
    fields = runtime.parse_os_release(text)
    path = rules_harness.workdir / "hypothesis.os-release"
    path.write_bytes(text.encode())
    out, _ = rules_harness.run(["--key-only", "--os-release", str(path)])
    distro, ok1 = _expected_field(fields.get("ID", ""))
    version, ok2 = _expected_field(fields.get("VERSION_ID", ""))
    assert (out["distro"], out["version"], out["os_ok"]) == (distro, version, str(int(ok1 and ok2))), repr(text)


def test_long_and_nul_values_never_match(rules_harness: Harness, tmp_path: Path) -> None:
    """A value the C runtime cannot hold is 'unusable' there and unmatched in
    Python: both then fall back to release+arch."""
    osr = tmp_path / "os-release"
    osr.write_bytes(b"ID=" + b"d" * 300 + b"\nVERSION_ID=12\n")
    out, _ = rules_harness.run(["--os-release", str(osr), "--release", DEB_REL, "--machine", "x86_64",
                                "--sysfs", "/nonexistent", "--force"])
    assert (out["rc"], out["exact"], out["distro"]) == ("0", "0", "")
    res = runtime.lookup(build_pack(rules_items()), os_release=str(osr), release=DEB_REL, machine="x86_64",
                         force=True, use_env=False)
    assert (res.status, res.exact) == (runtime.EMBEDDED, False)
    osr.write_bytes(b"ID=deb\0ian\nVERSION_ID=12\n")
    out, _ = rules_harness.run(["--key-only", "--os-release", str(osr)])
    assert (out["os_ok"], out["distro"], out["version"]) == ("0", "", "12")
    out, _ = rules_harness.run(["--key-only", "--release", "r" * 256])
    assert out["uname_ok"] == "0"


@pytest.mark.parametrize("kind", ["fifo", "directory", "missing"])
def test_unusual_os_release_files(rules_harness: Harness, tmp_path: Path, kind: str) -> None:
    """A FIFO (no writer), a directory or a missing file as os-release: both
    runtimes return promptly with an unknown distro, then use release+arch."""
    path = tmp_path / "os-release"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    out, _ = rules_harness.run(["--os-release", str(path), "--release", DEB_REL, "--machine", "x86_64",
                                "--sysfs", "/nonexistent"], timeout=10)
    assert (out["rc"], out["distro"], out["version"], out["exact"]) == ("0", "", "", "0")
    res = runtime.lookup(build_pack(rules_items()), os_release=str(path), release=DEB_REL, machine="x86_64",
                         sysfs_btf="/nonexistent", use_env=False)
    assert (res.status, res.key[1:3], res.exact) == (runtime.EMBEDDED, ("", ""), False)
