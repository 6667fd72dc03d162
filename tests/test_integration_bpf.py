"""Building the BPF objects: CMake's btfembed_add_bpf_object and the Meson
recipe of meson/README.md, with the real tools.

A kprobe program that includes vmlinux.h (dumped from this machine's
/sys/kernel/btf/vmlinux by bpftool) and a local header is built with a
skeleton; the object must be byte-identical to the documented clang
command's output (run by hand in the same directory), vmlinux.h and the
skeleton to bpftool's.  Editing the local header rebuilds the object (the
depfile), a second build does nothing.  The CMake project also builds an
object for each of two architectures from the corpus's tracer.bpf.c
(ARCH aarch64 is -D__TARGET_ARCH_arm64: register reads become user_pt_regs
relocations), and feeds the probe object to btfembed_add_library; as root the skeleton loader
loads the program with the embedded BTF (BTFEMBED_FORCE=1).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from test_integration_support import (
    IS_ROOT, REPO, bump_mtime, cmakedir, env, need_libbpf, need_sysfs_btf, need_tools, run,
)

pytestmark = pytest.mark.integration

PROBE_C = """\
// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "probe.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(on_nanosleep, struct hrtimer_sleeper *t)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&seen, &k);
	struct task_struct *task = (void *)bpf_get_current_task();

	if (v)
		*v = BPF_CORE_READ(task, tgid) + PROBE_BIAS + (PT_REGS_PARM1(ctx) != 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""

LOADER_C = """\
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "probe.skel.h"
#include "probe_btf.h"

int main(int argc, char **argv)
{
	struct btfembed_btf btf;
	int rc = probe_btf_path(&btf);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf.path);
	struct probe *skel = probe__open_opts(&opts);

	printf("btf=%d open=%s\\n", rc, skel ? "ok" : "failed");
	if (skel && argc > 1 && strcmp(argv[1], "--load") == 0)
		printf("load=%d\\n", probe__load(skel));
	probe__destroy(skel);
	btfembed_release(&btf);
	return !skel;
}
"""

CMAKE = """\
cmake_minimum_required(VERSION 3.20)
project(bpfhelpers C)
find_package(BTFEmbed REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)
btfembed_add_bpf_object(probe SOURCES probe.bpf.c VMLINUX_H sysfs SKELETON)
btfembed_add_bpf_object(tracer_arm64 SOURCES {tracer} ARCH aarch64)
btfembed_add_bpf_object(tracer_x86 SOURCES {tracer} ARCH x86)
btfembed_add_library(probe_btf OBJECTS ${{probe_OBJECT}} KERNELS sysfs)
add_executable(loader loader.c)
target_link_libraries(loader PRIVATE probe_skel probe_btf PkgConfig::LIBBPF)
message(STATUS "probe_OBJECT=${{probe_OBJECT}}")
"""


def project(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    (src / "probe.bpf.c").write_text(PROBE_C)
    (src / "probe.h").write_text("#define PROBE_BIAS 0\n")
    (src / "loader.c").write_text(LOADER_C)
    return src


def clang_by_hand(cwd: Path, out: Path, *args: str) -> bytes:
    """The documented command, run in ``cwd``."""
    run(["clang", "-g", "-O2", "-target", "bpf", *args, "-o", out], cwd=cwd)
    return out.read_bytes()


def bpftool() -> str:
    tools = need_tools("bpftool") if not Path("/usr/sbin/bpftool").exists() else {"bpftool": "/usr/sbin/bpftool"}
    return tools["bpftool"]


def test_cmake_add_bpf_object(tmp_path: Path) -> None:
    tools = need_tools("cmake", "ninja", "clang", "cc")
    need_libbpf()
    need_sysfs_btf()
    tool = bpftool()
    src = project(tmp_path)
    tracer = REPO / "tests" / "data" / "progs" / "tracer.bpf.c"   # reads registers (PT_REGS_PARM*)
    (src / "CMakeLists.txt").write_text(CMAKE.format(tracer=tracer))
    bdir = tmp_path / "build"
    cfg = run([tools["cmake"], "-S", src, "-B", bdir, "-G", "Ninja", f"-DBTFEmbed_ROOT={cmakedir()}"])
    assert "Warning" not in cfg.stdout, cfg.stdout
    out = run([tools["cmake"], "--build", bdir]).stdout
    assert "compiling BPF probe.bpf.c (x86)" in out or "(arm64)" in out, out
    assert "compiling BPF tracer.bpf.c (arm64)" in out and "compiling BPF tracer.bpf.c (x86)" in out, out

    d = bdir / "bpf" / "probe"
    obj = d / "probe.bpf.o"
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(__import__("os").uname().machine, "x86")
    # The documented command, by hand, in the same (output) directory.
    assert clang_by_hand(d, tmp_path / "hand.o", f"-D__TARGET_ARCH_{arch}", f"-I{d / 'include'}",
                         "-c", str(src / "probe.bpf.c")) == obj.read_bytes()
    for name, define in (("tracer_arm64", "arm64"), ("tracer_x86", "x86")):
        dd = bdir / "bpf" / name
        assert clang_by_hand(dd, tmp_path / f"{name}.o", f"-D__TARGET_ARCH_{define}", "-c", str(tracer)) == \
            (dd / f"{name}.bpf.o").read_bytes(), name
    # ARCH aarch64 is libbpf's arm64: register reads are user_pt_regs relocations there, pt_regs on x86.
    kernel = REPO / "tests" / "data" / "kernels" / "kylin_V10_arm64_4.19.90-24.4.v2101.ky10.aarch64.btf.xz"
    arm = run([sys.executable, "-m", "btfembed", "explain", kernel, bdir / "bpf/tracer_arm64/tracer_arm64.bpf.o"])
    x86 = run([sys.executable, "-m", "btfembed", "explain", kernel, bdir / "bpf/tracer_x86/tracer_x86.bpf.o"])
    assert "struct user_pt_regs.regs[0]: " in arm.stdout and "struct pt_regs.di" not in arm.stdout
    assert "struct pt_regs.di: poisoned" in x86.stdout and "user_pt_regs" not in x86.stdout
    assert (d / "include" / "vmlinux.h").read_text() == \
        run([tool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"]).stdout
    skel = run([tool, "gen", "skeleton", obj, "name", "probe"]).stdout
    assert (d / "probe.skel.h").read_text() == skel

    res = run([bdir / "loader"], env_=env(BTFEMBED_FORCE="1"))
    assert res.stdout.startswith("btf=0 open=ok"), res.stdout
    if IS_ROOT:
        res = run([bdir / "loader", "--load"], env_=env(BTFEMBED_FORCE="1"))
        assert "load=0" in res.stdout, res.stdout

    # Incremental: nothing to do; the local header (known from the depfile) rebuilds the object.
    assert "no work to do" in run([tools["ninja"], "-C", bdir, "-n"]).stdout
    before = obj.stat().st_mtime_ns
    bump_mtime(src / "probe.h")
    explain = run([tools["ninja"], "-C", bdir, "-n", "-d", "explain"]).stdout
    assert "probe.h" in explain, explain
    out = run([tools["cmake"], "--build", bdir]).stdout
    assert "compiling BPF probe.bpf.c" in out and "tracer.bpf.c" not in out, out
    assert obj.stat().st_mtime_ns > before
    assert "no work to do" in run([tools["ninja"], "-C", bdir, "-n"]).stdout


def recipe() -> str:
    text = (REPO / "meson" / "README.md").read_text()
    m = re.search(r"<!-- bpf-recipe -->\n```meson\n(.*?)```", text, re.S)
    assert m, "meson/README.md lost its BPF recipe"
    return m.group(1)


MESON = """\
project('bpfrecipe', 'c', meson_version: '>=0.60.0')
{recipe}
libbpf = dependency('libbpf')
executable('opener', 'opener.c', probe_skel, dependencies: libbpf)
"""

OPENER_C = """\
#include <stdio.h>
#include "probe.skel.h"
int main(void)
{
	struct probe *skel = probe__open();
	printf("open=%s\\n", skel ? "ok" : "failed");
	probe__destroy(skel);
	return !skel;
}
"""


def test_meson_bpf_recipe(tmp_path: Path) -> None:
    """meson/README.md's recipe, as written there."""
    tools = need_tools("meson", "ninja", "clang", "cc")
    need_libbpf()
    need_sysfs_btf()
    tool = bpftool()
    src = project(tmp_path)
    (src / "opener.c").write_text(OPENER_C)
    (src / "meson.build").write_text(MESON.format(recipe=recipe()))
    bdir = tmp_path / "build"
    native = tmp_path / "native.ini"
    native.write_text(f"[binaries]\npython = '{sys.executable}'\n")
    run([tools["meson"], "setup", bdir, src, f"--native-file={native}"])
    run([tools["ninja"], "-C", bdir])
    obj = bdir / "probe.bpf.o"
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(__import__("os").uname().machine, "x86")
    rel = __import__("os").path.relpath(src / "probe.bpf.c", bdir)
    assert clang_by_hand(bdir, tmp_path / "hand.o", f"-D__TARGET_ARCH_{arch}", f"-I{bdir}", "-c", rel) == \
        obj.read_bytes()
    assert (bdir / "vmlinux.h").read_text() == \
        run([tool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"]).stdout
    assert (bdir / "probe.skel.h").read_text() == run([tool, "gen", "skeleton", obj, "name", "probe"]).stdout
    assert run([bdir / "opener"]).stdout.strip() == "open=ok"
    assert "no work to do" in run([tools["ninja"], "-C", bdir, "-n"]).stdout
    before = obj.stat().st_mtime_ns
    bump_mtime(src / "probe.h")
    run([tools["ninja"], "-C", bdir])
    assert obj.stat().st_mtime_ns > before
    assert "no work to do" in run([tools["ninja"], "-C", bdir, "-n"]).stdout
