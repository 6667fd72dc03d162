# BTFEmbedConfig.cmake (forwarding) - installed by btfembed's wheel as
# data into <prefix>/share/cmake/BTFEmbed/ (<prefix>: the venv, /usr/local,
# ~/.local, ...), next to a copy of BTFEmbedConfigVersion.cmake.  CMake
# searches there for every <prefix>/bin on PATH and every <prefix> in
# CMAKE_PREFIX_PATH, so find_package(BTFEmbed) finds btfembed in an
# activated venv without BTFEmbed_ROOT.  This file loads the real package
# (site-packages/btfembed/cmake), found in this order:
#
#   1. <prefix>/bin/btfembed --cmakedir: the console script pip installed
#      together with this file (its interpreter is the one that installed
#      it, also for editable installs and several Pythons in one prefix);
#   2. <prefix>/lib*/python3*/{site,dist}-packages/btfembed/cmake, the
#      newest Python first.

get_filename_component(_btfembed_data_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(_btfembed_real_dir "")
set(_btfembed_locate_error "")
if(EXISTS "${_btfembed_data_prefix}/bin/btfembed")
  execute_process(COMMAND "${_btfembed_data_prefix}/bin/btfembed" --cmakedir
    RESULT_VARIABLE _btfembed_rc OUTPUT_VARIABLE _btfembed_out ERROR_VARIABLE _btfembed_err
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_STRIP_TRAILING_WHITESPACE)
  if(_btfembed_rc EQUAL 0 AND EXISTS "${_btfembed_out}/BTFEmbedConfig.cmake")
    set(_btfembed_real_dir "${_btfembed_out}")
  else()
    set(_btfembed_locate_error "'${_btfembed_data_prefix}/bin/btfembed --cmakedir' failed (${_btfembed_rc}): \
${_btfembed_err}")
  endif()
endif()
if(_btfembed_real_dir STREQUAL "")
  file(GLOB _btfembed_found LIST_DIRECTORIES false
    "${_btfembed_data_prefix}/lib*/python3*/site-packages/btfembed/cmake/BTFEmbedConfig.cmake"
    "${_btfembed_data_prefix}/lib*/python3*/dist-packages/btfembed/cmake/BTFEmbedConfig.cmake")
  if(_btfembed_found)
    list(SORT _btfembed_found COMPARE NATURAL ORDER DESCENDING)
    list(GET _btfembed_found 0 _btfembed_out)
    get_filename_component(_btfembed_real_dir "${_btfembed_out}" DIRECTORY)
  elseif(_btfembed_locate_error STREQUAL "")
    set(_btfembed_locate_error "no btfembed Python package under ${_btfembed_data_prefix} \
(${CMAKE_CURRENT_LIST_DIR} is left from an uninstalled btfembed?)")
  endif()
endif()
unset(_btfembed_found)
unset(_btfembed_out)
unset(_btfembed_err)
unset(_btfembed_rc)
unset(_btfembed_data_prefix)

if(_btfembed_real_dir STREQUAL "")
  set(BTFEmbed_FOUND FALSE)
  set(BTFEmbed_NOT_FOUND_MESSAGE "${_btfembed_locate_error}")
else()
  include("${_btfembed_real_dir}/BTFEmbedConfig.cmake")
endif()
unset(_btfembed_real_dir)
unset(_btfembed_locate_error)
