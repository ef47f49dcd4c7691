# Tests of the binance connector (owned with exchanges/binance): a loopback MockBinance on
# the gateway's HttpServer (REST + the stream socket, fixtures from Binance's docs), the
# connector's pure parts, its REST and stream sides linked directly (ami_binance_core),
# and scripts through a real amid loading build/plugins/binance.so.
add_library(ami_mock_binance STATIC mock_binance.cpp mock_binance_orders.cpp mock_binance_streams.cpp)
target_link_libraries(ami_mock_binance PUBLIC ami_test_support ami_gateway ami_connector_sdk nlohmann_json::nlohmann_json)
target_include_directories(ami_mock_binance PUBLIC "${PROJECT_SOURCE_DIR}")

ami_add_test(test_binance LIBS ami_binance_core ami_mock_binance
  SOURCES binance_unit_test.cpp binance_connector_test.cpp binance_stream_test.cpp)
ami_add_test(test_binance_script LIBS ami_mock_binance SOURCES binance_script_test.cpp)
add_dependencies(test_binance_script amid binance)
