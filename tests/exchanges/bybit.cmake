# Tests of the bybit connector (owned with exchanges/bybit): the loopback mock exchange
# (mock_bybit*, fixtures/bybit), connector-level tests linking ami_bybit_core, and
# script-level tests through a real amid that loads bybit.so.
add_library(ami_bybit_mock STATIC mock_bybit.cpp bybit_mock_ws.cpp)
target_link_libraries(ami_bybit_mock PUBLIC ami_gateway ami_connector_sdk ami_test_support)
target_include_directories(ami_bybit_mock PUBLIC "${PROJECT_SOURCE_DIR}")

ami_add_test(test_bybit LIBS ami_bybit_core ami_bybit_mock
  SOURCES bybit_unit_test.cpp bybit_connector_test.cpp bybit_stream_test.cpp)
ami_add_test(test_bybit_script LIBS ami_bybit_core ami_bybit_mock SOURCES bybit_script_test.cpp)
add_dependencies(test_bybit_script amid bybit templates)
