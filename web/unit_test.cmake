# ctest web_unit: `npm test` in web/ (type check + vitest). A missing web/node_modules is
# a failure with the fix in its message, never a skip.
if(NOT NPM)
  message(FATAL_ERROR "web_unit: npm is not installed (scripts/bootstrap uses the machine's Node.js and npm)")
endif()
if(NOT EXISTS "${WEB_DIR}/node_modules/.package-lock.json")
  message(FATAL_ERROR "web_unit: ${WEB_DIR}/node_modules is missing: run scripts/bootstrap (npm ci in web/)")
endif()
execute_process(COMMAND "${NPM}" test WORKING_DIRECTORY "${WEB_DIR}" RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "web_unit: npm test failed (${result})")
endif()
