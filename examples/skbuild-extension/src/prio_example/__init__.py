"""btfembed example: a C extension (``_core``) that loads a CO-RE BPF
program with libbpf, using kernel BTF embedded at build time through
CMake's ``find_package(BTFEmbed)`` + ``btfembed_add_library``.

    >>> import prio_example
    >>> prio_example.kernels()            # kernels with embedded BTF
    >>> prio_example.lookup(force=True)   # (0, 'embedded BTF selected ...', key, entry, exact)
    >>> prio_example.report(force=True)   # root: load, renice, trigger, read
"""

from importlib import resources

from ._core import AMBIGUOUS, KERNEL_BTF, NO_MATCH, OK, kernels, lookup
from ._core import report as _report

__all__ = ["OK", "KERNEL_BTF", "NO_MATCH", "AMBIGUOUS", "OBJECT", "object_path", "kernels", "lookup", "report"]

OBJECT = "prio_report.bpf.o"


def object_path() -> str:
    """The BPF object installed with this package."""
    return str(resources.files(__name__).joinpath(OBJECT))


def report(force: bool = False, nice: int = 7) -> dict:
    """Load the program (embedded BTF; ``force``: even if the kernel has
    BTF), set this thread's nice value, trigger and return what it read:
    static_prio is 120 + nice."""
    return _report(object_path(), force=force, nice=nice)
