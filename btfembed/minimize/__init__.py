"""Minimization: which kernel types and members the relocations reach
(``marks``), writing the minimized BTF (``blob``), and the check-and-widen
loop (``engine``: ``analyze``, ``assemble``, ``minimize``).

May import: ``btfembed.errors``, ``btfembed.btf``, ``btfembed.core``.
Takes objects through the ``core.CoreObject`` protocol, so it runs on bytes
without any ELF code.
"""

# Also the public function ``btfembed.minimize`` (see ``btfembed._entry``).
from btfembed._entry import make_callable as _make_callable

_make_callable(__name__, "btfembed.minimize.api", "minimize")
