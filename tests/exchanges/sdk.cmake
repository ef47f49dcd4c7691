# The connector SDK's support library (plugins/sdk, ami_connector_sdk), tested alone.
# HTTP side: the client against a loopback gateway::HttpServer, signing, rate limiter,
# server clock, error map, precision.
ami_add_test(test_sdk_net LIBS ami_connector_sdk ami_gateway SOURCES sdk_net_test.cpp)

# stream: the SDK's stream side (WsClient against a loopback gateway::HttpServer, StreamHub,
# OrderBook) and ConnectorBase's asynchronous watch* path.
ami_add_test(test_sdk_stream LIBS ami_connector_sdk ami_gateway ami_transport SOURCES sdk_stream_test.cpp)
