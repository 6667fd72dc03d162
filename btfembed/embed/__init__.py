"""Embedding: kernel keys and the rules that pick one at run time
(``keys``, ``runtime``), the pack file (``pack``), generated sources
(``codegen``), ``generate`` (a pack to sources, the library face of
``btfembed generate``) and the C runtime (``include/``).

``runtime`` is standalone (stdlib only): it is copied into generated Python
modules.  May import: ``btfembed.errors``, ``btfembed.btf``, ``btfembed.core``,
``btfembed.inputs`` (file access), ``btfembed.minimize`` by layer order.
"""
