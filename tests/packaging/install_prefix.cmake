# The packaging tests' fixture (ctest FIXTURES_SETUP ami_install): a fresh
# `cmake --install BUILD_DIR --prefix PREFIX --strip`, as docs/operations.md has operators run it.
#   cmake -D BUILD_DIR=... -D PREFIX=... -P install_prefix.cmake
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" --strip
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} --strip failed (${rc}):\n${out}")
endif()
message(STATUS "installed into ${PREFIX}")
