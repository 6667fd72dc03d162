"""btfembed's CMake package (``find_package(BTFEmbed)``).

This directory holds ``BTFEmbedConfig.cmake``, ``BTFEmbedConfigVersion.cmake``
and ``BTFEmbedFunctions.cmake``.  It is a package only so that the
``cmake.root`` entry point (``BTFEmbed = "btfembed.cmake"``) can name it:
scikit-build-core then passes ``-DBTFEmbed_ROOT=<this directory>``.  Outside
scikit-build-core, use ``-DBTFEmbed_ROOT="$(btfembed --cmakedir)"``.
"""
