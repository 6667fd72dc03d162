"""User-space BTF for uprobe programs (``--userspace APP``) on small
applications written here: the merged-file writer (``btfembed.btf.merge``,
the reference libbpf is given), relocations following the application's
layout, collisions with kernel type names, and libbpf relocating the blob
like the unminimized merged BTF.  See also tests/test_userspace.py (the
example, build, and the loader reading real values)."""

from __future__ import annotations

import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import oracle
from btfembed.btf.merge import merge_flat
from btfembed.btf.reader import BTF
from btfembed.inputs.containers import load_btf
from btfembed.inputs.userspace import app_btf, build_id

from conftest import REPO, REPO_KERNELS

KERNEL = REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64.btf.xz"

APP_V1 = """struct data { int id; long value; char name[16]; };
struct list_head { struct list_head *next, *prev; int app_only; };
struct data global_data = { .id = 1, .value = 42 };
struct list_head app_list;
int main(void) { return global_data.id + app_list.app_only; }
"""
APP_V2 = APP_V1.replace("struct data { int id; long value; char name[16]; }",
                        "struct data { char name[16]; long value; short flags; int id; }")
PROBE = """#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
struct data { int id; long value; } __attribute__((preserve_access_index));
unsigned long out[4];
SEC("uprobe")
int probe_data(struct data *d)
{
	out[0] = bpf_core_field_offset(struct data, value);
	out[1] = bpf_core_field_offset(struct data, id);
	out[2] = bpf_core_type_size(struct data);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""
COLLIDE = """#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
struct list_head { struct list_head *next; int app_only; } __attribute__((preserve_access_index));
struct data { long value; } __attribute__((preserve_access_index));
unsigned long out[2];
SEC("uprobe")
int probe_list(struct list_head *l)
{
	out[0] = bpf_core_field_exists(l->app_only);
	return 0;
}
SEC("uprobe")
int probe_data(struct data *d)
{
	out[1] = bpf_core_field_offset(d->value);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("clang") and shutil.which("pahole")),
                                reason="needs gcc, clang and pahole")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "btfembed", *args], capture_output=True, text=True, env=env)


def bpf_object(tmp: Path, name: str, source: str) -> Path:
    src = tmp / f"{name}.bpf.c"
    src.write_text(source)
    out = tmp / f"{name}.bpf.o"
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    subprocess.run(["clang", "-target", "bpf", "-O2", "-g", f"-I/usr/include/{multiarch}", "-c", str(src),
                    "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("uprobe")
    for name, source in (("app1", APP_V1), ("app2", APP_V2)):
        (tmp / f"{name}.c").write_text(source)
        subprocess.run(["gcc", "-g", "-O0", str(tmp / f"{name}.c"), "-o", str(tmp / name)], check=True)
    bpf_object(tmp, "probe", PROBE)
    bpf_object(tmp, "collide", COLLIDE)
    (tmp / "kernel.btf").write_bytes(lzma.decompress(KERNEL.read_bytes()))
    return tmp


def test_merge_keeps_kernel_ids_and_shifts_the_application(work: Path) -> None:
    kernel = load_btf(str(work / "kernel.btf"))
    app = app_btf(str(work / "app1"))        # DWARF, through pahole
    data, (start,) = merge_flat(kernel, [app])
    merged = BTF(data)
    assert start == kernel.type_cnt and merged.type_cnt == kernel.type_cnt + app.type_cnt - 1
    for tid in (1, 100, kernel.type_cnt - 1):
        assert merged.type(tid) == kernel.type(tid)
    (app_data,) = app.find_by_name("data")
    assert merged.type(app_data + start - 1).name == "data"
    assert len(build_id(str(work / "app1")) or "") >= 16


@pytest.mark.parametrize("app,expect", [("app1", ["8", "0", "32"]), ("app2", ["16", "28", "32"])])
def test_relocations_follow_the_application_layout(work: Path, app: str, expect: list[str]) -> None:
    r = run_cli("explain", str(work / "kernel.btf"), str(work / "probe.bpf.o"), "--userspace", str(work / app))
    assert r.returncode == 0, r.stderr
    assert [line.rsplit(": ", 1)[1] for line in r.stdout.splitlines()] == expect
    out = work / f"{app}.min.btf"
    r = run_cli("minimize", str(work / "kernel.btf"), str(out), str(work / "probe.bpf.o"), "--userspace", str(work / app))
    assert r.returncode == 0, r.stderr
    assert BTF(out.read_bytes()).find_by_name("data")
    r = run_cli("verify", str(work / "kernel.btf"), str(out), str(work / "probe.bpf.o"), "--userspace", str(work / app))
    assert r.returncode == 0, r.stdout + r.stderr
    # Without the application the type is missing: the kernel has no struct data.
    r = run_cli("explain", str(work / "kernel.btf"), str(work / "probe.bpf.o"))
    assert "poisoned" in r.stdout


def test_collisions_are_reported(work: Path) -> None:
    args = [str(work / "kernel.btf"), str(work / "c.btf"), str(work / "collide.bpf.o"), "--userspace",
            str(work / "app1")]
    r = run_cli("minimize", *args)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "collision" in ln]
    assert len(lines) == 1 and "probe_list" in lines[0] and "list_head.app_only" in lines[0]
    assert "probe_data" not in r.stderr          # struct data: the application's only
    r = run_cli("minimize", *args, "--userspace-collisions", "error")
    assert r.returncode == 1 and "both the kernel and an application" in r.stderr
    # Modules and applications together: modules are searched only for
    # types neither the kernel nor the application has.
    r = run_cli("minimize", *args, "--module", str(REPO_KERNELS / "debian_12_x86_64_6.1.0-50-amd64__nf_conntrack.btf.xz"))
    assert r.returncode == 0, r.stderr


@pytest.mark.oracle
def test_libbpf_relocates_the_blob_like_the_merged_btf(work: Path) -> None:
    reason = oracle.oracle_available()
    if reason:
        pytest.skip(reason)
    kernel = load_btf(str(work / "kernel.btf"))
    for app in ("app1", "app2"):
        merged = work / f"{app}.merged.btf"
        merged.write_bytes(merge_flat(kernel, [app_btf(str(work / app))])[0])
        small = work / f"{app}.small.btf"
        r = run_cli("minimize", str(work / "kernel.btf"), str(small), str(work / "probe.bpf.o"), "--userspace",
                    str(work / app))
        assert r.returncode == 0, r.stderr
        a, b = oracle.relocate(work / "probe.bpf.o", merged), oracle.relocate(work / "probe.bpf.o", small)
        assert a.ok and b.ok, (a.error, b.error)
        assert a.programs and oracle.diff_programs(a, b) == []
    # The two versions' blobs relocate differently.
    one = oracle.relocate(work / "probe.bpf.o", work / "app1.small.btf")
    two = oracle.relocate(work / "probe.bpf.o", work / "app2.small.btf")
    assert oracle.diff_programs(one, two)
