# V8 10.2 from Debian's libnode108 + libnode-dev, unpacked by scripts/bootstrap into
# third_party/libnode (they cannot be apt-installed beside the machine's Node 20).
# Defines V8::V8 and LIBNODE_LIBRARY_DIR (for the rpath).
set(LIBNODE_ROOT "${PROJECT_SOURCE_DIR}/third_party/libnode" CACHE PATH "Unpacked libnode108 + libnode-dev")
find_path(V8_INCLUDE_DIR v8.h PATHS "${LIBNODE_ROOT}/usr/include/node" NO_DEFAULT_PATH)
find_library(LIBNODE_LIBRARY NAMES libnode.so.108 PATHS "${LIBNODE_ROOT}/usr/lib/x86_64-linux-gnu" NO_DEFAULT_PATH)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibnodeV8
  REQUIRED_VARS V8_INCLUDE_DIR LIBNODE_LIBRARY
  FAIL_MESSAGE "libnode not found under ${LIBNODE_ROOT}: run scripts/bootstrap")
if(LibnodeV8_FOUND AND NOT TARGET V8::V8)
  get_filename_component(LIBNODE_LIBRARY_DIR "${LIBNODE_LIBRARY}" DIRECTORY)
  add_library(V8::V8 SHARED IMPORTED)
  set_target_properties(V8::V8 PROPERTIES
    IMPORTED_LOCATION "${LIBNODE_LIBRARY}"
    IMPORTED_NO_SONAME TRUE
    INTERFACE_INCLUDE_DIRECTORIES "${V8_INCLUDE_DIR}")
endif()
