"""Minimization: which kernel types and members the relocations reach
(``marks``), writing the minimized BTF (``blob``), and the check-and-widen
loop (``engine``: ``analyze``, ``assemble``, ``minimize``), the widening
levels (``levels``) and the library face (``api``: ``minimize``, ``explain``,
``verify``).  The package itself is callable: ``btfembed.minimize(...)`` is
``btfembed.minimize.api.minimize``.

May import: ``btfembed.errors``, ``btfembed.btf``, ``btfembed.core`` (and
``btfembed.inputs`` by layer order, which it does not need).
Takes objects through the ``core.CoreObject`` protocol, so it runs on bytes
without any ELF code.
"""

# Also the public function ``btfembed.minimize`` (see ``btfembed._entry``).
from btfembed._entry import make_callable as _make_callable

_make_callable(__name__, "btfembed.minimize.api", "minimize")
