"""The bcc libbpf-tools drop-in (include/bcc/btf_helpers.{h,c}): a tool-like
loader written here, using ensure_core_btf()/cleanup_core_btf() exactly as
bcc's tools do, linked against a table generated with --prefix bcc_core.
As root it loads a CO-RE program with the embedded BTF and reads real
values; without root the helper semantics are still checked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from btfembed.embed.codegen import write_c
from btfembed.embed.keys import KernelKey, running_key
from btfembed.embed.pack import build_pack

from test_runtime_rules import DEBIAN, ENV_VARS, INCLUDE, minimized

REPO = Path(__file__).resolve().parent.parent
OBJ = REPO / "examples" / "c-loader" / "task_report.bpf.o"
VMLINUX = Path("/sys/kernel/btf/vmlinux")

TOOL_C = r"""
/* A libbpf-tools style tool: only btf_helpers.h knows about the BTF. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "btf_helpers.h"

struct report { __u32 pid, tgid, ppid, hits; char comm[16]; };

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;
	struct report rep;
	__u32 zero = 0, me = (__u32)getpid();
	int err, i, check_only = argc > 2;

	prctl(PR_SET_NAME, "bcc-tool", 0, 0, 0);
	err = ensure_core_btf(&open_opts);
	if (err) {
		fprintf(stderr, "failed to fetch necessary BTF for CO-RE: %s\n", strerror(-err));
		return 1;
	}
	printf("btf_custom_path=%s\n", open_opts.btf_custom_path ? open_opts.btf_custom_path : "(none)");
	if (check_only) {
		const char *p = open_opts.btf_custom_path;
		cleanup_core_btf(&open_opts);
		printf("after_cleanup=%s\n", open_opts.btf_custom_path ? "set" : "null");
		if (p)
			printf("readable_after=%d\n", access(p, R_OK) == 0);
		return 0;
	}
	obj = bpf_object__open_file(argv[1], &open_opts);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "failed to open/load BPF object\n");
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "report_task");
	link = bpf_program__attach(prog);
	if (!link)
		return 1;
	bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "target"), &zero, &me, BPF_ANY);
	for (i = 0; i < 3; i++)
		(void)syscall(SYS_getppid);
	memset(&rep, 0, sizeof(rep));
	bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "report"), &zero, &rep);
	rep.comm[15] = 0;
	printf("report: pid=%u tgid=%u ppid=%u comm=%s hits=%u\n", rep.pid, rep.tgid, rep.ppid, rep.comm, rep.hits);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	cleanup_core_btf(&open_opts);
	return rep.hits ? 0 : 3;
}
"""


def _env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ENV_VARS + ("BTFEMBED_KEY", "BTFEMBED_DEBUG")}
    e.update(extra)
    return e


def _build_tool(tmp: Path, items) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None or not Path("/usr/include/bpf/libbpf.h").exists():
        pytest.skip("needs gcc and libbpf-dev")
    c_path, _ = write_c(build_pack(items), str(tmp / "min_core_btfs"), prefix="bcc_core")
    (tmp / "tool.c").write_text(TOOL_C)
    exe = tmp / "tool"
    cmd = [gcc, "-O2", "-Wall", "-Werror", f"-I{INCLUDE}", f"-I{INCLUDE / 'bcc'}", "-o", str(exe), str(tmp / "tool.c"),
           c_path, str(INCLUDE / "bcc" / "btf_helpers.c"), "-lbpf", "-lelf", "-lz"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


@pytest.fixture(scope="module")
def blobs():
    if not VMLINUX.exists():
        pytest.skip("needs /sys/kernel/btf/vmlinux to minimize this kernel's BTF")
    return {"good": minimized(str(VMLINUX), str(OBJ)), "wrong": minimized(str(DEBIAN), str(OBJ))}


def test_helper_semantics(blobs, tmp_path: Path) -> None:
    exe = _build_tool(tmp_path, [(running_key(), blobs["good"])])
    # The kernel has BTF: nothing to do, opts untouched.
    out = subprocess.run([str(exe), str(OBJ), "check"], capture_output=True, text=True, env=_env())
    assert out.returncode == 0 and "btf_custom_path=(none)" in out.stdout
    # Forced: a path, cleared and released by cleanup_core_btf().
    out = subprocess.run([str(exe), str(OBJ), "check"], capture_output=True, text=True,
                         env=_env(BTFEMBED_FORCE="1"))
    assert re.search(r"btf_custom_path=/proc/self/fd/\d+", out.stdout), out.stdout
    assert "after_cleanup=null" in out.stdout and "readable_after=0" in out.stdout
    # No embedded BTF for this kernel: -EINVAL, as bcc's helper.
    out = subprocess.run([str(exe), str(OBJ), "check"], capture_output=True, text=True,
                         env=_env(BTFEMBED_FORCE="1", BTFEMBED_KEY="none/0/x86_64/0.0"))
    assert out.returncode == 1 and "failed to fetch necessary BTF for CO-RE: Invalid argument" in out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="loading BPF programs needs root")
def test_tool_loads_with_embedded_btf(blobs, tmp_path: Path) -> None:
    key = running_key()
    other = KernelKey(key.arch, "debian", "12", "6.1.0-50-amd64")
    exe = _build_tool(tmp_path, [(key, blobs["good"]), (other, blobs["wrong"])])
    proc = subprocess.Popen([str(exe), str(OBJ)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            env=_env(BTFEMBED_FORCE="1"))
    out, err = proc.communicate(timeout=60)
    if proc.returncode and "failed to open/load" in err:
        pytest.skip(f"this machine cannot load the program: {err[-300:]}")
    m = re.search(r"report: pid=(\d+) tgid=(\d+) ppid=(\d+) comm=(\S*) hits=(\d+)", out)
    assert proc.returncode == 0 and m, out + err
    assert (int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)) == \
        (proc.pid, proc.pid, os.getpid(), "bcc-tool")
    # The other kernel's blob (forced by key): wrong values, so the embedded BTF was used.
    proc = subprocess.Popen([str(exe), str(OBJ)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            env=_env(BTFEMBED_FORCE="1", BTFEMBED_KEY="debian/12/%s/6.1.0-50-amd64" % key.arch))
    out, err = proc.communicate(timeout=60)
    m = re.search(r"report: pid=(\d+) .* comm=(\S*)", out)
    assert m and (int(m.group(1)), m.group(2)) != (proc.pid, "bcc-tool"), out + err
