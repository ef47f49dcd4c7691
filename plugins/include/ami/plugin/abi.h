// The AMI plugin ABI: the version every plugin exports and the names of the symbols the
// host looks up. Part of the plugin SDK (public, header-only).
//
// What crosses the host/plugin boundary is deliberately small: the virtual interfaces in
// plugin.h, exchange_connector.h and template_pack.h, whose methods take and return
// std::string (JSON text) and a few plain structs of std::string / integers. No
// exceptions cross it, and no nlohmann::json object does (only its text).
//
// Because std::string and std::vector are in the interface, a plugin must be built with
// the same C++ standard library as the host (libstdc++, new string ABI, as on Debian 12
// with GCC 12). kAbiVersion covers everything else: bump it on ANY change to a class,
// virtual table or struct below, and the host refuses plugins built for another version.
#pragma once

#include <cstdint>

namespace ami::plugin {

// Version 1: Plugin / ConnectorFactory / ExchangeConnector / TemplatePack as first released.
// Version 2: ExchangeConnector::CallAsync and ::CancelWorker (streams that hold no host
//            thread while they wait; see exchange_connector.h).
inline constexpr std::uint32_t kAbiVersion = 2;

// Exported by every plugin (see export.h):
//   ami_plugin_abi_version  -> const std::uint32_t           (must equal kAbiVersion)
//   ami_plugin_factory      -> std::unique_ptr<Plugin> ()     (called once per load)
inline constexpr const char* kAbiVersionSymbol = "ami_plugin_abi_version";
inline constexpr const char* kFactorySymbol = "ami_plugin_factory";

}  // namespace ami::plugin
