"""btfembed example: load a CO-RE BPF program with kernel BTF embedded in
this package.

``_btf`` (``_btf.py`` + ``_btf.btfpack``) is generated at build time by
btfembed's setuptools hook from ``[tool.btfembed]`` in pyproject.toml; it
needs only the standard library.  ``umask_report.bpf.o`` reads the current
task's umask, pid, parent and comm through CO-RE (see umask_report.bpf.c).

    >>> import umask_example
    >>> umask_example.kernels()             # the kernels with embedded BTF
    >>> umask_example.report(force=True)    # root: load with the embedded BTF
"""

import os
from importlib import resources

from . import _btf

__all__ = ["OBJECT", "object_path", "kernels", "lookup", "report"]

OBJECT = "umask_report.bpf.o"


def object_path() -> str:
    """The BPF object shipped in this package."""
    return str(resources.files(__name__).joinpath(OBJECT))


def kernels() -> list:
    """(arch, distro, distro_version, release) of every embedded kernel."""
    return _btf.kernels()


def lookup(force: bool = False):
    """What the embedded BTF offers for the running kernel (a ``Lookup``)."""
    return _btf.lookup(force=force)


def report(force: bool = False, umask: int = 0o027) -> dict:
    """Load and attach the program with ``btf_custom_path`` from the embedded
    BTF (``force``: even if the kernel has its own BTF; BTFEMBED_FORCE=1 does
    the same), set this process's umask, trigger a few system calls and
    return what the program read.  Needs root (or CAP_BPF + CAP_PERFMON)."""
    from ._libbpf import load_and_report

    found = _btf.lookup(force=force)
    with _btf.btf_path(force=force) as path:
        old = os.umask(umask)
        try:
            rep = load_and_report(path, object_path())
        finally:
            os.umask(old)
    return {
        "status": found.status,
        "key": "/".join(found.key),
        "btf_custom_path": path,
        "umask": rep.umask,
        "pid": rep.pid,
        "ppid": rep.ppid,
        "comm": rep.comm.decode("ascii", "backslashreplace"),
        "hits": rep.hits,
    }
