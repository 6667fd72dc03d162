"""The build pipeline: kernel lists (``kernels``), typed settings
(``settings``), the content-addressed cache (``cache``), the parallel run
(``pipeline``) and its reports (``report``); ``run`` (``build(settings)``:
settings to a ``BuildResult``) and ``outputs`` (``write_outputs``: the
per-kernel files, pack, reports and generated sources).  The package itself
is callable: ``btfembed.build(settings)`` is ``btfembed.build.run.build``.

May import every layer below it: ``errors``, ``btf``, ``core``, ``inputs``,
``minimize``, ``embed``.
"""

# Also the public function ``btfembed.build`` (see ``btfembed._entry``).
from btfembed._entry import make_callable as _make_callable

_make_callable(__name__, "btfembed.build.run", "build")
