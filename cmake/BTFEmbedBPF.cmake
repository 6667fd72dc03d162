#[=======================================================================[.rst:
BTFEmbedBPF
-----------

Included by ``find_package(BTFEmbed)``; do not include it directly.

.. command:: btfembed_add_bpf_object

  Compile CO-RE BPF programs into the ``.bpf.o`` that
  ``btfembed_add_library`` embeds BTF for (and that libbpf loads)::

    btfembed_add_bpf_object(<name>
                            SOURCES <file.bpf.c>...
                            [VMLINUX_H sysfs|<btf-file>]
                            [SKELETON]
                            [ARCH <arch>]
                            [INCLUDE_DIRECTORIES <dir>...]
                            [COMPILE_OPTIONS <option>...]
                            [DEPENDS <file-or-target>...])

  Each source is compiled with::

    clang -g -O2 -target bpf -D__TARGET_ARCH_<arch> [-I<dir>]... [<option>]... -c <source> -o <object>

  run in the output directory below, with absolute paths (plus ``-MD -MF
  <depfile>``, which does not change the object: headers are tracked, so
  editing an included header rebuilds the object).  The debug info names
  the paths and the directory: add ``-fdebug-prefix-map=<dir>=.`` to
  ``COMPILE_OPTIONS`` for objects that do not depend on where they are
  built.  One
  source gives ``<name>.bpf.o`` directly; several are linked into it with
  ``bpftool gen object``.  Outputs are in
  ``${CMAKE_CURRENT_BINARY_DIR}/bpf/<name>/``.

  Creates the target ``<name>`` (built by ``all``) and sets, in the
  caller's scope, ``<name>_OBJECT`` (the object's path, to give to
  ``btfembed_add_library(... OBJECTS ${<name>_OBJECT})`` in the same
  directory or to load at run time), ``<name>_INCLUDE_DIR`` and, with
  ``SKELETON``, ``<name>_SKELETON``.  The target has the properties
  ``BTFEMBED_BPF_OBJECT`` and ``BTFEMBED_BPF_SKELETON``.

  ``SOURCES``
    BPF C sources; relative paths are relative to
    ``CMAKE_CURRENT_SOURCE_DIR``.

  ``VMLINUX_H``
    Generate ``vmlinux.h`` (every kernel type, as C) with ``bpftool btf dump
    file <btf> format c`` and put its directory first on the include path:
    ``sysfs`` dumps the build machine's ``/sys/kernel/btf/vmlinux``; a file
    is any BTF bpftool reads (raw BTF or an ELF ``vmlinux``).  Regenerated
    when that file changes.  Without it the sources declare the kernel
    types they use themselves (``__attribute__((preserve_access_index))``).

  ``SKELETON``
    Also generate ``<name>.skel.h`` with ``bpftool gen skeleton``, and an
    ``INTERFACE`` library ``<name>_skel`` that adds the header (and its
    directory) to what links it: ``target_link_libraries(app PRIVATE
    <name>_skel bpf)`` and ``#include "<name>.skel.h"``.

  ``ARCH``
    ``__TARGET_ARCH_<arch>`` for ``bpf_tracing.h`` (``PT_REGS_PARM1()``
    ...), as libbpf names it (``x86``, ``arm64``, ``arm``, ``powerpc``,
    ``s390``, ``riscv``, ``loongarch``, ``mips``, ``sparc``) or as a machine
    name (``x86_64``, ``aarch64``, ...).  Default: from
    ``CMAKE_SYSTEM_PROCESSOR``.  A BPF object reading registers is specific
    to one architecture; build one per architecture you ship.

  ``INCLUDE_DIRECTORIES``, ``COMPILE_OPTIONS``
    More ``-I`` directories (relative to ``CMAKE_CURRENT_SOURCE_DIR``) and
    compiler options, after the ones above.

  ``DEPENDS``
    Extra file or target dependencies of every compile step.

  The tools are ``BTFEMBED_CLANG`` and ``BTFEMBED_BPFTOOL`` (cache
  variables; found on ``PATH`` by default; bpftool only when needed).

  Example::

    find_package(BTFEmbed 0.1 REQUIRED)
    btfembed_add_bpf_object(probe SOURCES probe.bpf.c VMLINUX_H sysfs SKELETON)
    btfembed_add_library(probe_btf OBJECTS ${probe_OBJECT} KERNELS btfhub-archive sysfs)
    add_executable(loader loader.c)
    target_link_libraries(loader PRIVATE probe_skel probe_btf bpf)
#]=======================================================================]

include_guard(GLOBAL)

cmake_policy(PUSH)
cmake_policy(VERSION 3.20...4.4)

# _btfembed_bpf_arch(<out> <name>): libbpf's __TARGET_ARCH_ name.
function(_btfembed_bpf_arch out name)
  string(TOLOWER "${name}" n)
  if(n MATCHES "^(x86|arm64|arm|powerpc|s390|riscv|loongarch|mips|sparc|arc)$")
    set(arch "${n}")
  elseif(n MATCHES "^(x86_64|amd64|x64|i[3-6]86)$")
    set(arch x86)
  elseif(n MATCHES "^(aarch64|arm64e?)$")
    set(arch arm64)
  elseif(n MATCHES "^arm")
    set(arch arm)
  elseif(n MATCHES "^(ppc|powerpc)")
    set(arch powerpc)
  elseif(n MATCHES "^s390")
    set(arch s390)
  elseif(n MATCHES "^riscv")
    set(arch riscv)
  elseif(n MATCHES "^loongarch")
    set(arch loongarch)
  elseif(n MATCHES "^mips")
    set(arch mips)
  elseif(n MATCHES "^sparc")
    set(arch sparc)
  else()
    set(arch "")
  endif()
  set(${out} "${arch}" PARENT_SCOPE)
endfunction()

function(btfembed_add_bpf_object name)
  cmake_parse_arguments(PARSE_ARGV 1 arg
    "SKELETON"
    "VMLINUX_H;ARCH"
    "SOURCES;INCLUDE_DIRECTORIES;COMPILE_OPTIONS;DEPENDS")
  set(fn "btfembed_add_bpf_object(${name})")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${fn}: unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(arg_KEYWORDS_MISSING_VALUES)
    message(FATAL_ERROR "${fn}: no value for: ${arg_KEYWORDS_MISSING_VALUES}")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "${fn}: SOURCES is required (the BPF C sources)")
  endif()
  if(TARGET "${name}")
    message(FATAL_ERROR "${fn}: a target of that name already exists")
  endif()
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "${fn}: the name must be a C identifier (it names the skeleton's functions)")
  endif()

  if(DEFINED arg_ARCH)
    set(arch_in "${arg_ARCH}")
  else()
    set(arch_in "${CMAKE_SYSTEM_PROCESSOR}")
  endif()
  _btfembed_bpf_arch(arch "${arch_in}")
  if(arch STREQUAL "")
    message(FATAL_ERROR "${fn}: unknown architecture '${arch_in}'; give ARCH (x86, arm64, arm, powerpc, "
      "s390, riscv, loongarch, mips, sparc)")
  endif()

  find_program(BTFEMBED_CLANG NAMES clang DOC "clang used by btfembed_add_bpf_object")
  if(NOT BTFEMBED_CLANG)
    message(FATAL_ERROR "${fn}: clang not found; install it or set BTFEMBED_CLANG")
  endif()
  list(LENGTH arg_SOURCES n_sources)
  if(arg_VMLINUX_H OR arg_SKELETON OR n_sources GREATER 1)
    find_program(BTFEMBED_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin DOC "bpftool used by btfembed_add_bpf_object")
    if(NOT BTFEMBED_BPFTOOL)
      message(FATAL_ERROR "${fn}: bpftool not found (needed for VMLINUX_H, SKELETON or several SOURCES); "
        "install it or set BTFEMBED_BPFTOOL")
    endif()
  endif()

  set(dir "${CMAKE_CURRENT_BINARY_DIR}/bpf/${name}")
  file(MAKE_DIRECTORY "${dir}")
  set(object "${dir}/${name}.bpf.o")
  set(includes "")
  set(extra_deps ${arg_DEPENDS})

  if(arg_VMLINUX_H)
    set(vmlinux_h "${dir}/include/vmlinux.h")
    file(MAKE_DIRECTORY "${dir}/include")
    if(arg_VMLINUX_H STREQUAL "sysfs")
      set(btf "/sys/kernel/btf/vmlinux")
    else()
      set(btf "${arg_VMLINUX_H}")
      cmake_path(ABSOLUTE_PATH btf BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
    endif()
    # Written to a temporary first: an interrupted dump leaves no half file.
    add_custom_command(
      OUTPUT "${vmlinux_h}"
      COMMAND "${BTFEMBED_BPFTOOL}" btf dump file "${btf}" format c > "${vmlinux_h}.tmp"
      COMMAND "${CMAKE_COMMAND}" -E rename "${vmlinux_h}.tmp" "${vmlinux_h}"
      DEPENDS "${btf}"
      COMMENT "btfembed: vmlinux.h for ${name} from ${btf}"
      VERBATIM)
    list(APPEND includes "-I${dir}/include")
    list(APPEND extra_deps "${vmlinux_h}")
  endif()
  foreach(inc IN LISTS arg_INCLUDE_DIRECTORIES)
    cmake_path(ABSOLUTE_PATH inc BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
    list(APPEND includes "-I${inc}")
  endforeach()

  set(parts "")
  foreach(src IN LISTS arg_SOURCES)
    cmake_path(ABSOLUTE_PATH src BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE OUTPUT_VARIABLE abs)
    cmake_path(GET abs FILENAME shown)
    if(n_sources EQUAL 1)
      set(out "${object}")
    else()
      cmake_path(GET abs STEM LAST_ONLY stem)
      set(out "${dir}/parts/${stem}.o")
      file(MAKE_DIRECTORY "${dir}/parts")
    endif()
    add_custom_command(
      OUTPUT "${out}"
      COMMAND "${BTFEMBED_CLANG}" -g -O2 -target bpf "-D__TARGET_ARCH_${arch}" ${includes} ${arg_COMPILE_OPTIONS}
              -MD -MF "${out}.d" -c "${abs}" -o "${out}"
      DEPENDS "${abs}" ${extra_deps}
      DEPFILE "${out}.d"
      WORKING_DIRECTORY "${dir}"
      COMMENT "btfembed: compiling BPF ${shown} (${arch})"
      VERBATIM
      COMMAND_EXPAND_LISTS)
    list(APPEND parts "${out}")
  endforeach()
  if(n_sources GREATER 1)
    add_custom_command(
      OUTPUT "${object}"
      COMMAND "${BTFEMBED_BPFTOOL}" gen object "${object}" ${parts}
      DEPENDS ${parts}
      COMMENT "btfembed: linking BPF object ${name}.bpf.o"
      VERBATIM)
  endif()

  set(outputs "${object}")
  if(arg_SKELETON)
    set(skeleton "${dir}/${name}.skel.h")
    add_custom_command(
      OUTPUT "${skeleton}"
      COMMAND "${BTFEMBED_BPFTOOL}" gen skeleton "${object}" name "${name}" > "${skeleton}.tmp"
      COMMAND "${CMAKE_COMMAND}" -E rename "${skeleton}.tmp" "${skeleton}"
      DEPENDS "${object}"
      COMMENT "btfembed: BPF skeleton ${name}.skel.h"
      VERBATIM)
    list(APPEND outputs "${skeleton}")
  endif()

  add_custom_target("${name}" ALL DEPENDS ${outputs})
  set_target_properties("${name}" PROPERTIES BTFEMBED_BPF_OBJECT "${object}")
  set(${name}_OBJECT "${object}" PARENT_SCOPE)
  set(${name}_INCLUDE_DIR "${dir}" PARENT_SCOPE)
  if(arg_SKELETON)
    set_target_properties("${name}" PROPERTIES BTFEMBED_BPF_SKELETON "${skeleton}")
    set(${name}_SKELETON "${skeleton}" PARENT_SCOPE)
    add_library("${name}_skel" INTERFACE)
    target_sources("${name}_skel" INTERFACE "${skeleton}")
    target_include_directories("${name}_skel" INTERFACE "$<BUILD_INTERFACE:${dir}>")
    add_dependencies("${name}_skel" "${name}")
  endif()
endfunction()

cmake_policy(POP)
