# Run at every build (cmake -P, from the ami_version target in AmiVersion.cmake) so the
# version follows git without re-running CMake. Writes, only when their content changes
# (configure_file leaves an identical file alone, so nothing recompiles):
#   OUT_HEADER  ami/version.h for amid and ami (from TEMPLATE)
#   OUT_TEXT    the bare version string, which CPack names the package after
# Inputs (-D): SOURCE_DIR, BASE_VERSION, V8_INCLUDE_DIR, TEMPLATE, OUT_HEADER, OUT_TEXT.
cmake_minimum_required(VERSION 3.25)   # a -P script: set the policies it is written for
include("${CMAKE_CURRENT_LIST_DIR}/AmiGitVersion.cmake")
ami_git_version(AMI_VERSION_FULL "${SOURCE_DIR}" "${BASE_VERSION}")
ami_v8_version(AMI_V8_VERSION "${V8_INCLUDE_DIR}")
configure_file("${TEMPLATE}" "${OUT_HEADER}" @ONLY)
file(CONFIGURE OUTPUT "${OUT_TEXT}" CONTENT "@AMI_VERSION_FULL@\n" @ONLY)
