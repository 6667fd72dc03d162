"""The build pipeline: kernel lists (``kernels``), typed settings
(``settings``), the content-addressed cache (``cache``), the parallel run
(``pipeline``) and its reports (``report``).

May import every layer below it: ``errors``, ``btf``, ``core``, ``inputs``,
``minimize``, ``embed``.
"""
