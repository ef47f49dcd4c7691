# ctest `web_e2e`: the AMI Editor's browser tests (web/e2e/*.e2e.mjs, docs/editor.md "Tests").
# Headless Debian chromium driven by playwright-core (pinned in package.json) against a real
# amid with the paper and templates plugins, started by the tests from this build tree.
# Never skipped: a missing node, node_modules or chromium is a failure naming the fix.
#
#   scripts/build web_e2e_deps                      what the test needs, nothing else
#   ctest -R web_e2e --output-on-failure            screenshots in build/web-e2e/
find_program(AMI_NODE node)

# The targets the test runs: amid, the two plugins, the editor (`web`, defined above).
add_custom_target(web_e2e_deps)
add_dependencies(web_e2e_deps amid paper templates web)

if(AMI_BUILD_TESTS)
  add_test(NAME web_e2e
    COMMAND "${CMAKE_COMMAND}" -D "NODE=${AMI_NODE}" -D "WEB_DIR=${CMAKE_CURRENT_SOURCE_DIR}"
            -P "${CMAKE_CURRENT_SOURCE_DIR}/e2e/run.cmake")
  set_tests_properties(web_e2e PROPERTIES
    TIMEOUT 600          # ~45 s idle; generous for a loaded 2-core machine
    PROCESSORS 2         # a browser and a node at once: not beside another test under -j2
    LABELS "web;browser"
    ENVIRONMENT "AMI_AMID=$<TARGET_FILE:amid>;AMI_PLUGINS=$<TARGET_FILE_DIR:paper>;AMI_WEB_ROOT=${AMI_WEB_DIST};AMI_E2E_OUT=${CMAKE_BINARY_DIR}/web-e2e;AMI_CHROMIUM=/usr/bin/chromium")
endif()
