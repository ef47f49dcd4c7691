# The build's version (cmake/AmiGitVersion.cmake) for `amid --version`, `ami --version`
# and the package name.
#
#   target ami_version       regenerates ${AMI_VERSION_DIR}/ami/version.h and
#                            ${AMI_VERSION_FILE} at every build, from git
#   target ami_version_info  INTERFACE: link it to include "ami/version.h"
#   AMI_VERSION_FILE         the plain version text; CPack reads it (Packaging.cmake), so a
#                            package is always named after the version its binaries print
#
# Why at build time and not at configure time: a commit or an edit does not re-run CMake,
# and a version frozen at the last configure would lie.
include("${CMAKE_CURRENT_LIST_DIR}/AmiGitVersion.cmake")
set(AMI_VERSION_DIR "${PROJECT_BINARY_DIR}/generated")
set(AMI_VERSION_FILE "${PROJECT_BINARY_DIR}/generated/ami_version.txt")

add_custom_target(ami_version
  COMMAND "${CMAKE_COMMAND}"
          -D "SOURCE_DIR=${PROJECT_SOURCE_DIR}"
          -D "BASE_VERSION=${PROJECT_VERSION}"
          -D "V8_INCLUDE_DIR=${V8_INCLUDE_DIR}"
          -D "TEMPLATE=${CMAKE_CURRENT_LIST_DIR}/version.h.in"
          -D "OUT_HEADER=${AMI_VERSION_DIR}/ami/version.h"
          -D "OUT_TEXT=${AMI_VERSION_FILE}"
          -P "${CMAKE_CURRENT_LIST_DIR}/AmiWriteVersion.cmake"
  BYPRODUCTS "${AMI_VERSION_DIR}/ami/version.h" "${AMI_VERSION_FILE}"
  COMMENT "version from git"
  VERBATIM)

add_library(ami_version_info INTERFACE)
target_include_directories(ami_version_info INTERFACE "${AMI_VERSION_DIR}")
target_link_libraries(ami_version_info INTERFACE ami_plugin_sdk CAF::core)
add_dependencies(ami_version_info ami_version)
