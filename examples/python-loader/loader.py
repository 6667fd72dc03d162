#!/usr/bin/env python3
"""Load a CO-RE BPF program from Python with BTF embedded by btfembed.

The generated module (``btfembed generate btf.pack --lang python --output
example_pkg/_btf.py``) picks the embedded BTF of the running kernel and
yields a ``btf_custom_path``; this script hands it to libbpf through ctypes
(libbpf.so.1, no Python BPF library needed), loads and attaches
task_report.bpf.o (see ../c-loader), makes a few system calls and prints
what the BPF program read from its task_struct -- like ../c-loader/loader.c:

    btfembed: status=embedded key=x86_64/debian/12/6.1.0-50-amd64 exact=True path=/proc/self/fd/5
    report: pid=1234 tgid=1234 ppid=1200 comm=loader.py hits=3

usage: loader.py [--module NAME] [--path DIR] [--force] [--no-memfd] [--comm NAME] [OBJECT]

``--module`` names the generated module (default ``example_pkg._btf``), found
on ``sys.path`` or in ``--path DIR``.  Needs root (or CAP_BPF+CAP_PERFMON).
Only the standard library and libbpf.so.1 are used: btfembed itself need not
be installed.
"""

import argparse
import contextlib
import ctypes
import ctypes.util
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OBJECT = os.path.join(HERE, "..", "c-loader", "task_report.bpf.o")


class OpenOpts(ctypes.Structure):
    """struct bpf_object_open_opts up to btf_custom_path (libbpf >= 0.6);
    ``sz`` tells libbpf how much of it we know."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("object_name", ctypes.c_char_p),
        ("relaxed_maps", ctypes.c_bool),
        ("pin_root_path", ctypes.c_char_p),
        ("attach_prog_fd", ctypes.c_uint32),  # removed field, kept for layout
        ("kconfig", ctypes.c_char_p),
        ("btf_custom_path", ctypes.c_char_p),
    ]


class Report(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint32), ("tgid", ctypes.c_uint32), ("ppid", ctypes.c_uint32),
                ("hits", ctypes.c_uint32), ("comm", ctypes.c_char * 16)]


def libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1", use_errno=True)
    vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, res, args in [
        ("bpf_object__open_file", vp, [cp, ctypes.POINTER(OpenOpts)]),
        ("bpf_object__load", ci, [vp]),
        ("bpf_object__close", None, [vp]),
        ("bpf_object__find_program_by_name", vp, [vp, cp]),
        ("bpf_object__find_map_fd_by_name", ci, [vp, cp]),
        ("bpf_program__attach", vp, [vp]),
        ("bpf_link__destroy", ci, [vp]),
        ("bpf_map_update_elem", ci, [ci, vp, vp, ctypes.c_uint64]),
        ("bpf_map_lookup_elem", ci, [ci, vp, vp]),
    ]:
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def load_and_report(btf_custom_path: "str | None", obj_path: str) -> Report:
    """Open, load and attach the program, trigger it, return its report."""
    lib = libbpf()
    opts = OpenOpts()
    opts.sz = ctypes.sizeof(OpenOpts)
    opts.btf_custom_path = btf_custom_path.encode() if btf_custom_path else None
    obj = lib.bpf_object__open_file(obj_path.encode(), ctypes.byref(opts))
    if not obj:
        raise OSError(ctypes.get_errno(), f"cannot open {obj_path}")
    link = None
    try:
        err = lib.bpf_object__load(obj)
        if err:
            raise OSError(-err, f"cannot load {obj_path}: {os.strerror(-err)}")
        prog = lib.bpf_object__find_program_by_name(obj, b"report_task")
        target_fd = lib.bpf_object__find_map_fd_by_name(obj, b"target")
        report_fd = lib.bpf_object__find_map_fd_by_name(obj, b"report")
        if not prog or target_fd < 0 or report_fd < 0:
            raise RuntimeError(f"{obj_path}: program or maps missing")
        link = lib.bpf_program__attach(prog)
        if not link:
            raise OSError(ctypes.get_errno(), "cannot attach")
        zero, me = ctypes.c_uint32(0), ctypes.c_uint32(os.getpid())
        if lib.bpf_map_update_elem(target_fd, ctypes.byref(zero), ctypes.byref(me), 0):
            raise OSError(ctypes.get_errno(), "cannot set the target")
        for _ in range(3):
            os.getppid()
        rep = Report()
        if lib.bpf_map_lookup_elem(report_fd, ctypes.byref(zero), ctypes.byref(rep)):
            raise OSError(ctypes.get_errno(), "cannot read the report")
        return rep
    finally:
        if link:
            lib.bpf_link__destroy(link)
        lib.bpf_object__close(obj)


def set_comm(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(15, name.encode()[:15], 0, 0, 0) != 0:  # PR_SET_NAME
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def show_comm(raw: bytes) -> str:
    return "".join(chr(c) if 0x20 < c < 0x7F and c != 0x5C else f"\\x{c:02x}" for c in raw)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("object", nargs="?", default=DEFAULT_OBJECT)
    ap.add_argument("--module", default="example_pkg._btf", help="the generated module")
    ap.add_argument("--path", help="directory to import the module from")
    ap.add_argument("--force", action="store_true", help="use the embedded BTF even if the kernel has BTF")
    ap.add_argument("--no-memfd", action="store_true", help="use a temporary file instead of a memfd")
    ap.add_argument("--comm", help="set this process's name first")
    args = ap.parse_args(argv)
    if args.path:
        sys.path.insert(0, args.path)
    btf = importlib.import_module(args.module)
    if args.comm:
        set_comm(args.comm)

    # Stale-object guard: the pack records the .BTF/.BTF.ext digest of every
    # object it was built for; a rebuilt object needs a rebuilt pack.
    with open(args.object, "rb") as f:
        try:
            checked = btf.check_object(f.read())
        except btf.StaleObjectError as exc:
            print(f"{args.object}: {exc}", file=sys.stderr)
            return 1
    print(f"btfembed: object check {args.object}: {'built for this object' if checked else 'not recorded'}")

    # btf.btf_path(force=...) does both steps; split here to print the status.
    found = btf.lookup(force=args.force)
    holder = btf.blob_path(found.blob, memfd=not args.no_memfd) if found.blob else contextlib.nullcontext()
    with holder as path:
        print(f"btfembed: status={found.status} key={'/'.join(found.key)} exact={found.exact} "
              f"path={path or '(none)'}", flush=True)
        if found.status in (btf.NO_MATCH, btf.AMBIGUOUS):
            print(f"warning: {btf.describe(found.status)}; trying without", file=sys.stderr)
        rep = load_and_report(path, args.object)
    print(f"report: pid={rep.pid} tgid={rep.tgid} ppid={rep.ppid} comm={show_comm(rep.comm)} hits={rep.hits}")
    return 0 if rep.hits else 3


if __name__ == "__main__":
    sys.exit(main())
