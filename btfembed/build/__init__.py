"""The build pipeline: kernel lists (``kernels``), typed settings
(``settings``), the content-addressed cache (``cache``), the parallel run
(``pipeline``) and its reports (``report``).

May import every layer below it: ``errors``, ``btf``, ``core``, ``inputs``,
``minimize``, ``embed``.
"""

# Also the public function ``btfembed.build`` (see ``btfembed._entry``).
from btfembed._entry import make_callable as _make_callable

_make_callable(__name__, "btfembed.build.run", "build")
