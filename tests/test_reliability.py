"""Reliability: damaged caches, special files, archives with tricks, key
lengths, BTF that libbpf refuses, killed and concurrent builds, and an
out-dir that always holds one complete build."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import OBJS, REPO_KERNELS

OBJ_A = str(OBJS / "task_small.el.o")
OBJ_B = str(OBJS / "tracer.el.o")
SMALL = REPO_KERNELS / "cilium-testdata_2019-11_x86_64_5.3-approx.btf.xz"
DEBIAN = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"


def cli(*args: str, cwd: Path | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, **kw)


def one_line_error(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


# -- special files as kernels ---------------------------------------------

def test_fifo_kernel_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "k.btf"
    os.mkfifo(fifo)
    proc = cli("build", OBJ_A, "--kernels", f"{fifo}=d/1/x86_64/5.0", "--out-dir", str(tmp_path / "o"),
               "--no-cache", "-q", timeout=30)
    assert "not a regular file" in one_line_error(proc, 4)
    # Inside a kernel directory, next to a good kernel.
    d = tmp_path / "dir"
    d.mkdir()
    os.symlink(SMALL, d / "5.3.btf.xz")
    os.mkfifo(d / "6.0.btf")
    proc = cli("build", OBJ_A, "--kernels", str(d), "--out-dir", str(tmp_path / "o"), "--no-cache", "-q",
               timeout=30)
    assert "6.0.btf" in one_line_error(proc, 4)
    assert not (tmp_path / "o").exists()


def test_device_kernel_is_refused_before_hashing(tmp_path: Path) -> None:
    proc = cli("build", OBJ_A, "--kernels", "/dev/zero=d/1/x86_64/5.0", "--out-dir", str(tmp_path / "o"),
               "--no-cache", "-q", timeout=20)
    assert "not a regular file" in one_line_error(proc, 4)


# -- key lengths -----------------------------------------------------------

def test_release_lengths_follow_what_the_outputs_need(tmp_path: Path) -> None:
    from btfembed.build.kernels import MAX_RELEASE_BYTES

    # The longest release whose <release>.btf and its temporary name fit in
    # a file name builds; one byte more is refused before any work.
    ok = "r" * MAX_RELEASE_BYTES
    proc = cli("build", OBJ_A, "--kernels", f"{SMALL}=d/1/x86_64/{ok}", "--out-dir", str(tmp_path / "o"),
               "--no-cache", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "d/1/x86_64" / f"{ok}.btf").is_file()
    for n in (MAX_RELEASE_BYTES + 1, 255):
        proc = cli("build", OBJ_A, "--kernels", f"{SMALL}=d/1/x86_64/{'r' * n}", "--out-dir",
                   str(tmp_path / "o2"), "--no-cache", "-q")
        assert "too long" in one_line_error(proc, 2)
    assert not (tmp_path / "o2").exists()
    # Multi-byte characters count as their UTF-8 bytes.
    proc = cli("build", OBJ_A, "--kernels", f"{SMALL}=d/1/x86_64/{'é' * (MAX_RELEASE_BYTES // 2 + 1)}",
               "--out-dir", str(tmp_path / "o2"), "--no-cache", "-q")
    assert "too long" in one_line_error(proc, 2)


# -- compressed streams ----------------------------------------------------

def _raw_small() -> bytes:
    import lzma
    return lzma.decompress(SMALL.read_bytes())


def _xz(data: bytes) -> bytes:
    import lzma
    return lzma.compress(data, preset=0)


def _tool_accepts(tool: str, data: bytes, tmp_path: Path) -> bool | None:
    """Whether ``tool -t`` accepts ``data`` (None without the tool)."""
    import shutil
    if shutil.which(tool) is None:
        return None
    f = tmp_path / "probe"
    f.write_bytes(data)
    return subprocess.run([tool, "-t", str(f)], capture_output=True).returncode == 0


def test_concatenated_streams_are_read_to_the_end(tmp_path: Path) -> None:
    import bz2
    import gzip
    import lzma
    from btfembed.inputs.containers import unwrap

    raw = _raw_small()
    half = len(raw) // 2
    cases = {
        "xz": _xz(raw[:half]) + _xz(raw[half:]),
        "xz-padded": _xz(raw[:half]) + b"\0" * 8 + _xz(raw[half:]) + b"\0" * 4,
        "gzip": gzip.compress(raw[:half]) + gzip.compress(raw[half:]),
        "bzip2": bz2.compress(raw[:half]) + bz2.compress(raw[half:]),
        "xz-3": _xz(raw[:10]) + _xz(raw[10:half]) + _xz(raw[half:]),
    }
    for name, data in cases.items():
        tool = {"xz": "xz", "gzip": "gzip", "bzip2": "bzip2"}[name.split("-")[0]]
        assert _tool_accepts(tool, data, tmp_path) in (True, None), name
        assert unwrap(data).btf == raw, name
    # And through the command line.
    f = tmp_path / "k.btf.xz"
    f.write_bytes(cases["xz"])
    proc = cli("minimize", str(f), str(tmp_path / "m.btf"), OBJ_A)
    assert proc.returncode == 0, proc.stderr


def test_trailing_garbage_after_a_stream_is_an_error(tmp_path: Path) -> None:
    import bz2
    import gzip
    import lzma
    from btfembed.errors import ArchiveError
    from btfembed.inputs.containers import unwrap

    raw = _raw_small()
    cases = {
        "xz": _xz(raw) + b"garbage!",
        "xz-badpad": _xz(raw) + b"\0\0\0",   # padding must be a multiple of 4
        "gzip": gzip.compress(raw) + b"garbage!",
        "bzip2": bz2.compress(raw) + b"garbage!",
        "xz-truncated-second": _xz(raw) + _xz(b"x" * 1000)[:30],
    }
    for name, data in cases.items():
        tool = name.split("-")[0]
        if tool == "xz":  # xz -t is the oracle for xz
            assert _tool_accepts("xz", data, tmp_path) in (False, None), name
        with pytest.raises(ArchiveError):
            unwrap(data)
    f = tmp_path / "k.btf.xz"
    f.write_bytes(cases["xz"])
    proc = cli("minimize", str(f), str(tmp_path / "m.btf"), OBJ_A)
    assert "trailing" in one_line_error(proc, 3)
    assert not (tmp_path / "m.btf").exists()


# -- sparse tar members and trailing bytes ---------------------------------

def _sparse_archive(tmp_path: Path, raw: bytes, size: int) -> Path:
    """A .btf.tar.xz whose one member is ``raw`` followed by a hole up to
    ``size`` bytes, stored GNU-sparse (so the archive stays small)."""
    import shutil
    if shutil.which("tar") is None:
        pytest.skip("GNU tar is needed to write sparse members")
    d = tmp_path / "sparse"
    d.mkdir()
    member = d / "5.3.btf"
    member.write_bytes(raw)
    os.truncate(member, size)
    # Holes found by reading (raw), not by SEEK_HOLE: the file system may
    # have filled the hole in, and the tar must stay small either way.
    subprocess.run(["tar", "--sparse", "--hole-detection=raw", "-cf", str(d / "k.tar"), "-C", str(d), "5.3.btf"],
                   check=True)
    member.unlink()
    assert (d / "k.tar").stat().st_size < len(raw) + (1 << 20), "tar did not store the member sparse"
    out = d / "k.btf.tar.xz"
    out.write_bytes(_xz((d / "k.tar").read_bytes()))
    return out


def test_sparse_member_is_refused_without_expanding_it(tmp_path: Path) -> None:
    archive = _sparse_archive(tmp_path, _raw_small(), 500 << 20)
    assert archive.stat().st_size < 2 << 20
    # The command in a child that reports its own peak RSS (KiB) on exit.
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak over
    # exec into ru_maxrss, so a big test process would be measured instead.
    code = ("import re, sys\nfrom btfembed.cli import main\ntry:\n    rc = main(sys.argv[1:])\n"
            "finally:\n    print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1), "
            "file=sys.stderr)\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code, "minimize", str(archive), str(tmp_path / "m.btf"), OBJ_A],
                          capture_output=True, text=True, timeout=120)
    err, peak_kb = proc.stderr.splitlines()
    assert proc.returncode == 3 and "5.3.btf" in err and "after the BTF" in err, proc.stderr
    assert int(peak_kb) < 200 * 1024  # never near the 500 MiB member
    assert not (tmp_path / "m.btf").exists()


def test_trailing_bytes_after_the_declared_sections_are_refused(tmp_path: Path) -> None:
    from btfembed.errors import BTFFormatError
    from btfembed.inputs.containers import unwrap

    raw = _raw_small()
    assert unwrap(raw).btf == raw
    for tail in (b"\0" * 4, b"\0" * 4096, b"junk"):
        with pytest.raises(BTFFormatError, match="after the BTF"):
            unwrap(raw + tail)
        with pytest.raises(BTFFormatError, match="after the BTF"):
            unwrap(_xz(raw + tail))
    f = tmp_path / "k.btf"
    f.write_bytes(raw + b"\0" * 64)
    proc = cli("minimize", str(f), str(tmp_path / "m.btf"), OBJ_A)
    assert "after the BTF" in one_line_error(proc, 3)


# -- damaged cache entries -------------------------------------------------

def _entries(cache: Path, kind: str) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file() and p.parent.parent.name == kind)


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncate":
        path.write_bytes(data[:len(data) // 2])
    elif how == "bitflip":
        i = len(data) * 2 // 3
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x04]) + data[i + 1:])
    elif how == "garbage-blob":
        text, n = re.subn(rb'"blob":"[^"]*"', b'"blob":"Z2FyYmFnZQ=="', data)  # base64 of "garbage"
        assert n == 1
        path.write_bytes(text)
    elif how == "garbage":
        path.write_bytes(b"garbage")
    else:  # pragma: no cover
        raise AssertionError(how)


def _build(tmp_path: Path, out: str, cache: Path | None, *extra: str) -> subprocess.CompletedProcess:
    args = ["build", OBJ_A, OBJ_B, "--kernels", f"{SMALL}=u/1/x86_64/5.3", "--kernels",
            f"{DEBIAN}=debian/12/x86_64/6.1", "--out-dir", str(tmp_path / out), "-q", "--emit", "python",
            "--output", str(tmp_path / out / "gen.py"), *extra]
    args += ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    return cli(*args)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["result", "outcomes", "checked", "check-outcomes", "pack"])
def test_damaged_cache_entries_are_misses_never_output(tmp_path: Path, kind: str) -> None:
    clean = _build(tmp_path, "clean", None)
    assert clean.returncode == 0, clean.stderr
    expected = _tree(tmp_path / "clean")
    cache = tmp_path / "cache"
    first = _build(tmp_path, "o0", cache)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    hows = ["garbage-blob", "bitflip", "empty", "truncate", "garbage", "swap"] if kind == "result" else \
        ["bitflip", "empty", "truncate", "garbage", "swap"]
    for n, how in enumerate(hows, 1):
        if kind != "result":  # outcome books and checks are read only when the result is missing
            for p in _entries(cache, "result"):
                p.unlink()
        if kind == "check-outcomes":  # and outcomes on an emitted BTF only for objects not known clean on it
            for p in _entries(cache, "checked"):
                p.unlink()
        victims = _entries(cache, kind)
        assert victims, kind
        if how == "swap" and len(victims) < 2:  # one entry of the kind (the pack): nothing to swap with
            continue
        if how == "swap":  # intact entries, each under another's key
            datas = [p.read_bytes() for p in victims]
            for p, d in zip(victims, datas[1:] + datas[:1]):
                p.write_bytes(d)
        else:
            for p in victims:
                _damage(p, how)
        for jobs in ("1", "2"):
            proc = _build(tmp_path, f"o{n}-{jobs}", cache, "-j", jobs)
            assert proc.returncode == 0, (how, proc.stderr)
            assert _tree(tmp_path / f"o{n}-{jobs}") == expected, how
            if jobs == "1":  # one warning line for the whole build
                assert proc.stderr.count("\n") == 1 and "cache" in proc.stderr and "Traceback" not in proc.stderr, \
                    (how, proc.stderr)
            else:  # the damaged entries were overwritten by good ones
                assert proc.stderr == "", (how, proc.stderr)


# -- the fuzz script, interrupted ------------------------------------------

@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_fuzz_script_prints_its_summary_when_interrupted(sig: str) -> None:
    import signal
    import time
    script = Path(__file__).resolve().parent.parent / "scripts" / "fuzz.py"
    proc = subprocess.Popen([sys.executable, str(script), "-n", "1000000", "-s", "3", "--no-save",
                             "-t", "access", "-t", "os_release"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode == 130, (proc.returncode, err)
    lines = out.splitlines()
    total = next(line for line in lines if line.startswith("total"))
    tried = int(total.split()[1])
    assert 0 < tried < 1_000_000
    assert any(line.startswith("interrupted after") and f"{tried} of 1000000" in line for line in lines), out
    assert "failures: 0 inputs" in out


# -- what libbpf's sanity check refuses, refused at open -------------------

def _sample_btf():
    """A BTF with every kind whose record refers to strings or types; the
    ids of each, and the word index (in the type record) of each field."""
    from btfembed.btf import wire
    from btfembed.btf.types import Datasec, DeclTag, Type, Var, VarSecinfo
    from btfembed.btf.writer import Builder
    from btfembed.btf.types import make_info

    b = Builder()
    ids = {}
    ids["int"] = b.add_int("int", 4)
    ids["ptr"] = b.add_ref(wire.PTR, ids["int"])
    ids["struct"] = b.add_struct("s", 8, [("a", ids["int"], 0), ("b", ids["ptr"], 32)])
    ids["enum"] = b.add_enum("e", 4, [("E1", 1), ("E2", 2)])
    ids["enum64"] = b.add_enum("e64", 8, [("F1", 1)], enum64=True)
    ids["array"] = b.add_array(ids["int"], ids["int"], 4)
    ids["typedef"] = b.add_ref(wire.TYPEDEF, ids["struct"], "s_t")
    ids["proto"] = b.add_func_proto(ids["int"], [("x", ids["int"]), ("y", ids["ptr"])])
    ids["func"] = b.add_ref(wire.FUNC, ids["proto"], "f", vlen=1)
    ids["var"] = b.add(Var(wire.VAR, "v", make_info(wire.VAR), ids["int"], linkage=1))
    ids["datasec"] = b.add(Datasec(wire.DATASEC, ".data", make_info(wire.DATASEC, 1), 4,
                                   secinfos=[VarSecinfo(ids["var"], 0, 4)]))
    ids["tag"] = b.add(DeclTag(wire.DECL_TAG, "tag", make_info(wire.DECL_TAG), ids["struct"], component_idx=-1))
    ids["type_tag"] = b.add(Type(wire.TYPE_TAG, "tt", make_info(wire.TYPE_TAG), ids["int"]))
    ids["const"] = b.add_ref(wire.CONST, ids["type_tag"])
    return b.to_bytes(), ids


# (type, word in its record, "name" or "type", what the message says)
_FIELDS = [
    ("int", 0, "name"), ("ptr", 2, "type"), ("struct", 0, "name"), ("struct", 3, "name"), ("struct", 4, "type"),
    ("struct", 7, "type"), ("enum", 3, "name"), ("enum", 5, "name"), ("enum64", 3, "name"), ("array", 3, "type"),
    ("array", 4, "type"), ("typedef", 2, "type"), ("proto", 2, "type"), ("proto", 3, "name"), ("proto", 4, "type"),
    ("proto", 6, "type"), ("func", 0, "name"), ("func", 2, "type"), ("var", 2, "type"), ("datasec", 3, "type"),
    ("tag", 2, "type"), ("type_tag", 2, "type"), ("const", 2, "type"),
]


def _patched(raw: bytes, btf, tid: int, word: int, value: int) -> bytes:
    import struct
    first, _count = btf.record_words(tid)
    out = bytearray(raw)
    struct.pack_into("<I", out, btf._type_start + 4 * (first + word), value)
    return bytes(out)


def test_sanity_check_at_open_refuses_what_libbpf_refuses() -> None:
    from btfembed.btf.reader import BTF
    from btfembed.errors import BTFFormatError

    raw, ids = _sample_btf()
    good = BTF(raw)
    good.validate()
    s_end = len(good.strings.data)
    t_cnt = good.type_cnt
    for name, word, what in _FIELDS:
        tid = ids[name]
        limit = s_end if what == "name" else t_cnt
        # The last valid value is accepted, the first invalid one (and a
        # huge one) refused when opening, whichever path opens it.
        BTF(_patched(raw, good, tid, word, limit - 1))
        for value in (limit, limit + 1000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF):
            bad = _patched(raw, good, tid, word, value)
            for kw in ({}, {"prefetch": ["s", "f"]}, {"offsets": good.type_offsets()}):
                with pytest.raises(BTFFormatError, match=rf"type \[{tid}\]"):
                    BTF(bad, **kw)
    # FUNC must point to a FUNC_PROTO: checked when decoded and by validate().
    with pytest.raises(BTFFormatError, match=rf"type \[{ids['func']}\].*FUNC_PROTO"):
        BTF(_patched(raw, good, ids["func"], 2, ids["int"])).validate()


def test_header_version_and_flags_are_checked() -> None:
    from btfembed.btf.reader import BTF
    from btfembed.errors import BTFFormatError

    raw, _ = _sample_btf()
    for offset, value, what in ((2, 0, "version"), (2, 2, "version"), (3, 1, "flags"), (3, 0x80, "flags")):
        bad = bytearray(raw)
        bad[offset] = value
        with pytest.raises(BTFFormatError, match=what):
            BTF(bytes(bad))


def test_kernel_with_a_bad_name_in_an_untouched_type_is_refused(tmp_path: Path) -> None:
    from btfembed.btf.reader import BTF

    raw = _raw_small()
    btf = BTF(raw)
    last = btf.type_cnt - 1
    bad = _patched(raw, btf, last, 0, len(btf.strings.data) + 7)
    f = tmp_path / "k.btf"
    f.write_bytes(bad)
    proc = cli("minimize", str(f), str(tmp_path / "m.btf"), OBJ_A)
    assert f"type [{last}]" in one_line_error(proc, 3)
    assert not (tmp_path / "m.btf").exists()
    for v in (b"\x02", b"\x00"):
        f.write_bytes(raw[:2] + v + raw[3:])
        assert "version" in one_line_error(cli("minimize", str(f), str(tmp_path / "m.btf"), OBJ_A), 3)


# -- killed and interrupted builds -------------------------------------------

def _slow_build_args(tmp_path: Path, copies: int = 12) -> list[str]:
    """A build with many kernels (the repo's, under several keys) and no
    cache: a few seconds of work for two workers."""
    rows = ["path\trelease\tarch\tdistro\tdistro_version"]
    for i in range(copies):
        for f in (SMALL, DEBIAN):
            rows.append(f"{f}\t{i}.{f.name[:8]}\tx86_64\td\t1")
    (tmp_path / "kernels.tsv").write_text("\n".join(rows) + "\n")
    return ["build", OBJ_A, OBJ_B, "--kernels", str(tmp_path / "kernels.tsv"), "--out-dir", str(tmp_path / "out"),
            "--no-cache", "-j", "2"]


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for_workers(proc: subprocess.Popen, n: int = 2, timeout: float = 60) -> list[int]:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [k for k in _children(proc.pid) if _alive(k)]
        if len(kids) >= n:
            time.sleep(0.3)  # let them start working
            return kids
        assert proc.poll() is None, "the build ended before its workers started"
        time.sleep(0.05)
    raise AssertionError("no worker processes appeared")


def _gone(pids: list[int], timeout: float = 10) -> bool:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_workers_exit_when_the_build_is_killed(tmp_path: Path) -> None:
    import signal
    args = _slow_build_args(tmp_path)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "btfembed", *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        workers = _wait_for_workers(proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        alive = [p for p in workers if _alive(p)]
        try:
            assert _gone(workers), f"workers still alive after the build was killed: {alive}"
        finally:
            for p in workers:
                if _alive(p):
                    os.kill(p, signal.SIGKILL)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_end_the_whole_build(tmp_path: Path, sig: str) -> None:
    import signal
    import time
    proc = subprocess.Popen([sys.executable, "-m", "btfembed", *_slow_build_args(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers = _wait_for_workers(proc)
    start = time.monotonic()
    if sig == "SIGINT":  # Ctrl-C: the terminal signals the whole process group
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 10
    assert proc.returncode == (130 if sig == "SIGINT" else 143), (proc.returncode, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert _gone(workers)
    assert not (tmp_path / "out").exists()


def test_build_piped_under_timeout_ends(tmp_path: Path) -> None:
    import shlex
    import shutil
    import time
    if shutil.which("timeout") is None:
        pytest.skip("needs coreutils timeout")
    # Enough kernels that the build alone would take far longer.
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "btfembed", *_slow_build_args(tmp_path, 60)])
    for sig in ("KILL", "TERM"):
        start = time.monotonic()
        proc = subprocess.run(["sh", "-c", f"timeout -s {sig} 2 {cmd} | cat"], capture_output=True, timeout=60)
        assert time.monotonic() - start < 12, sig


# -- the out-dir as a unit -------------------------------------------------

def _unit_build(tmp_path: Path, objects: list[str], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "btfembed", "build", *objects, "--kernels", f"{SMALL}=u/1/x86_64/5.3",
            "--kernels", f"{SMALL}=u/2/x86_64/5.3-b", "--kernels", f"{DEBIAN}=debian/12/x86_64/6.1",
            "--out-dir", str(out), "--report", str(out / "report.json"), "--no-cache", "-q", "-j1", *extra]


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir()
                  if p.name.startswith(f".{out.name}.btfembed-") and not p.name.endswith("-lock"))


def _count_syscalls(cmd: list[str], names: str, tmp_path: Path) -> dict[str, int]:
    log = tmp_path / "strace.log"
    subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e", f"trace={names}", *cmd], check=True,
                   capture_output=True, timeout=300)
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        for name in names.split(","):
            if f" {name}(" in line or line.startswith(f"{name}("):
                counts[name] = counts.get(name, 0) + 1
    return counts


def test_kill_at_every_rename_leaves_a_complete_build(tmp_path: Path) -> None:
    """Fault injection: the build is killed (SIGKILL) at each rename it
    makes in turn; out/ is then exactly the previous build or the new one,
    and a rerun gives the clean build's bytes and removes what was left."""
    import shutil
    if shutil.which("strace") is None:
        pytest.skip("strace is needed for fault injection")
    old_objs, new_objs = [OBJ_A], [OBJ_A, OBJ_B]
    ref_old, ref_new = tmp_path / "ref-old", tmp_path / "ref-new"
    subprocess.run(_unit_build(tmp_path, old_objs, ref_old), check=True, capture_output=True)
    subprocess.run(_unit_build(tmp_path, new_objs, ref_new), check=True, capture_output=True)
    expect_old, expect_new = _tree(ref_old), _tree(ref_new)
    assert expect_old != expect_new
    names = "rename,renameat,renameat2"
    work = tmp_path / "work" / "out"
    work.parent.mkdir()
    subprocess.run(_unit_build(tmp_path, old_objs, work), check=True, capture_output=True)
    counts = _count_syscalls(_unit_build(tmp_path, new_objs, work), names, tmp_path)
    assert sum(counts.values()) >= 2, counts
    states = set()
    for name, n in counts.items():
        for when in range(1, n + 1):
            shutil.rmtree(work.parent)
            work.parent.mkdir()
            subprocess.run(_unit_build(tmp_path, old_objs, work), check=True, capture_output=True)
            proc = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={name}",
                                   "-e", f"inject={name}:signal=SIGKILL:when={when}",
                                   *_unit_build(tmp_path, new_objs, work)], capture_output=True, timeout=300)
            assert proc.returncode != 0, (name, when)
            now = _tree(work)
            assert now in (expect_old, expect_new), (name, when, sorted(now))
            states.add("new" if now == expect_new else "old")
            rerun = subprocess.run(_unit_build(tmp_path, new_objs, work), capture_output=True, text=True)
            assert rerun.returncode == 0, rerun.stderr
            assert _tree(work) == expect_new, (name, when)
            assert _leftovers(work) == [], (name, when)
    assert states == {"old", "new"}  # both sides of the switch were hit


def test_full_disk_leaves_the_previous_build(tmp_path: Path) -> None:
    import shutil
    if shutil.which("strace") is None:
        pytest.skip("strace is needed for fault injection")
    out = tmp_path / "out"
    subprocess.run(_unit_build(tmp_path, [OBJ_A], out), check=True, capture_output=True)
    before = _tree(out)
    # The 3rd write of the build fails with ENOSPC (mid-way through the files).
    proc = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=write",
                           "-e", "inject=write:error=ENOSPC:when=3", *_unit_build(tmp_path, [OBJ_A, OBJ_B], out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4, proc.stderr
    assert "No space left on device" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert _tree(out) == before
    assert _leftovers(out) == []


def test_stray_temporaries_and_stale_files_do_not_survive(tmp_path: Path) -> None:
    out = tmp_path / "out"
    subprocess.run(_unit_build(tmp_path, [OBJ_A], out), check=True, capture_output=True)
    (out / ".btfembed.pack.abc123.tmp").write_bytes(b"half")
    (out / "x" / "y" / "z").mkdir(parents=True)
    (out / "x" / "y" / "z" / "9.9.btf").write_bytes(b"stale")
    (tmp_path / ".out.btfembed-new-deadbeef").mkdir()  # a killed run's unfinished tree
    proc = subprocess.run(_unit_build(tmp_path, [OBJ_A, OBJ_B], out), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    names = set(_tree(out))
    assert ".btfembed.pack.abc123.tmp" not in names and "x/y/z/9.9.btf" not in names
    assert _leftovers(out) == []


def test_concurrent_builds_on_one_out_dir_leave_one_complete_build(tmp_path: Path) -> None:
    from btfembed.embed.pack import read_pack

    ref_a, ref_b = tmp_path / "ref-a", tmp_path / "ref-b"
    subprocess.run(_unit_build(tmp_path, [OBJ_A], ref_a), check=True, capture_output=True)
    subprocess.run(_unit_build(tmp_path, [OBJ_B], ref_b), check=True, capture_output=True)
    expected = [_tree(ref_a), _tree(ref_b)]
    out = tmp_path / "out"
    for _ in range(3):
        procs = [subprocess.Popen(_unit_build(tmp_path, objs, out), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for objs in ([OBJ_A], [OBJ_B])]
        for p in procs:
            _out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        now = _tree(out)
        assert now in expected
        pack = read_pack(str(out / "btfembed.pack"))
        for key, _ in pack.kernels:
            assert (out / key.path()).read_bytes() == pack.blob_for(key)
        assert _leftovers(out) == []


def test_generated_sources_inside_the_out_dir_are_part_of_the_unit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    dep = tmp_path / "gen.d"
    for objs in ([OBJ_A], [OBJ_A, OBJ_B]):
        proc = subprocess.run(_unit_build(tmp_path, objs, out, "--emit", "c", "--depfile", str(dep)),
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        names = set(_tree(out))
        assert {"kernel_btf.c", "kernel_btf.h", "btfembed.pack"} <= names, names
        text = dep.read_text()
        assert str(out / "kernel_btf.c") in text and ".btfembed-new-" not in text, text
        assert _leftovers(out) == []


def test_unchanged_out_dir_is_kept_and_a_damaged_one_rewritten(tmp_path: Path) -> None:
    """A rerun that would write the same files leaves the out-dir in place
    (same inodes, times refreshed); a damaged file, a stray file or an
    empty directory in it makes the rerun write the whole build again."""
    out = tmp_path / "out"
    cmd = _unit_build(tmp_path, [OBJ_A, OBJ_B], out)
    subprocess.run(cmd, check=True, capture_output=True)
    expect = _tree(out)
    inodes = {p: os.stat(out / p).st_ino for p in expect}
    past = 1_000_000_000
    for p in expect:
        os.utime(out / p, (past, past))
    subprocess.run(cmd, check=True, capture_output=True)
    assert _tree(out) == expect
    assert {p: os.stat(out / p).st_ino for p in expect} == inodes
    assert all(os.stat(out / p).st_mtime > past for p in expect)
    blob = next(p for p in expect if p.endswith(".btf"))
    damaged = bytearray(expect[blob])
    damaged[len(damaged) // 2] ^= 0xFF
    for harm in (lambda: (out / blob).write_bytes(bytes(damaged)),
                 lambda: (out / "stray.txt").write_bytes(b"x"),
                 lambda: (out / "empty").mkdir(),
                 lambda: (out / "linked").symlink_to(tmp_path)):
        harm()
        subprocess.run(cmd, check=True, capture_output=True)
        assert _tree(out) == expect
        assert not (out / "empty").exists() and not (out / "linked").is_symlink()
        assert os.stat(out / "btfembed.pack").st_ino != inodes["btfembed.pack"]
        assert _leftovers(out) == []
