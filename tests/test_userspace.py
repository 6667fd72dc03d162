"""User-space BTF (``--userspace APP``): relocations on an application's own
types, resolved together with the kernel's, minimized into one flat BTF.

The application (examples/uprobe-app/app.c) is compiled by gcc in two
versions with different layouts of ``struct app_req``; its BTF comes from
its DWARF through pahole.  The truth for offsets is ``offsetof`` printed by
a C program compiled from the same source.  As root, libbpf relocates the
uprobe program identically with the unminimized merged BTF (kernel +
application) and with the blob, and the example's loader reads the right
values from each application version through its embedded blob (and wrong
ones through the other version's).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from btfembed.btf.merge import merge_flat
from btfembed.btf.reader import BTF
from btfembed.core.collisions import find_collisions
from btfembed.inputs.containers import load_btf
from btfembed.inputs.kernel import open_kernel
from btfembed.inputs.objects import load_object
from btfembed.minimize.api import explain, minimize, verify
from btfembed.minimize.engine import resolve_object

from conftest import REPO, REPO_KERNELS

INCLUDE = REPO / "btfembed" / "embed" / "include"

EXAMPLE = REPO / "examples" / "uprobe-app"
KERNEL = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("clang") and shutil.which("pahole")),
                                reason="needs gcc, clang and pahole (dwarves)")


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def cli(*args, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return run([sys.executable, "-m", "btfembed", *args], env=env, **kw)


def multiarch() -> str:
    return run(["gcc", "-print-multiarch"]).stdout.strip() or f"{os.uname().machine}-linux-gnu"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """app-v1, app-v2 (gcc -g), their offsetof truth, and the uprobe object."""
    d = tmp_path_factory.mktemp("uprobe")
    out: dict[str, Path] = {"dir": d}
    for v, flags in (("v1", []), ("v2", ["-DAPP_V2"])):
        app = d / f"app-{v}"
        r = run(["gcc", "-g", "-O1", *flags, "-o", app, EXAMPLE / "app.c"])
        assert r.returncode == 0, r.stderr
        out[f"app-{v}"] = app
        probe = d / f"offsets-{v}.c"
        probe.write_text(f'#include <stddef.h>\n#include <stdio.h>\n#define main app_main\n'
                         f'#include "{EXAMPLE / "app.c"}"\n#undef main\n'
                         'int main(void) { printf("%zu %zu\\n", offsetof(struct app_req, id), '
                         'offsetof(struct app_req, value)); return 0; }\n')
        exe = d / f"offsets-{v}"
        r = run(["gcc", *flags, "-o", exe, probe])
        assert r.returncode == 0, r.stderr
        out[f"offsets-{v}"] = exe
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    obj = d / "req_probe.bpf.o"
    r = run(["clang", "-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}", f"-I/usr/include/{multiarch()}",
             "-c", EXAMPLE / "req_probe.bpf.c", "-o", obj])
    assert r.returncode == 0, r.stderr
    out["obj"] = obj
    return out


def truth(built, v: str) -> tuple[int, int]:
    ident, value = run([built[f"offsets-{v}"]]).stdout.split()
    return int(ident), int(value)


@pytest.mark.parametrize("v", ["v1", "v2"])
def test_relocations_resolve_against_application_types(built, v: str) -> None:
    obj = load_object(str(built["obj"]))
    target = open_kernel(str(KERNEL), userspace=[str(built[f"app-{v}"])])
    (sums,) = explain(obj, target)
    got = {s.access: s.new_val for s in sums}
    assert (got["struct app_req.id"], got["struct app_req.value"]) == truth(built, v)
    # the kernel type in the same object resolves against the kernel
    kernel_only = {s.access: s for s in explain(obj, open_kernel(str(KERNEL)))[0]}
    assert got["struct pt_regs.di"] == kernel_only["struct pt_regs.di"].new_val
    assert kernel_only["struct app_req.id"].status == "poisoned"   # no such type in the kernel


@pytest.mark.parametrize("v", ["v1", "v2"])
def test_blob_holds_both_and_is_relocation_equivalent(built, v: str, tmp_path: Path) -> None:
    obj = load_object(str(built["obj"]))
    target = open_kernel(str(KERNEL), userspace=[str(built[f"app-{v}"])])
    m = minimize(obj, target)
    blob = BTF(m.data)
    names = {blob.type(i).name for i in range(1, blob.type_cnt)}
    assert {"pt_regs", "app_req"} <= names
    assert verify(obj, target, m.data).differences == []
    # ... and the same through the CLI, with the same bytes
    out = tmp_path / "min.btf"
    r = cli("minimize", KERNEL, out, built["obj"], "--userspace", built[f"app-{v}"])
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == m.data
    r = cli("verify", KERNEL, out, built["obj"], "--userspace", built[f"app-{v}"])
    assert r.returncode == 0 and " 0 different" in r.stdout, r.stdout + r.stderr
    # without the application, the blob is not equivalent (the check can fail)
    r = cli("verify", KERNEL, out, built["obj"])
    assert r.returncode == 1


def test_application_btf_forms_agree(built, tmp_path: Path) -> None:
    """DWARF (pahole), raw BTF and an ELF with .BTF give the same result."""
    app = built["app-v2"]
    raw = tmp_path / "app.btf"
    r = run(["pahole", f"--btf_encode_detached={raw}", app])
    assert r.returncode == 0, r.stderr
    with_btf = tmp_path / "app-with-btf"
    shutil.copy(app, with_btf)
    r = run(["pahole", "-J", with_btf])
    assert r.returncode == 0, r.stderr
    obj = load_object(str(built["obj"]))
    outs = {minimize(obj, open_kernel(str(KERNEL), userspace=[str(p)])).data for p in (app, raw, with_btf)}
    assert len(outs) == 1


def test_collision_with_a_kernel_type_is_reported(built, tmp_path: Path) -> None:
    """An application defining a type named like a kernel type (list_head):
    the relocation's candidates come from both sides."""
    app_src = tmp_path / "app.c"
    app_src.write_text("struct list_head { struct list_head *next, *prev; };\n"
                       "struct holder { int x; struct list_head node; };\n"
                       "__attribute__((used)) int use(struct holder *h) { return h->x + (h->node.next != 0); }\n"
                       "int main(void) { struct holder h = {0}; return use(&h); }\n")
    app = tmp_path / "app"
    assert run(["gcc", "-g", "-o", app, app_src]).returncode == 0
    prog = tmp_path / "p.bpf.c"
    prog.write_text("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n"
                    "struct list_head { struct list_head *next; } __attribute__((preserve_access_index));\n"
                    "struct holder { int x; } __attribute__((preserve_access_index));\n"
                    "long out;\n"
                    'SEC("uprobe") int p(void *ctx) { struct list_head *l = (void *)ctx; struct holder *h = (void *)ctx;\n'
                    "  out = (long)BPF_CORE_READ_USER(l, next) + BPF_CORE_READ_USER(h, x); return 0; }\n"
                    'char LICENSE[] SEC("license") = "GPL";\n')
    obj_path = tmp_path / "p.bpf.o"
    r = run(["clang", "-g", "-O2", "-target", "bpf", f"-I/usr/include/{multiarch()}", "-c", prog, "-o", obj_path])
    assert r.returncode == 0, r.stderr
    obj = load_object(str(obj_path))
    target = open_kernel(str(KERNEL), userspace=[str(app)])
    found = find_collisions(obj.btf, resolve_object(obj, target), target)
    assert [c.access for c in found] == ["struct list_head.next"]
    (c,) = found
    assert c.kernel_types and c.kernel_types[0].startswith("struct list_head (id ")
    assert c.user_types and str(app) in c.user_types[0]
    assert c.matched == "both"
    # warn (default): one line, output written; error: exit 1, nothing written
    out = tmp_path / "min.btf"
    r = cli("minimize", KERNEL, out, obj_path, "-u", app)
    assert r.returncode == 0 and out.exists()
    warnings = [ln for ln in r.stderr.splitlines() if "collision:" in ln]
    assert len(warnings) == 1 and "list_head.next" in warnings[0] and "matched: both" in warnings[0], r.stderr
    out.unlink()
    r = cli("minimize", KERNEL, out, obj_path, "-u", app, "--userspace-collisions", "error")
    assert r.returncode == 1 and not out.exists()
    assert r.stderr.strip().splitlines()[-1].startswith("btfembed: error: 1 relocation(s) with candidates")
    # the example's own names do not collide
    t2 = open_kernel(str(KERNEL), userspace=[str(built["app-v1"])])
    o2 = load_object(str(built["obj"]))
    assert find_collisions(o2.btf, resolve_object(o2, t2), t2) == []
    # build: the kernel fails with 'error', and warns by default
    r = cli("build", obj_path, "--kernels", KERNEL, "-u", app, "--out-dir", tmp_path / "o",
            "--cache-dir", tmp_path / "c", "-q")
    assert r.returncode == 0 and "list_head.next" in r.stderr, r.stderr
    r = cli("build", obj_path, "--kernels", KERNEL, "-u", app, "--out-dir", tmp_path / "o2",
            "--cache-dir", tmp_path / "c", "-q", "--userspace-collisions", "error")
    assert r.returncode != 0 and not (tmp_path / "o2" / "btfembed.pack").exists()


def test_build_with_userspace_and_cache(built, tmp_path: Path) -> None:
    """build --userspace: each version gets its own blob (the cache tells
    them apart), and the blobs equal minimize's."""
    obj = load_object(str(built["obj"]))
    blobs = {}
    for v in ("v1", "v2"):
        out = tmp_path / f"out-{v}"
        r = cli("build", built["obj"], "--kernels", KERNEL, "-u", built[f"app-{v}"], "--out-dir", out,
                "--cache-dir", tmp_path / "cache", "-q")
        assert r.returncode == 0, r.stderr
        (blob_file,) = out.glob("**/*.btf")
        blobs[v] = blob_file.read_bytes()
        assert blobs[v] == minimize(obj, open_kernel(str(KERNEL), userspace=[str(built[f"app-{v}"])])).data
    assert blobs["v1"] != blobs["v2"]
    # settings file: userspace paths relative to it
    (tmp_path / "btfembed.toml").write_text(
        f'objects = ["{built["obj"]}"]\nkernels = ["{KERNEL}"]\nuserspace = ["{built["app-v1"].name}"]\n'
        'out_dir = "from-toml"\n')
    shutil.copy(built["app-v1"], tmp_path / built["app-v1"].name)
    r = cli("build", "--cache-dir", tmp_path / "cache", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (blob_file,) = (tmp_path / "from-toml").glob("**/*.btf")
    assert blob_file.read_bytes() == blobs["v1"]


def test_missing_pahole_is_one_line(built, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=str(bindir))
    r = run([sys.executable, "-m", "btfembed", "explain", KERNEL, built["obj"], "-u", built["app-v1"]], env=env)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and "dwarves" in r.stderr, r.stderr


# --- libbpf (root) ------------------------------------------------------------

@pytest.mark.oracle
@pytest.mark.parametrize("v", ["v1", "v2"])
def test_libbpf_relocates_identically_with_merged_and_minimized(built, v: str, tmp_path: Path) -> None:
    import oracle

    reason = oracle.oracle_available()
    if reason or not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip(reason or "needs /sys/kernel/btf/vmlinux")
    kernel = load_btf("/sys/kernel/btf/vmlinux")
    app = load_btf(str(built[f"app-{v}"]))
    merged = tmp_path / "merged.btf"
    merged.write_bytes(merge_flat(kernel, [app])[0])
    obj = load_object(str(built["obj"]))
    mini = tmp_path / "mini.btf"
    mini.write_bytes(minimize(obj, open_kernel("/sys/kernel/btf/vmlinux", userspace=[str(built[f"app-{v}"])])).data)
    full = oracle.relocate(built["obj"], merged)
    small = oracle.relocate(built["obj"], mini)
    assert full.error is None and small.error is None, (full.error, small.error)
    assert oracle.diff_programs(full, small) == []
    ident, value = truth(built, v)
    assert re.search(rf"relo #\d+: patched insn #\d+ .* -> {ident}\b", full.log)


@pytest.mark.oracle
def test_example_loader_reads_each_version_through_its_blob(built, tmp_path: Path) -> None:
    """examples/uprobe-app built with its Makefile against the running
    kernel: right values with the matching version's blob, wrong ones with
    the other's."""
    if os.geteuid() != 0 or not os.path.exists("/sys/kernel/btf/vmlinux") or os.uname().machine != "x86_64":
        pytest.skip("needs root, /sys/kernel/btf/vmlinux and x86_64 (the program reads pt_regs.di)")
    work = tmp_path / "uprobe-app"
    shutil.copytree(EXAMPLE, work)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "btfembed").write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m btfembed \"$@\"\n")
    (bindir / "btfembed").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    r = run(["make", "-C", work], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    for app in ("v1", "v2"):
        for table in ("v1", "v2"):
            r = run([work / "loader", "--table", table, work / f"app-{app}", "7", "1234"], cwd=work)
            assert r.returncode == 0, r.stdout + r.stderr
            seen = re.search(r"seen: id=(-?\d+) value=(-?\d+) hits=1", r.stdout)
            assert seen, r.stdout
            right = (int(seen.group(1)), int(seen.group(2))) == (7, 1234)
            assert right == (app == table), (app, table, r.stdout)
    # without --table: the table whose recorded build id is the binary's
    for app in ("v1", "v2"):
        r = run([work / "loader", work / f"app-{app}", "7", "1234"], cwd=work,
                env=dict(os.environ, BTFEMBED_DEBUG="1"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"table={app} (by build id)" in r.stdout, r.stdout
        assert "seen: id=7 value=1234 hits=1" in r.stdout, r.stdout
        assert f"app={work / f'app-{app}'} id={readelf_build_id(work / f'app-{app}')} from=build-id match=yes" \
            in r.stderr, r.stderr
    # a binary no table was built for, and a file that is not ELF: refused
    for other in ("/bin/true", "/etc/passwd"):
        r = run([work / "loader", other], cwd=work)
        assert r.returncode == 4 and "seen:" not in r.stdout, r.stdout + r.stderr
    # BTFEMBED_APP overrides the id read: v1's id on v2 picks v1's table
    r = run([work / "loader", work / "app-v2", "7", "1234"], cwd=work,
            env=dict(os.environ, BTFEMBED_APP=readelf_build_id(work / "app-v1")))
    assert r.returncode == 0 and "table=v1 (by build id)" in r.stdout, r.stdout + r.stderr


# --- application keys ----------------------------------------------------------

def readelf_build_id(path: Path) -> str | None:
    r = run(["readelf", "-n", path])
    m = re.search(r"Build ID: ([0-9a-f]+)", r.stdout)
    return m.group(1) if m else None


ID_HARNESS = r"""
#include <stdio.h>
#include "btfembed.h"

int main(int argc, char **argv)
{
	char hex[BTFEMBED_APP_ID_MAX + 1], small[8];
	int i;

	for (i = 1; i < argc; i++) {
		int rc = btfembed_app_build_id(argv[i], hex, sizeof(hex));

		printf("%d %s %d\n", rc, rc == 0 ? hex : "-", btfembed_app_build_id(argv[i], small, sizeof(small)));
	}
	return 0;
}
"""


@pytest.fixture(scope="module")
def id_files(built) -> dict[str, Path]:
    d = built["dir"]
    src = d / "tiny.c"
    src.write_text("int main(void) { return 0; }\n")
    files = {"v1": built["app-v1"], "v2": built["app-v2"]}
    for name, flag in (("none", "-Wl,--build-id=none"), ("md5", "-Wl,--build-id=md5"),
                       ("uuid", "-Wl,--build-id=uuid")):
        files[name] = d / f"tiny-{name}"
        r = run(["gcc", flag, "-o", files[name], src])
        assert r.returncode == 0, r.stderr
    files["text"] = d / "not-elf.txt"
    files["text"].write_text("#!/bin/sh\nexit 0\n" * 8)
    files["short"] = d / "short"
    files["short"].write_bytes(b"\x7fELF\x02\x01")
    return files


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_build_id_helpers_agree_with_readelf(built, id_files, tmp_path: Path, cc: str) -> None:
    """btfembed_app_build_id() (C), btfembed.embed.appid.build_id() (the
    runtime's) and btfembed.inputs.userspace.build_id() read what readelf
    prints; no build id, not ELF, a directory, a missing file: error codes."""
    from btfembed.embed.appid import AppIdError, build_id as rt_build_id
    from btfembed.inputs.userspace import build_id as in_build_id

    harness = tmp_path / "ids.c"
    harness.write_text(ID_HARNESS)
    exe = tmp_path / "ids"
    r = run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", f"-I{INCLUDE}", "-o", exe, harness,
             INCLUDE / "btfembed.c"])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    names = ["v1", "v2", "none", "md5", "uuid", "text", "short"]
    paths = [id_files[n] for n in names] + [tmp_path, tmp_path / "missing"]
    r = run([exe, *paths])
    assert r.returncode == 0, r.stderr
    got = dict(zip(names + ["dir", "missing"], (ln.split() for ln in r.stdout.splitlines())))
    import errno

    for n in ("v1", "v2", "md5", "uuid"):
        want = readelf_build_id(id_files[n])
        assert want and got[n] == ["0", want, str(-errno.ENOSPC)], (n, got[n])
        assert rt_build_id(str(id_files[n])) == want == in_build_id(str(id_files[n]))
    assert len(got["md5"][1]) == 32 and len(got["v1"][1]) == 40
    assert got["v1"][1] != got["v2"][1]
    assert readelf_build_id(id_files["none"]) is None
    assert got["none"][:2] == [str(-errno.ENODATA), "-"] and rt_build_id(str(id_files["none"])) is None
    for n in ("text", "short"):
        assert got[n][:2] == [str(-errno.ENOEXEC), "-"], (n, got[n])
        with pytest.raises(AppIdError):
            rt_build_id(str(id_files[n]))
    assert got["dir"][0] == str(-errno.EISDIR) and got["missing"][0] == str(-errno.ENOENT)
    with pytest.raises(AppIdError):
        rt_build_id(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        rt_build_id(str(tmp_path / "missing"))


MATCH_HARNESS = r"""
#include <stdio.h>
#include "app_btf.h"

int main(int argc, char **argv)
{
	int i;

	printf("count %u first %s\n", t_app_count, t_app_ids[0]);
	for (i = 1; i < argc; i++)
		printf("path %d id %d\n", t_matches_app(argv[i]), t_matches_app_id(argv[i]));
	return 0;
}
"""


def _build_c(built, tmp_path: Path, name: str, *userspace: str) -> subprocess.CompletedProcess:
    args = []
    for u in userspace:
        args += ["-u", u]
    return cli("build", built["obj"], "--kernels", KERNEL, *args, "--out-dir", tmp_path / f"out-{name}",
               "--cache-dir", tmp_path / "cache", "-q", "--emit", "c", "--output", tmp_path / name / "app_btf",
               "--prefix", "t")


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_generated_c_records_the_application(built, tmp_path: Path, cc: str) -> None:
    v1, v2 = built["app-v1"], built["app-v2"]
    bid1, bid2 = readelf_build_id(v1), readelf_build_id(v2)
    r = _build_c(built, tmp_path, "a", str(v1))
    assert r.returncode == 0, r.stderr
    c_text = (tmp_path / "a" / "app_btf.c").read_text()
    assert f'"{bid1}"' in c_text and str(v1) not in c_text and str(tmp_path) not in c_text
    # deterministic: the same build elsewhere gives the same bytes
    r = _build_c(built, tmp_path, "b", str(v1))
    assert r.returncode == 0, r.stderr
    for ext in ("c", "h"):
        assert (tmp_path / "a" / f"app_btf.{ext}").read_bytes() == (tmp_path / "b" / f"app_btf.{ext}").read_bytes()
    main_c = tmp_path / "main.c"
    main_c.write_text(MATCH_HARNESS)
    exe = tmp_path / "match"
    r = run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wstrict-prototypes",
             "-Wmissing-prototypes", "-Wcast-qual", "-Werror", f"-I{INCLUDE}", f"-I{tmp_path / 'a'}", "-o", exe,
             main_c, tmp_path / "a" / "app_btf.c", "-lz"])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = run([exe, v1, v2, bid1, tmp_path])
    assert r.stdout.splitlines() == [f"count 1 first {bid1}", "path 1 id 0", "path 0 id 0", "path -2 id 1",
                                     "path -21 id 0"], r.stdout
    # BTFEMBED_APP replaces the id read; BTFEMBED_DEBUG=1: one line each
    env = dict(os.environ, BTFEMBED_APP=bid1, BTFEMBED_DEBUG="1")
    r = run([exe, v2], env=env)
    assert r.stdout.splitlines()[1] == "path 1 id 1"
    assert f"btfembed: app={v2} id={bid1} from=BTFEMBED_APP match=yes" in r.stderr.splitlines(), r.stderr
    assert len(r.stderr.splitlines()) == 2, r.stderr
    r = run([exe, v2], env=dict(os.environ, BTFEMBED_DEBUG="1"))
    assert f"btfembed: app={v2} id={bid2} from=build-id match=no" in r.stderr.splitlines(), r.stderr
    # APP=VERSION records the version; two applications, two ids
    r = _build_c(built, tmp_path, "c", f"{v1}=1.2.3", str(v2))
    assert r.returncode == 0, r.stderr
    assert run([cc, "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", f"-I{INCLUDE}",
                f"-I{tmp_path / 'c'}", "-o", exe, main_c, tmp_path / "c" / "app_btf.c", "-lz"]).returncode == 0
    r = run([exe, "1.2.3", v2, v1])
    assert r.stdout.splitlines() == ["count 2 first 1.2.3", "path -2 id 1", "path 1 id 0", "path 0 id 0"], r.stdout


def test_generated_sources_without_applications_are_unchanged(built, tmp_path: Path) -> None:
    r = cli("build", built["obj"], "--kernels", KERNEL, "--out-dir", tmp_path / "o", "-q", "--emit", "c",
            "--output", tmp_path / "g" / "k_btf", "--cache-dir", tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert "_app_" not in (tmp_path / "g" / "k_btf.c").read_text() + (tmp_path / "g" / "k_btf.h").read_text()
    r = cli("build", built["obj"], "--kernels", KERNEL, "--out-dir", tmp_path / "o", "-q", "--emit", "python",
            "--output", tmp_path / "g" / "k_btf.py", "--cache-dir", tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert "APP_IDS" not in (tmp_path / "g" / "k_btf.py").read_text()


def test_application_without_build_id_needs_a_version(built, tmp_path: Path) -> None:
    app = tmp_path / "app-noid"
    r = run(["gcc", "-g", "-O1", "-Wl,--build-id=none", "-o", app, EXAMPLE / "app.c"])
    assert r.returncode == 0, r.stderr
    r = _build_c(built, tmp_path, "n", str(app))
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "no GNU build id" in r.stderr and "=VERSION" in r.stderr
    assert not (tmp_path / "n").exists() and not (tmp_path / "out-n").exists()
    r = _build_c(built, tmp_path, "n", f"{app}=2.0")
    assert r.returncode == 0, r.stderr
    assert '"2.0"' in (tmp_path / "n" / "app_btf.c").read_text()
    # btfembed generate --app: the same sources from the pack file
    r = cli("generate", tmp_path / "out-n" / "btfembed.pack", "--lang", "c", "--output", tmp_path / "g" / "app_btf",
            "--prefix", "t", "--app", f"{app}=2.0")
    assert r.returncode == 0, r.stderr
    for ext in ("c", "h"):
        assert (tmp_path / "g" / f"app_btf.{ext}").read_bytes() == (tmp_path / "n" / f"app_btf.{ext}").read_bytes()
    r = cli("generate", tmp_path / "out-n" / "btfembed.pack", "--lang", "c", "--output", tmp_path / "g2" / "x",
            "--app", app)
    assert r.returncode != 0 and "no GNU build id" in r.stderr and not (tmp_path / "g2").exists(), r.stderr
    r = cli("generate", tmp_path / "out-n" / "btfembed.pack", "--lang", "go", "--output", tmp_path / "g3",
            "--app", f"{app}=2.0")
    assert r.returncode != 0 and "--app applies to" in r.stderr and not (tmp_path / "g3").exists(), r.stderr
    r = _build_c(built, tmp_path, "bad", f"{tmp_path / 'nothing'}=")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_generated_python_records_the_application(built, tmp_path: Path) -> None:
    v1, v2 = built["app-v1"], built["app-v2"]
    bid1, bid2 = readelf_build_id(v1), readelf_build_id(v2)
    outs = []
    for name in ("p1", "p2"):
        r = cli("build", built["obj"], "--kernels", KERNEL, "-u", v2, "--out-dir", tmp_path / f"o-{name}", "-q",
                "--emit", "python", "--output", tmp_path / name / "app_btf.py", "--cache-dir", tmp_path / "cache")
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / name / "app_btf.py").read_bytes())
    assert outs[0] == outs[1]
    code = ("import sys\nsys.path.insert(0, '.')\nimport app_btf as m\n"
            "print(m.APP_IDS, m.matches_app(sys.argv[1]), m.matches_app(sys.argv[2]),"
            " m.matches_app(app_id=sys.argv[3]), m.build_id(sys.argv[1]))\n"
            "try:\n    m.build_id(sys.argv[4])\nexcept m.AppIdError as e:\n    print('AppIdError')\n"
            "print(m.lookup(force=True).status)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFEMBED_") and k != "PYTHONPATH"}
    r = run([sys.executable, "-I", "-c", code, v2, v1, bid2, EXAMPLE / "app.c"], cwd=tmp_path / "p1", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:2] == [f"('{bid2}',) True False True {bid2}", "AppIdError"], r.stdout
    r = run([sys.executable, "-I", "-c", code, v2, v1, bid2, EXAMPLE / "app.c"], cwd=tmp_path / "p1",
            env=dict(env, BTFEMBED_APP=bid1, BTFEMBED_DEBUG="1"))
    assert r.stdout.splitlines()[0] == f"('{bid2}',) False False False {bid2}", r.stdout   # bid1 everywhere
    assert f"btfembed: app={v1} id={bid1} from=BTFEMBED_APP match=no" in r.stderr.splitlines(), r.stderr
