#[=======================================================================[.rst:
BTFEmbedFunctions
-----------------

Included by ``find_package(BTFEmbed)``; do not include it directly.

.. command:: btfembed_add_library

  Tailor kernel BTF to the CO-RE relocations of BPF objects, for a list of
  kernels, and build the result into a static library::

    btfembed_add_library(<target>
                         OBJECTS <bpf-object>...
                         KERNELS <kernel-source>...
                         [CODEC zlib|xz|zstd|none]
                         [PREFIX <c-prefix>]
                         [OUTPUT_NAME <name>]
                         [CACHE_DIR <dir>]
                         [DEPENDS <file-or-target>...]
                         [OPTIONS <btfembed-build-option>...])

  At build time this runs ``btfembed build <objects> --kernels <src>...
  --emit c --output <name> --prefix <c-prefix> --depfile <name>.d``
  through ``add_custom_command(... DEPFILE ...)`` and compiles the
  generated ``<name>.c`` into ``<target>``, a ``STATIC`` library with
  ``POSITION_INDEPENDENT_CODE`` on (so it links into shared objects and
  Python extension modules as well as executables).  Consumers get:

  * ``#include "<name>.h"`` (``PUBLIC`` include directory), which declares
    ``<c-prefix>_btf_path(&btf)``, ``<c-prefix>_btf_path_opts(&btf, &opts)``
    and ``<c-prefix>_btf_table``, and includes ``btfembed.h`` (the runtime:
    ``btfembed_release()``, ``btfembed_strerror()``, the return codes);
  * ``BTFEmbed::runtime`` (linked ``PUBLIC``): the runtime's include
    directory;
  * the codec's library, linked ``PRIVATE``: zlib (``ZLIB::ZLIB``) by
    default, liblzma (``LibLZMA::LibLZMA``) for xz, libzstd for zstd,
    nothing for none.

  The step reruns when a BPF object, a kernel file, a kernel directory
  (kernels added or removed) or the command line changes, and never
  otherwise: the tool writes a depfile listing every input.

  ``OBJECTS``
    BPF objects (``clang -target bpf`` output).  Relative paths are relative
    to ``CMAKE_CURRENT_SOURCE_DIR``.  Objects built by a custom command in
    another directory also need that command's target in ``DEPENDS``.

  ``KERNELS``
    Kernel sources, each passed as ``--kernels``: a BTFHub archive tree or a
    directory of BTF files (with an optional ``MANIFEST.tsv``), a manifest
    (``.tsv``/``.toml``), ``FILE=DISTRO/VERSION/ARCH/RELEASE``, or ``sysfs``
    (the kernel of the build machine).  Relative paths are relative to
    ``CMAKE_CURRENT_SOURCE_DIR``.

  ``CODEC``
    Compression of the embedded pack (``--codec``): ``zlib`` (default),
    ``xz`` (smallest), ``zstd`` or ``none``.  ``COMPRESS`` is the older
    spelling of ``CODEC zlib``.

  ``PREFIX``
    Prefix of the generated C symbols.  Default: ``<target>`` made a C
    identifier, without a trailing ``_btf`` (target ``probe_btf``: prefix
    ``probe``, function ``probe_btf_path()``).

  ``OUTPUT_NAME``
    Base name of the generated ``.c``/``.h``.  Default: ``<target>``.  They
    are written to ``${CMAKE_CURRENT_BINARY_DIR}/btfembed/<target>/``,
    together with the per-kernel BTF files (``btf/``) and the depfile.

  ``CACHE_DIR``
    btfembed's result cache.  Default: ``${BTFEMBED_CACHE_DIR}`` if set,
    else ``${CMAKE_BINARY_DIR}/btfembed-cache`` (shared by all targets of
    the build tree; safe for concurrent use).

  ``DEPENDS``
    Extra file or target dependencies of the generation step.

  ``OPTIONS``
    More ``btfembed build`` options, e.g. ``--arch x86_64``,
    ``--release 5.15.*``, ``--fail-on ambiguous``, ``--jobs 2``.

  The tool is the one found by ``find_package(BTFEmbed)`` (see
  ``BTFEmbed_COMMAND`` in ``BTFEmbedConfig.cmake``); it runs in
  ``${CMAKE_CURRENT_BINARY_DIR}/btfembed/<target>``, so no
  ``btfembed.toml`` is picked up.  Avoid ``#`` and ``$`` in input paths:
  with Ninja, CMake up to at least 4.2 mangles them in depfiles (the step
  then reruns on every build; fixed in 4.4).

  Example::

    find_package(BTFEmbed 0.1 REQUIRED)
    btfembed_add_library(probe_btf
      OBJECTS probe.bpf.o
      KERNELS btfhub-archive/ubuntu sysfs
      PREFIX probe)
    add_executable(loader loader.c)
    target_link_libraries(loader PRIVATE probe_btf bpf)
    # loader.c: #include "probe_btf.h" ... probe_btf_path(&btf) ...
#]=======================================================================]

include_guard(GLOBAL)

# Functions record the policy settings in force where they are defined:
# give btfembed_add_library the modern ones (CMP0116: Ninja depfile paths
# are transformed) whatever cmake_minimum_required the project uses.
cmake_policy(PUSH)
cmake_policy(VERSION 3.20...4.4)

function(btfembed_add_library target)
  cmake_parse_arguments(PARSE_ARGV 1 arg
    "COMPRESS"
    "PREFIX;OUTPUT_NAME;CACHE_DIR;CODEC"
    "OBJECTS;KERNELS;DEPENDS;OPTIONS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "btfembed_add_library(${target}): unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(arg_KEYWORDS_MISSING_VALUES)
    message(FATAL_ERROR "btfembed_add_library(${target}): no value for: ${arg_KEYWORDS_MISSING_VALUES}")
  endif()
  if(NOT arg_OBJECTS)
    message(FATAL_ERROR "btfembed_add_library(${target}): OBJECTS is required (the BPF objects)")
  endif()
  if(NOT arg_KERNELS)
    message(FATAL_ERROR "btfembed_add_library(${target}): KERNELS is required (kernel sources, or sysfs)")
  endif()
  if(TARGET "${target}")
    message(FATAL_ERROR "btfembed_add_library(${target}): a target of that name already exists")
  endif()
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "C" IN_LIST languages)
    message(FATAL_ERROR "btfembed_add_library(${target}): the generated sources are C; "
      "enable C with project(... LANGUAGES C ...) or enable_language(C)")
  endif()

  # The tool (BTFEmbedConfig.cmake also records it globally, for calls from
  # directories that did not run find_package themselves).
  if(DEFINED BTFEmbed_COMMAND)
    set(command ${BTFEmbed_COMMAND})
  else()
    get_property(command GLOBAL PROPERTY BTFEMBED_COMMAND)
  endif()
  if(NOT command)
    message(FATAL_ERROR "btfembed_add_library(${target}): call find_package(BTFEmbed) first")
  endif()
  if(NOT TARGET BTFEmbed::runtime)
    message(FATAL_ERROR "btfembed_add_library(${target}): BTFEmbed::runtime is not visible here; "
      "call find_package(BTFEmbed) in this directory or a parent")
  endif()

  if(DEFINED arg_PREFIX)
    set(prefix "${arg_PREFIX}")
  else()
    string(MAKE_C_IDENTIFIER "${target}" prefix)
    string(REGEX REPLACE "(.)_btf$" "\\1" prefix "${prefix}")
  endif()
  if(DEFINED arg_OUTPUT_NAME)
    set(name "${arg_OUTPUT_NAME}")
  else()
    set(name "${target}")
  endif()
  if(name MATCHES "/" OR name STREQUAL "")
    message(FATAL_ERROR "btfembed_add_library(${target}): OUTPUT_NAME must be a plain file name")
  endif()
  if(DEFINED arg_CACHE_DIR)
    set(cache_dir "${arg_CACHE_DIR}")
  elseif(DEFINED BTFEMBED_CACHE_DIR AND NOT BTFEMBED_CACHE_DIR STREQUAL "")
    set(cache_dir "${BTFEMBED_CACHE_DIR}")
  else()
    set(cache_dir "${CMAKE_BINARY_DIR}/btfembed-cache")
  endif()
  cmake_path(ABSOLUTE_PATH cache_dir BASE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}" NORMALIZE)

  set(objects "")
  foreach(obj IN LISTS arg_OBJECTS)
    if(NOT obj MATCHES "^\\$<")
      cmake_path(ABSOLUTE_PATH obj BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
    endif()
    list(APPEND objects "${obj}")
  endforeach()

  set(kernel_args "")
  foreach(kernel IN LISTS arg_KERNELS)
    if(kernel STREQUAL "sysfs")
      list(APPEND kernel_args --kernels sysfs)
    elseif(kernel MATCHES "^(.+)=([^=/]*/[^=/]*/[^=/]*/[^=/]+)$")
      # FILE=DISTRO/VERSION/ARCH/RELEASE: only FILE is a path.
      set(file "${CMAKE_MATCH_1}")
      set(key "${CMAKE_MATCH_2}")
      cmake_path(ABSOLUTE_PATH file BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
      list(APPEND kernel_args --kernels "${file}=${key}")
    else()
      cmake_path(ABSOLUTE_PATH kernel BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
      list(APPEND kernel_args --kernels "${kernel}")
    endif()
  endforeach()

  set(dir "${CMAKE_CURRENT_BINARY_DIR}/btfembed/${target}")
  set(c_file "${dir}/${name}.c")
  set(h_file "${dir}/${name}.h")
  set(depfile "${dir}/${name}.d")
  set(codec zlib)
  if(arg_CODEC)
    set(codec "${arg_CODEC}")
  endif()
  if(NOT codec MATCHES "^(zlib|xz|zstd|none)$")
    message(FATAL_ERROR "btfembed_add_library(${target}): CODEC must be zlib, xz, zstd or none, not ${codec}")
  endif()
  file(MAKE_DIRECTORY "${dir}")

  add_custom_command(
    OUTPUT "${c_file}" "${h_file}"
    COMMAND ${command} build ${objects} ${kernel_args}
            --out-dir "${dir}/btf" --cache-dir "${cache_dir}"
            --emit c --output "${dir}/${name}" --prefix "${prefix}"
            --depfile "${depfile}" --quiet --codec ${codec} ${arg_OPTIONS}
    DEPENDS ${objects} ${arg_DEPENDS}
    DEPFILE "${depfile}"
    WORKING_DIRECTORY "${dir}"
    COMMENT "btfembed: tailoring kernel BTF for ${target}"
    VERBATIM
    COMMAND_EXPAND_LISTS)

  add_library("${target}" STATIC "${c_file}" "${h_file}")
  set_target_properties("${target}" PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    LINKER_LANGUAGE C)
  target_include_directories("${target}" PUBLIC "$<BUILD_INTERFACE:${dir}>")
  target_link_libraries("${target}" PUBLIC BTFEmbed::runtime)
  if(codec STREQUAL "zlib")
    find_package(ZLIB REQUIRED)
    target_link_libraries("${target}" PRIVATE ZLIB::ZLIB)
  elseif(codec STREQUAL "xz")
    find_package(LibLZMA REQUIRED)
    target_link_libraries("${target}" PRIVATE LibLZMA::LibLZMA)
  elseif(codec STREQUAL "zstd")
    find_library(BTFEMBED_ZSTD_LIBRARY zstd REQUIRED)
    target_link_libraries("${target}" PRIVATE "${BTFEMBED_ZSTD_LIBRARY}")
  endif()
endfunction()

cmake_policy(POP)
