"""Build-system glue that only calls the library: the setuptools hook
(``setuptools``).  The CMake package and the Meson subproject are the
``btfembed.cmake`` and ``btfembed.meson`` packages (the repository's
top-level ``cmake/`` and ``meson/``).

May import: ``btfembed.build``, ``btfembed.embed`` and below.
"""
