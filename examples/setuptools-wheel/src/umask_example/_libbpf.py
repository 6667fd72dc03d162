"""Just enough libbpf (libbpf.so.1 through ctypes) to load, attach and
trigger umask_report.bpf.o; no Python BPF library needed."""

import ctypes
import ctypes.util
import os


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
    """struct umask_report of umask_report.bpf.c."""

    _fields_ = [("umask", ctypes.c_uint32), ("pid", ctypes.c_uint32), ("ppid", ctypes.c_uint32),
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


def load_and_report(btf_custom_path, obj_path: str) -> Report:
    """Open (with ``btf_custom_path``; None: the kernel's BTF), load and
    attach the program, trigger it from this process, return its report."""
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
        prog = lib.bpf_object__find_program_by_name(obj, b"report_umask")
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
