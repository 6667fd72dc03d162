# BTFEmbedConfig.cmake - find_package(BTFEmbed [version] [REQUIRED]).
#
# Shipped inside the btfembed Python package (btfembed/cmake).  Found:
#
# * in scikit-build-core builds that list btfembed in build-system.requires,
#   through the ``cmake.root`` entry point (scikit-build-core sets
#   BTFEmbed_ROOT to this directory, also under build isolation);
# * in plain CMake with ``-DBTFEmbed_ROOT="$(btfembed --cmakedir)"``, or with
#   the site-packages directory holding btfembed in CMAKE_PREFIX_PATH.
#
# Provides (see BTFEmbedFunctions.cmake for the function's documentation):
#
#   btfembed_add_library(<target> OBJECTS ... KERNELS ... [COMPRESS] ...)
#   btfembed_add_bpf_object(<name> SOURCES ... [VMLINUX_H sysfs|FILE] [SKELETON] [ARCH ...])
#                            (BTFEmbedBPF.cmake: clang -target bpf, vmlinux.h, skeletons)
#   BTFEmbed::runtime        INTERFACE IMPORTED target: the C runtime's
#                            include directory (btfembed.h, btfembed.c)
#   BTFEmbed_COMMAND         how the tool is run (a list, e.g.
#                            /usr/bin/python3;-m;btfembed)
#   BTFEmbed_VERSION         the version of this package (and of the tool)
#   BTFEmbed_INCLUDE_DIR     the runtime's include directory
#   BTFEmbed_CMAKE_DIR       this directory
#
# The tool run by the build is the btfembed this file belongs to, found in
# this order:
#
#   1. BTFEMBED_EXECUTABLE (CMake or environment variable; a list such as
#      "/opt/py/bin/python3;-m;btfembed" is fine), used as given;
#   2. ${Python_EXECUTABLE} / ${Python3_EXECUTABLE} / ${PYTHON_EXECUTABLE}
#      -m btfembed, if that interpreter imports this same btfembed;
#   3. the btfembed console script installed next to this package
#      (<prefix>/bin/btfembed for <prefix>/lib/pythonX.Y/site-packages);
#   4. btfembed on PATH.
#
# "The same btfembed" means its --cmakedir is this directory.  Candidates 3
# and 4 that belong to another copy are used only as a last resort, with a
# warning.  The version (--version) must match this package's version.

if(CMAKE_VERSION VERSION_LESS 3.20)
  set(BTFEmbed_FOUND FALSE)
  set(BTFEmbed_NOT_FOUND_MESSAGE "BTFEmbed requires CMake 3.20 or newer (DEPFILE support for all \
generators); this is CMake ${CMAKE_VERSION}.  Install a newer CMake, e.g. 'pip install cmake'.")
  return()
endif()

get_filename_component(BTFEmbed_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}" REALPATH)
if(NOT DEFINED BTFEmbed_VERSION OR "${BTFEmbed_VERSION}" STREQUAL "")
  include("${CMAKE_CURRENT_LIST_DIR}/BTFEmbedConfigVersion.cmake")
  set(BTFEmbed_VERSION "${PACKAGE_VERSION}")
endif()

# _btfembed_probe(<out-prefix> <command>...): run "<command> --cmakedir
# --includedir" and "<command> --version".  Sets <out-prefix>_OK,
# _SAME (its cmakedir is this directory), _INCLUDE_DIR, _VERSION, _ERROR.
function(_btfembed_probe out)
  set(cmd ${ARGN})
  set(${out}_OK FALSE PARENT_SCOPE)
  set(${out}_SAME FALSE PARENT_SCOPE)
  execute_process(COMMAND ${cmd} --cmakedir --includedir
    RESULT_VARIABLE rc OUTPUT_VARIABLE dirs ERROR_VARIABLE err
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " shown "${cmd}")
    set(${out}_ERROR "'${shown} --cmakedir' failed (${rc}): ${err}" PARENT_SCOPE)
    return()
  endif()
  string(REPLACE "\n" ";" dirs "${dirs}")
  list(LENGTH dirs n)
  if(NOT n EQUAL 2)
    set(${out}_ERROR "unexpected output of --cmakedir --includedir: ${dirs}" PARENT_SCOPE)
    return()
  endif()
  list(GET dirs 0 cmakedir)
  list(GET dirs 1 includedir)
  execute_process(COMMAND ${cmd} --version
    RESULT_VARIABLE rc OUTPUT_VARIABLE version ERROR_VARIABLE err
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0 OR NOT version MATCHES "^btfembed ([^ \n]+)")
    set(${out}_ERROR "--version failed (${rc}): ${version}${err}" PARENT_SCOPE)
    return()
  endif()
  set(${out}_VERSION "${CMAKE_MATCH_1}" PARENT_SCOPE)
  get_filename_component(cmakedir "${cmakedir}" REALPATH)
  if(cmakedir STREQUAL BTFEmbed_CMAKE_DIR)
    set(${out}_SAME TRUE PARENT_SCOPE)
  endif()
  set(${out}_CMAKEDIR "${cmakedir}" PARENT_SCOPE)
  set(${out}_INCLUDE_DIR "${includedir}" PARENT_SCOPE)
  set(${out}_OK TRUE PARENT_SCOPE)
endfunction()

set(_btfembed_candidates "")
set(_btfembed_tried "")
set(_btfembed_fallback "")
unset(BTFEmbed_COMMAND)
unset(_btfembed_include)

if(DEFINED BTFEMBED_EXECUTABLE AND NOT "${BTFEMBED_EXECUTABLE}" STREQUAL "")
  set(_btfembed_override "${BTFEMBED_EXECUTABLE}")
elseif(NOT "$ENV{BTFEMBED_EXECUTABLE}" STREQUAL "")
  set(_btfembed_override "$ENV{BTFEMBED_EXECUTABLE}")
else()
  set(_btfembed_override "")
endif()

if(_btfembed_override)
  _btfembed_probe(_btfembed_p ${_btfembed_override})
  if(NOT _btfembed_p_OK)
    set(BTFEmbed_FOUND FALSE)
    set(BTFEmbed_NOT_FOUND_MESSAGE "BTFEMBED_EXECUTABLE='${_btfembed_override}' does not run: ${_btfembed_p_ERROR}")
    return()
  endif()
  set(BTFEmbed_COMMAND ${_btfembed_override})
  set(_btfembed_include "${_btfembed_p_INCLUDE_DIR}")
  set(_btfembed_tool_version "${_btfembed_p_VERSION}")
else()
  # 2. The interpreter(s) the project (or scikit-build-core) chose.
  foreach(_btfembed_py IN ITEMS "${Python_EXECUTABLE}" "${Python3_EXECUTABLE}" "${PYTHON_EXECUTABLE}")
    if(NOT _btfembed_py STREQUAL "" AND EXISTS "${_btfembed_py}")
      list(APPEND _btfembed_candidates "${_btfembed_py}|-m|btfembed")
    endif()
  endforeach()
  # 3. The console script installed with this package:
  #    <prefix>/lib/pythonX.Y/site-packages/btfembed/cmake -> <prefix>/bin.
  get_filename_component(_btfembed_prefix "${CMAKE_CURRENT_LIST_DIR}/../../../../.." ABSOLUTE)
  if(EXISTS "${_btfembed_prefix}/bin/btfembed")
    list(APPEND _btfembed_candidates "${_btfembed_prefix}/bin/btfembed")
  endif()
  # 4. PATH (find_program caches its result: drop it, PATH may change).
  find_program(_BTFEMBED_ON_PATH NAMES btfembed NO_PACKAGE_ROOT_PATH NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH
    NO_CMAKE_SYSTEM_PATH)
  if(_BTFEMBED_ON_PATH)
    list(APPEND _btfembed_candidates "${_BTFEMBED_ON_PATH}")
  endif()
  unset(_BTFEMBED_ON_PATH CACHE)
  list(REMOVE_DUPLICATES _btfembed_candidates)

  foreach(_btfembed_cand IN LISTS _btfembed_candidates)
    string(REPLACE "|" ";" _btfembed_cmd "${_btfembed_cand}")
    _btfembed_probe(_btfembed_p ${_btfembed_cmd})
    string(REPLACE "|" " " _btfembed_shown "${_btfembed_cand}")
    if(NOT _btfembed_p_OK)
      string(APPEND _btfembed_tried "\n  ${_btfembed_shown}: ${_btfembed_p_ERROR}")
      continue()
    endif()
    if(_btfembed_p_SAME)
      set(BTFEmbed_COMMAND ${_btfembed_cmd})
      set(_btfembed_include "${_btfembed_p_INCLUDE_DIR}")
      set(_btfembed_tool_version "${_btfembed_p_VERSION}")
      break()
    endif()
    string(APPEND _btfembed_tried "\n  ${_btfembed_shown}: a different btfembed (${_btfembed_p_CMAKEDIR})")
    # Interpreters that import another btfembed are never used; a console
    # script of another copy only as a last resort.
    if(NOT _btfembed_fallback AND NOT _btfembed_cand MATCHES "\\|-m\\|btfembed$")
      set(_btfembed_fallback "${_btfembed_cand}")
      set(_btfembed_fallback_include "${_btfembed_p_INCLUDE_DIR}")
      set(_btfembed_fallback_version "${_btfembed_p_VERSION}")
    endif()
  endforeach()

  if(NOT DEFINED BTFEmbed_COMMAND AND _btfembed_fallback)
    string(REPLACE "|" ";" BTFEmbed_COMMAND "${_btfembed_fallback}")
    set(_btfembed_include "${_btfembed_fallback_include}")
    set(_btfembed_tool_version "${_btfembed_fallback_version}")
    message(WARNING "BTFEmbed: no btfembed command belongs to the CMake package in ${BTFEmbed_CMAKE_DIR}; "
      "using ${_btfembed_fallback} (another installation).  Set BTFEMBED_EXECUTABLE to choose.${_btfembed_tried}")
  endif()
  if(NOT DEFINED BTFEmbed_COMMAND)
    set(BTFEmbed_FOUND FALSE)
    set(BTFEmbed_NOT_FOUND_MESSAGE "found the CMake package in ${BTFEmbed_CMAKE_DIR} but no way to run \
its btfembed.  Tried:${_btfembed_tried}\nSet Python_EXECUTABLE to an interpreter that imports btfembed, or \
BTFEMBED_EXECUTABLE to the command.")
    return()
  endif()
endif()

if(NOT _btfembed_tool_version STREQUAL BTFEmbed_VERSION)
  message(WARNING "BTFEmbed: the CMake package is version ${BTFEmbed_VERSION} but '${BTFEmbed_COMMAND}' "
    "is btfembed ${_btfembed_tool_version}")
endif()

set(BTFEmbed_INCLUDE_DIR "${_btfembed_include}")
if(NOT EXISTS "${BTFEmbed_INCLUDE_DIR}/btfembed.h")
  set(BTFEmbed_FOUND FALSE)
  set(BTFEmbed_NOT_FOUND_MESSAGE "the btfembed runtime header is missing: ${BTFEmbed_INCLUDE_DIR}/btfembed.h")
  return()
endif()

set_property(GLOBAL PROPERTY BTFEMBED_COMMAND "${BTFEmbed_COMMAND}")

# Imported targets are directory scoped: define it in every directory that
# calls find_package (hence no include_guard in this file).
if(NOT TARGET BTFEmbed::runtime)
  add_library(BTFEmbed::runtime INTERFACE IMPORTED)
  set_target_properties(BTFEmbed::runtime PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${BTFEmbed_INCLUDE_DIR}")
endif()

include("${CMAKE_CURRENT_LIST_DIR}/BTFEmbedFunctions.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/BTFEmbedBPF.cmake")

if(NOT BTFEmbed_FIND_QUIETLY)
  list(JOIN BTFEmbed_COMMAND " " _btfembed_shown)
  message(STATUS "Found BTFEmbed ${BTFEmbed_VERSION}: ${_btfembed_shown}")
endif()

foreach(_btfembed_var IN ITEMS candidates tried fallback fallback_include fallback_version override include
        tool_version prefix py cand cmd shown var)
  unset(_btfembed_${_btfembed_var})
endforeach()
foreach(_btfembed_var IN ITEMS OK SAME INCLUDE_DIR VERSION ERROR CMAKEDIR)
  unset(_btfembed_p_${_btfembed_var})
endforeach()
unset(_btfembed_var)
set(BTFEmbed_FOUND TRUE)
