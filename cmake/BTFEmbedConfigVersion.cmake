# BTFEmbedConfigVersion.cmake - version check for find_package(BTFEmbed ...).
#
# Hand-written, architecture independent (btfembed is a pure-Python tool, so
# there is no CMAKE_SIZEOF_VOID_P check).  PACKAGE_VERSION must equal
# btfembed.__version__ (tests/test_integration_cmake.py checks it).
#
# Compatibility: the installed version must be >= the requested one and have
# the same major version; while the major version is 0, the same minor
# version too (0.x releases may break the CMake API).  Version ranges
# (find_package(BTFEmbed 0.1...0.3)) are honoured.

set(PACKAGE_VERSION "0.1.0")

if(PACKAGE_VERSION MATCHES "^([0-9]+)\\.([0-9]+)")
  set(_btfembed_major "${CMAKE_MATCH_1}")
  set(_btfembed_minor "${CMAKE_MATCH_2}")
endif()

set(PACKAGE_VERSION_COMPATIBLE FALSE)
set(PACKAGE_VERSION_EXACT FALSE)

if(NOT DEFINED PACKAGE_FIND_VERSION_MAJOR OR "${PACKAGE_FIND_VERSION}" STREQUAL "")
  # find_package(BTFEmbed) without a version.
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(PACKAGE_FIND_VERSION_RANGE)
  # find_package(BTFEmbed MIN...MAX) (CMake >= 3.19): MIN must satisfy the
  # major (0.x: minor) rule above, MAX only bounds the version.
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION_MIN
     OR NOT PACKAGE_FIND_VERSION_MIN_MAJOR STREQUAL _btfembed_major
     OR (_btfembed_major STREQUAL "0" AND NOT PACKAGE_FIND_VERSION_MIN_MINOR STREQUAL _btfembed_minor))
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  endif()
  if((PACKAGE_FIND_VERSION_RANGE_MAX STREQUAL "INCLUDE" AND PACKAGE_VERSION VERSION_GREATER PACKAGE_FIND_VERSION_MAX)
     OR (PACKAGE_FIND_VERSION_RANGE_MAX STREQUAL "EXCLUDE" AND PACKAGE_VERSION VERSION_GREATER_EQUAL PACKAGE_FIND_VERSION_MAX))
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  endif()
else()
  if(PACKAGE_VERSION VERSION_GREATER_EQUAL PACKAGE_FIND_VERSION
     AND PACKAGE_FIND_VERSION_MAJOR STREQUAL _btfembed_major
     AND NOT (_btfembed_major STREQUAL "0" AND NOT PACKAGE_FIND_VERSION_MINOR STREQUAL _btfembed_minor))
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()

unset(_btfembed_major)
unset(_btfembed_minor)
