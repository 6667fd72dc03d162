"""``btfembed build``: kernel sources, keys, filters, determinism, cache,
deduplication, atomicity and reports, on real kernel BTF."""

from __future__ import annotations

import io
import json
import lzma
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from btfembed.build.cache import Cache
from btfembed.core import Target
from btfembed.errors import ConfigError
from btfembed.embed.keys import KernelKey
from btfembed.build.kernels import apply_filters, discover, parse_source_arg
from btfembed.minimize.engine import minimize
from btfembed.inputs.objects import load_object
from btfembed.embed.pack import decode_pack, read_pack
from btfembed.build.pipeline import Options, load_object_inputs, run_build
from btfembed.build.settings import KernelSpec, Settings, load_settings
from btfembed.inputs.containers import load_btf

from conftest import OBJS, REPO_KERNELS, repo_vmlinux_files

OBJ_A = str(OBJS / "task_small.el.o")
OBJ_B = str(OBJS / "tracer.el.o")
DEBIAN = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"
SMALL = REPO_KERNELS / "cilium-testdata_2019-11_x86_64_5.3-approx.btf.xz"
KYLIN = REPO_KERNELS / "kylin_V10_arm64_4.19.90-24.4.v2101.ky10.aarch64.btf.xz"


def cli(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"btfembed {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def btfhub_tree(root: Path) -> Path:
    """A BTFHub archive tree built from the in-repo kernels: each raw BTF
    packed as <release>.btf in a .btf.tar.xz, the archive's format."""
    layout = {
        DEBIAN: ("debian", "12", "x86_64", "6.1.0-50-amd64"),
        SMALL: ("ubuntu", "20.04", "x86_64", "5.3.0-1-generic"),
        KYLIN: ("kylin", "V10", "aarch64", "4.19.90-24.4.v2101.ky10.aarch64"),
    }
    for src, (distro, version, arch, release) in layout.items():
        raw = lzma.decompress(src.read_bytes())
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo(f"{release}.btf")
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
        d = root / distro / version / arch
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{release}.btf.tar.xz").write_bytes(lzma.compress(buf.getvalue()))
    return root


def test_btfhub_tree_keys_from_path(tmp_path: Path) -> None:
    tree = btfhub_tree(tmp_path / "archive")
    keys = [k.key for k in discover([KernelSpec(str(tree))])]
    assert keys == sorted(keys)
    assert KernelKey("arm64", "kylin", "V10", "4.19.90-24.4.v2101.ky10.aarch64") in keys  # aarch64 -> arm64
    assert KernelKey("x86_64", "debian", "12", "6.1.0-50-amd64") in keys


def test_manifest_sources(tmp_path: Path) -> None:
    # The in-repo kernel directory carries a MANIFEST.tsv with extra columns.
    keys = {k.key for k in discover([KernelSpec(str(REPO_KERNELS))])}
    assert KernelKey("arm64", "kylin", "V10", "4.19.90-24.4.v2101.ky10.aarch64") in keys
    assert len(keys) == 3
    toml = tmp_path / "kernels.toml"
    toml.write_text(f'[[kernel]]\npath = "{DEBIAN}"\nrelease = "6.1.0-50-amd64"\narch = "amd64"\n'
                    f'distro = "debian"\ndistro_version = "12"\n')
    assert [k.key for k in discover([KernelSpec(str(toml))])] == [KernelKey("x86_64", "debian", "12", "6.1.0-50-amd64")]
    tsv = tmp_path / "k.tsv"
    tsv.write_text(f"path\trelease\tarch\n{DEBIAN}\tr1\taarch64\n")
    assert [k.key for k in discover([KernelSpec(str(tsv))])] == [KernelKey("arm64", "", "", "r1")]


def test_plain_directory_and_single_files(tmp_path: Path) -> None:
    d = tmp_path / "flat"
    d.mkdir()
    shutil.copy(DEBIAN, d / "6.1.0-50-amd64.btf.xz")
    shutil.copy(KYLIN, d / "4.19.90-24.4.v2101.ky10.aarch64.btf.xz")
    keys = [k.key for k in discover([KernelSpec(str(d))])]
    assert keys == [KernelKey("arm64", "", "", "4.19.90-24.4.v2101.ky10.aarch64"),
                    KernelKey("x86_64", "", "", "6.1.0-50-amd64")]
    spec = parse_source_arg(f"{SMALL}=ubuntu/20.04/x86_64/5.3.0-1-generic")
    assert discover([spec])[0].key == KernelKey("x86_64", "ubuntu", "20.04", "5.3.0-1-generic")


def test_same_release_different_distros_do_not_collide(tmp_path: Path) -> None:
    specs = [parse_source_arg(f"{DEBIAN}=debian/12/x86_64/6.1.0"), parse_source_arg(f"{SMALL}=ubuntu/22.04/x86_64/6.1.0")]
    assert len(discover(specs)) == 2
    with pytest.raises(ConfigError, match="given twice"):
        discover([parse_source_arg(f"{DEBIAN}=debian/12/x86_64/6.1.0"),
                  parse_source_arg(f"{SMALL}=debian/12/x86_64/6.1.0")])
    with pytest.raises(ConfigError, match="not a valid name"):
        discover([parse_source_arg(f"{DEBIAN}=debian/12/x86_64/..")])


def test_filters(tmp_path: Path) -> None:
    ks = discover([KernelSpec(str(btfhub_tree(tmp_path / "a")))])
    assert [k.key.arch for k in apply_filters(ks, arch=["aarch64"])] == ["arm64"]
    assert [k.key.distro for k in apply_filters(ks, distro=["debian", "ubuntu"])] == ["debian", "ubuntu"]
    assert [k.key.release for k in apply_filters(ks, release=["5.*"])] == ["5.3.0-1-generic"]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_outputs_match_minimize_and_are_deterministic(tmp_path: Path) -> None:
    archive = btfhub_tree(tmp_path / "archive")
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    cli("build", OBJ_A, OBJ_B, "--kernels", str(archive), "--out-dir", str(out1), "--no-cache", "-j", "1", "-q")
    cli("build", OBJ_B, OBJ_A, "--kernels", str(archive), "--out-dir", str(out2), "--no-cache", "-j", "2", "-q")
    assert tree_bytes(out1) == tree_bytes(out2)
    # Each file equals btfembed minimize of the same kernel (the union of both objects).
    objs = [load_object(OBJ_A), load_object(OBJ_B)]
    blob = (out1 / "debian/12/x86_64/6.1.0-50-amd64.btf").read_bytes()
    assert blob == minimize(objs, Target(load_btf(str(DEBIAN)))).data
    pack = read_pack(str(out1 / "btfembed.pack"))
    assert {k for k, _ in pack.kernels} == {k.key for k in discover([KernelSpec(str(archive))])}
    assert pack.blob_for(KernelKey("x86_64", "debian", "12", "6.1.0-50-amd64")) == blob


def test_input_order_does_not_matter(tmp_path: Path) -> None:
    kernels = discover([KernelSpec(str(REPO_KERNELS))])
    objects = load_object_inputs([OBJ_A, OBJ_B])
    a = run_build(objects, kernels, options=Options(), cache=Cache(None), jobs=1)
    shuffled = list(kernels)
    random.Random(7).shuffle(shuffled)
    b = run_build(load_object_inputs([OBJ_B, OBJ_A]), shuffled, options=Options(), cache=Cache(None), jobs=2)
    assert {k.kernel.key: k.blob for k in a.kernels} == {k.kernel.key: k.blob for k in b.kernels}


def test_cache_hit_does_no_work_and_changed_object_reuses_the_rest(tmp_path: Path) -> None:
    kernels = discover([KernelSpec(str(REPO_KERNELS))])
    cache = Cache(str(tmp_path / "cache"))
    first = run_build(load_object_inputs([OBJ_A, OBJ_B]), kernels, options=Options(), cache=cache, jobs=2)
    st = first.stats()
    assert st["cached"] == 0 and st["kernels_loaded"] == 3 and st["analyses_computed"] == 6
    again = run_build(load_object_inputs([OBJ_A, OBJ_B]), kernels, options=Options(), cache=cache, jobs=2)
    st = again.stats()
    assert st["cached"] == 3 and st["kernels_loaded"] == 0 and st["analyses_computed"] == 0
    assert [k.blob for k in again.kernels] == [k.blob for k in first.kernels]
    # "Change" one object: a different object in its place.  Only it is
    # analysed against each kernel; the other's analyses come from the cache.
    changed = run_build(load_object_inputs([OBJ_A, str(OBJS / "kernel_c19.el.o")]), kernels, options=Options(),
                        cache=cache, jobs=2)
    st = changed.stats()
    assert st["cached"] == 0 and st["analyses_computed"] == 3
    # Adding an object whose analyses are cached: the union is assembled
    # without parsing any kernel.
    both = run_build(load_object_inputs([OBJ_A, OBJ_B, str(OBJS / "kernel_c19.el.o")]), kernels,
                     options=Options(), cache=cache, jobs=1)
    st = both.stats()
    assert st["kernels_loaded"] == 0 and st["analyses_computed"] == 0
    fresh = run_build(load_object_inputs([OBJ_A, OBJ_B, str(OBJS / "kernel_c19.el.o")]), kernels,
                      options=Options(), cache=Cache(None), jobs=1)
    assert [k.blob for k in both.kernels] == [k.blob for k in fresh.kernels]


def test_dedup_identical_blobs(tmp_path: Path) -> None:
    # The same kernel under two keys: two files, one blob in the pack.
    out = tmp_path / "out"
    cli("build", OBJ_A, "--kernels", f"{DEBIAN}=debian/12/x86_64/6.1.0-50-amd64",
        "--kernels", f"{DEBIAN}=debian/12.1/x86_64/6.1.0-50-amd64", "--kernels", str(SMALL) + "=u/1/x86_64/5.3",
        "--out-dir", str(out), "--no-cache", "-q", "--report", str(tmp_path / "r.json"))
    pack = read_pack(str(out / "btfembed.pack"))
    assert len(pack.kernels) == 3 and len(pack.blobs) == 2
    assert json.loads((tmp_path / "r.json").read_text())["stats"]["unique_blobs"] == 2


def test_failing_kernel_leaves_no_partial_output(tmp_path: Path) -> None:
    d = tmp_path / "kernels"
    d.mkdir()
    shutil.copy(DEBIAN, d / "6.1.0-50-amd64.btf.xz")
    (d / "9.9.9-broken.btf").write_bytes(b"\x9f\xeb\x01\x00" + b"\x00" * 10)
    out = tmp_path / "out"
    proc = cli("build", OBJ_A, "--kernels", str(d), "--out-dir", str(out), "--no-cache", "-q", check=False)
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "9.9.9-broken" in proc.stderr and "nothing written" in proc.stderr
    assert not out.exists()
    proc = cli("build", OBJ_A, "--kernels", str(d), "--out-dir", str(out), "--no-cache", "-q", "--keep-going",
               check=False)
    assert proc.returncode == 0 and "warning" in proc.stderr
    assert (out / "_/_/x86_64/6.1.0-50-amd64.btf").exists()
    assert not list(out.rglob("9.9.9*"))


def test_report_agrees_with_explain(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    html = tmp_path / "report.html"
    proc = cli("build", OBJ_B, "--kernels", str(REPO_KERNELS), "--out-dir", str(out), "--no-cache",
               "--report", str(report), "--html", str(html))
    table = proc.stdout.splitlines()
    assert table[0].split()[:2] == ["kernel", "ok"] and "3 kernel(s), 0 failed" in table[-1]
    data = json.loads(report.read_text())
    rels = data["relocations"]
    for kern in data["kernels"]:
        source = kern["source"]
        explain = cli("explain", source, OBJ_B, "--json").stdout.splitlines()
        rows = [json.loads(line) for line in explain]
        assert len(rows) == len(rels) == len(kern["results"])
        for rel, res, row in zip(rels, kern["results"], rows):
            assert (rel["program"], rel["relo"], rel["access"]) == (row["program"], row["index"], row["access"])
            assert res[0] == row["status"]
            if row["status"] == "resolved":
                assert res[1] == row["new_val"]
        assert kern["counts"]["resolved"] == sum(r["status"] == "resolved" for r in rows)
    page = html.read_text()
    # One group per object, every relocation listed for each class of kernels (tests/test_report_html.py
    # renders the page in a browser).
    assert page.count("<details class='object'") == 1 and "tp_sched_switch" in page


def test_fail_on(tmp_path: Path) -> None:
    # tracer has poisoned (guarded) relocations on every kernel.
    args = ["build", OBJ_B, "--kernels", str(SMALL) + "=u/1/x86_64/5.3", "--out-dir", str(tmp_path / "o"),
            "--no-cache", "-q"]
    assert cli(*args, "--fail-on", "ambiguous", check=False).returncode == 0
    proc = cli(*args, "--fail-on", "poisoned", check=False)
    assert proc.returncode == 1 and "poisoned" in proc.stderr


def test_settings_file_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / "btfembed.toml").write_text(
        f'objects = ["{OBJ_A}"]\nkernels = ["{REPO_KERNELS}"]\nout_dir = "o"\narch = ["x86_64"]\ncache = false\n')
    proc = cli("build", "-q", cwd=tmp_path)
    assert proc.returncode == 0
    assert len(read_pack(str(tmp_path / "o" / "btfembed.pack")).kernels) == 2
    (tmp_path / "btfembed.toml").unlink()
    (tmp_path / "pyproject.toml").write_text(f'[tool.btfembed]\nobjects = ["{OBJ_A}"]\nkernels = ["{SMALL}"]\n'
                                             'out_dir = "p"\ncache = false\nbogus = 1\n')
    proc = cli("build", "-q", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "unknown setting(s): bogus" in proc.stderr
    with pytest.raises(ConfigError, match="must be an integer"):
        p = tmp_path / "x.toml"
        p.write_text('jobs = "4"\n')
        load_settings(str(p))


def test_empty_kernel_list_is_an_error(tmp_path: Path) -> None:
    proc = cli("build", OBJ_A, "--kernels", str(REPO_KERNELS), "--arch", "s390x", "--out-dir", str(tmp_path / "o"),
               check=False)
    assert proc.returncode == 2 and "kernel list is empty" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_sysfs_source_uses_the_running_key() -> None:
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no /sys/kernel/btf/vmlinux")
    from btfembed.embed.keys import running_key
    assert discover([KernelSpec("sysfs")])[0].key == running_key()


def test_every_repo_kernel_is_in_the_manifest() -> None:
    assert len(discover([KernelSpec(str(REPO_KERNELS))])) == len(repo_vmlinux_files())


def test_progress_on_a_tty_only(tmp_path: Path) -> None:
    import pty

    args = [sys.executable, "-m", "btfembed", "build", OBJ_A, "--kernels", str(REPO_KERNELS), "--out-dir",
            str(tmp_path / "o"), "--no-cache", "-j", "1"]
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.communicate()
    os.close(master)
    tty = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "[3/3]" in tty and "kernels/s" in tty and "ETA" in tty
    # Where the build is: the kernel just finished (keys in the table's order of work).
    keys = [str(k.key) for k in discover([KernelSpec(str(REPO_KERNELS))])]
    assert f"[1/3]" in tty and any(f"done {key}" in tty for key in keys), tty
    quiet = cli("build", OBJ_A, "--kernels", str(REPO_KERNELS), "--out-dir", str(tmp_path / "o"), "--no-cache")
    assert quiet.stderr == ""  # not a TTY: no progress
    verbose = cli("build", OBJ_A, "--kernels", str(REPO_KERNELS), "--out-dir", str(tmp_path / "o"), "--no-cache",
                  "-v", "-q")
    assert verbose.stderr.count("\n") == 3 and "debian/12/x86_64/6.1.0-50-amd64" in verbose.stderr


def test_help_settings_names_each_default_once() -> None:
    """Every key once, with one default, and that default (when given as a
    TOML value) is the one the settings really use."""
    import dataclasses
    import re

    from btfembed.build.settings import Settings
    from btfembed.inputs.toml import parse_toml

    lines = cli("build", "--help-settings").stdout.splitlines()[1:]
    keys = [f.name for f in dataclasses.fields(Settings) if not f.metadata.get("internal")]
    assert [line.split()[0] for line in lines] == keys
    defaults = Settings()
    for key, line in zip(keys, lines):
        assert line.count("(default:") == 1, line
        shown = re.search(r"\(default: (.*)\)$", line).group(1)
        if shown == "not set":
            assert getattr(defaults, key) is None, line
        elif not shown.startswith("$"):
            assert parse_toml(f"v = {shown}")["v"] == getattr(defaults, key), line


def test_summary_line_names_kernels_with_problems(tmp_path: Path) -> None:
    """'0 failed' is not the whole story: the summary line counts kernels
    with poisoned, missing or ambiguous relocations (as the JSON report
    has them) and says where to look; a clean build has no such clause."""
    html = tmp_path / "r.html"
    report = tmp_path / "r.json"
    proc = cli("build", OBJ_B, "--kernels", str(REPO_KERNELS), "--out-dir", str(tmp_path / "o"), "--no-cache",
               "--html", str(html), "--report", str(report))
    last = proc.stdout.splitlines()[-1]
    kernels = json.loads(report.read_text())["kernels"]
    poisoned = sum(k["counts"]["poisoned"] > 0 for k in kernels)
    missing = sum(k["counts"]["missing"] > 0 for k in kernels)
    assert poisoned == missing == 3  # tracer: guarded accesses on every kernel
    assert last.startswith(f"3 kernel(s), 0 failed; {poisoned} kernels with poisoned relocations, "
                           f"{missing} kernels with missing relocations, see {html}; "), last
    one = cli("build", OBJ_B, "--kernels", f"{SMALL}=u/1/x86_64/5.3", "--out-dir", str(tmp_path / "p"),
              "--no-cache", cwd=tmp_path).stdout.splitlines()[-1]
    assert "0 failed; 1 kernel with poisoned relocations, 1 kernel with missing relocations, see --html/--report;" \
        in one, one
    clean = cli("build", OBJ_A, "--kernels", str(DEBIAN) + "=d/12/x86_64/6.1", "--out-dir", str(tmp_path / "q"),
                "--no-cache", cwd=tmp_path).stdout.splitlines()[-1]
    assert clean.startswith("1 kernel(s), 0 failed, 1 unique BTF blob(s)"), clean


def test_arch_mismatch_warning(tmp_path: Path) -> None:
    """tracer.el.o is built for x86 (PT_REGS_PARM* read struct pt_regs.di
    ...), tracer.arm64.el.o for arm64 (struct user_pt_regs.regs[N]).  Against
    kernels of the other architecture those relocations are poisoned: the
    build warns, naming the object, the architectures and the types; with
    matching kernels it does not."""
    arm = f"{KYLIN}=kylin/V10/arm64/4.19"
    x86 = f"{DEBIAN}=debian/12/x86_64/6.1"
    x86b = f"{SMALL}=u/1/x86_64/5.3"
    OBJ_ARM = str(OBJS / "tracer.arm64.el.o")

    def warnings(*args: str) -> list[str]:
        proc = cli("build", *args, "--out-dir", str(tmp_path / "o"), "--no-cache", "-q", cwd=tmp_path)
        return [line for line in proc.stderr.splitlines() if "warning" in line]

    both = warnings(OBJ_B, OBJ_ARM, "--kernels", arm, "--kernels", x86, "--kernels", x86b)
    assert len(both) == 2, both
    x86_obj = next(w for w in both if OBJ_B + ":" in w)
    arm_obj = next(w for w in both if OBJ_ARM + ":" in w)
    assert "on struct pt_regs do not resolve on 1 arm64 kernel(s)" in x86_obj, x86_obj
    assert "resolve on x86_64 kernels, so it was built for x86_64" in x86_obj, x86_obj
    assert "struct user_pt_regs" in arm_obj and "do not resolve on 2 x86_64 kernel(s)" in arm_obj, arm_obj
    assert "built for arm64" in arm_obj and "--arch" in arm_obj, arm_obj
    # Only the wrong architecture available: still warned.
    (only,) = warnings(OBJ_B, "--kernels", arm)
    assert "do not resolve on 1 arm64 kernel(s) (it was built for another architecture)" in only, only
    # Matching kernels: no warning (guarded poisoned relocations are not an arch problem).
    assert warnings(OBJ_B, "--kernels", x86, "--kernels", x86b) == []
    assert warnings(OBJ_ARM, "--kernels", arm) == []


# What a build imports only when it has work of that kind (a worker pool,
# an archive to decode, a TOML file, a debug kernel, a Dask cluster, the
# kernel store, an out-dir to write): a no-op build imports none of them.
_NOOP_UNNEEDED = ("concurrent.futures", "multiprocessing", "tarfile", "tomllib", "subprocess", "zstandard",
                  "socket", "ctypes", "csv", "secrets", "tempfile")


def _imported_by(args: list[str], cwd: Path) -> set[str]:
    """The modules ``btfembed ARGS`` imports (in a fresh interpreter
    without ``site``, whose .pth files may import modules of their own;
    btfembed and the installed packages reached through PYTHONPATH)."""
    import site

    import btfembed
    probe = ("import sys, json\n"
             "before = set(sys.modules)\n"
             "from btfembed.cli import main\n"
             "try:\n    main(json.loads(sys.argv[1]))\n"
             "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "print(json.dumps(sorted(set(sys.modules) - before)))\n")
    path = [str(Path(btfembed.__file__).resolve().parents[1]), *site.getsitepackages()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    proc = subprocess.run([sys.executable, "-S", "-c", probe, json.dumps(args)], capture_output=True, text=True,
                          cwd=cwd, check=True, env=env)
    imported = set(json.loads(proc.stdout.splitlines()[-1]))
    assert "btfembed.build.pipeline" in imported   # the probe ran a build
    return imported


def test_a_no_op_build_imports_only_what_it_uses(tmp_path: Path) -> None:
    tree = btfhub_tree(tmp_path / "archive")
    common = [OBJ_A, OBJ_B, "--kernels", str(tree), "--out-dir", str(tmp_path / "out"), "-q"]
    cli("build", *common, "--cache-dir", str(tmp_path / "cache"), cwd=tmp_path)
    imported = _imported_by(["build", *common, "--cache-dir", str(tmp_path / "cache"), "-j", "2"], tmp_path)
    assert not [m for m in _NOOP_UNNEEDED if m in imported], sorted(m for m in _NOOP_UNNEEDED if m in imported)
    # The same builds with work to do (an empty cache) import them: with
    # two jobs the pool, with one (three kernels: in this process) the
    # archive reader and the kernel store.
    pool = _imported_by(["build", *common, "--cache-dir", str(tmp_path / "c2"), "-j", "2"], tmp_path)
    assert {"concurrent.futures", "multiprocessing"} <= pool
    here = _imported_by(["build", *common, "--cache-dir", str(tmp_path / "c1"), "-j", "1"], tmp_path)
    assert {"tarfile", "zstandard"} <= here


def test_results_of_similar_kernels_share_equal_summaries(tmp_path: Path) -> None:
    """Three files of one kernel (raw, xz, gz: three digests, equal
    summaries): the results hold one copy of each summary, whether they
    come from the workers (cold) or from the cache (no-op); another
    kernel's share those equal to them, and only those."""
    import gzip

    raw = lzma.decompress(DEBIAN.read_bytes())
    d = tmp_path / "k"
    d.mkdir()
    (d / "debian_12_x86_64_6.1.0-50-amd64.btf").write_bytes(raw)
    (d / "debian_12.1_x86_64_6.1.0-50-amd64.btf.xz").write_bytes(DEBIAN.read_bytes())
    (d / "debian_12.2_x86_64_6.1.0-50-amd64.btf.gz").write_bytes(gzip.compress(raw))
    shutil.copy(SMALL, d / SMALL.name)
    kernels = discover([KernelSpec(str(d))])
    assert len(kernels) == 4 and len({k.path for k in kernels}) == 4
    cache = Cache(str(tmp_path / "cache"))
    for run in ("cold", "no-op"):
        r = run_build(load_object_inputs([OBJ_A, OBJ_B]), kernels, options=Options(), cache=cache, jobs=2)
        assert r.stats()["cached"] == (4 if run == "no-op" else 0), run
        same = [k for k in r.kernels if "6.1.0-50" in k.kernel.key.release]
        other = next(k for k in r.kernels if "6.1.0-50" not in k.kernel.key.release)
        assert len(same) == 3 and len({k.digest for k in same}) == 3
        for obj in range(2):
            first = same[0].summaries[obj]
            assert len(first) >= 4
            for k in same[1:]:
                assert all(a is b for a, b in zip(first, k.summaries[obj], strict=True)), run
            theirs = other.summaries[obj]
            assert len(theirs) == len(first)
            assert [a is b for a, b in zip(first, theirs)] == [a == b for a, b in zip(first, theirs)], run
            assert not all(a == b for a, b in zip(first, theirs))


def test_a_pack_of_unchanged_blobs_compresses_nothing_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The object renamed (the pack's object table changes, its blobs do
    not): the second build takes every compressed block from the cache
    (``pack-block`` entries) and writes the pack a build without a cache
    writes; a damaged block entry is reported and made again."""
    from btfembed.build.outputs import write_outputs
    from btfembed.build.run import build
    from btfembed.embed import pack as P

    calls: list[int] = []
    real = P._COMPRESSORS["zlib"]
    monkeypatch.setitem(P._COMPRESSORS, "zlib", lambda raw: calls.append(len(raw)) or real(raw))

    def run(obj: Path, out: str, cache: bool = True) -> tuple[bytes, list[str]]:
        s = Settings(objects=[str(obj)], kernels=[KernelSpec(str(REPO_KERNELS))], out_dir=str(tmp_path / out),
                     cache_dir=str(tmp_path / "cache"), cache=cache, jobs=1)
        warned: list[str] = []
        write_outputs(build(s), s, warn=warned.append)
        return (tmp_path / out / "btfembed.pack").read_bytes(), warned

    first, second = tmp_path / "a.o", tmp_path / "b.o"
    shutil.copy(OBJ_B, first)
    shutil.copy(OBJ_B, second)
    run(first, "out1")
    assert calls
    calls.clear()
    packed, warned = run(second, "out2")
    assert calls == [] and not warned
    fresh, _ = run(second, "fresh", cache=False)
    assert packed == fresh and decode_pack(packed).objects[0][0] == "b.o"
    entries = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and "pack-block" in p.parts]
    assert entries
    for p in entries:
        data = bytearray(p.read_bytes())
        data[-40] ^= 1
        p.write_bytes(bytes(data))
    calls.clear()
    (tmp_path / "b.o").rename(tmp_path / "c.o")
    packed, warned = run(tmp_path / "c.o", "out3")
    assert calls and warned and "damaged cache entry" in warned[0]
    assert decode_pack(packed).blobs == decode_pack(fresh).blobs


def test_cache_entries_are_bounded_least_recently_used_first(tmp_path: Path) -> None:
    """``cache_max``: after a build that computed something, the least
    recently used entries (a read counts as a use) go first until the rest
    fit; the kernel store is not counted (it has its own limit)."""
    from btfembed.build.run import build

    def run(obj: str, cache: Path, limit: str) -> tuple[int, list[bytes | None]]:
        s = Settings(objects=[obj], kernels=[KernelSpec(str(REPO_KERNELS))], cache_dir=str(cache),
                     cache_max=limit, jobs=1)
        r = build(s)
        return r.stats()["cached"], [k.blob for k in r.kernels]

    def entries_size(cache: Path) -> int:
        return sum(p.stat().st_size for p in (cache / "v2").rglob("*") if p.is_file())

    a, b, c = OBJ_A, OBJ_B, str(OBJS / "kernel_c19.el.o")
    scratch = tmp_path / "scratch"     # sizes without a limit
    run(a, scratch, "0")
    run(b, scratch, "0")
    two = entries_size(scratch)
    run(c, scratch, "0")
    assert entries_size(scratch) > two
    limit = str(two + 2048)
    cache = tmp_path / "cache"
    assert run(a, cache, limit)[0] == 0
    assert run(b, cache, limit)[0] == 0
    assert entries_size(cache) <= int(limit)
    assert run(a, cache, limit)[0] == 3          # a no-op: a's entries now the most recently used
    time.sleep(0.02)
    assert run(c, cache, limit)[0] == 0          # over the limit: b's entries go first
    assert entries_size(cache) <= int(limit)
    assert (cache / "v1" / "kernels").is_dir()   # the store is not the cache's to evict
    assert run(a, cache, "0")[0] == 3
    cached_b, blobs_b = run(b, cache, "0")
    assert cached_b < 3
    assert blobs_b == run(b, tmp_path / "fresh", "0")[1]
