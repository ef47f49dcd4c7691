# Runs the browser tests for ctest web_e2e (web/e2e.cmake): every web/e2e/*.e2e.mjs with
# node's test runner, one file at a time (each starts its own amid and chromium).
if(NOT NODE)
  message(FATAL_ERROR "web_e2e: node is not installed (scripts/bootstrap uses the machine's Node.js)")
endif()
if(NOT EXISTS "${WEB_DIR}/node_modules/playwright-core/package.json")
  message(FATAL_ERROR "web_e2e: ${WEB_DIR}/node_modules/playwright-core is missing: run scripts/bootstrap (npm ci in web/)")
endif()
if(NOT EXISTS "$ENV{AMI_CHROMIUM}")
  message(FATAL_ERROR "web_e2e: $ENV{AMI_CHROMIUM} is missing: scripts/bootstrap installs Debian's chromium")
endif()
file(GLOB tests "${WEB_DIR}/e2e/*.e2e.mjs")
list(SORT tests)
execute_process(
  COMMAND "${NODE}" --test --test-concurrency=1 --test-reporter=spec ${tests}
  WORKING_DIRECTORY "${WEB_DIR}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "web_e2e: browser tests failed (${result}); screenshots and amid logs in $ENV{AMI_E2E_OUT}")
endif()
