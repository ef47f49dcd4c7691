# Signature parity with CCXT (issue 13): each connector's SignRequest() against the pinned
# ccxt's own sign(), run with the machine's node from tests/exchanges/ccxt_oracle (whose
# node_modules scripts/bootstrap installs). The case table is ccxt_parity_cases.json.
ami_add_test(test_ccxt_parity SOURCES ccxt_parity_test.cpp
  LIBS ami_bybit_core ami_binance_core ami_plugin_sdk OpenSSL::Crypto)
target_include_directories(test_ccxt_parity PRIVATE "${PROJECT_SOURCE_DIR}")
target_compile_definitions(test_ccxt_parity PRIVATE
  AMI_CCXT_ORACLE_DIR="${CMAKE_CURRENT_SOURCE_DIR}/ccxt_oracle"
  AMI_CCXT_PARITY_CASES="${CMAKE_CURRENT_SOURCE_DIR}/ccxt_parity_cases.json")
