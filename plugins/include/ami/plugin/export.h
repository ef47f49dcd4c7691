// Exporting a plugin: put AMI_PLUGIN_EXPORT(factory) once, at global scope, in one .cpp
// of the plugin, where `factory` is a function `std::unique_ptr<ami::plugin::Plugin>()`.
// It exports, as Boost.DLL aliases (unmangled C symbols):
//   ami_plugin_abi_version -> const std::uint32_t = ami::plugin::kAbiVersion
//   ami_plugin_factory     -> the factory
// Part of the plugin SDK (public, header-only; needs the Boost headers, no Boost library).
#pragma once

#include <cstdint>
#include <memory>

#include <boost/dll/alias.hpp>

#include "ami/plugin/abi.h"
#include "ami/plugin/plugin.h"

namespace ami::plugin {
using PluginFactoryFn = std::unique_ptr<Plugin>();
}  // namespace ami::plugin

#define AMI_PLUGIN_EXPORT_ABI_VERSION()                                          \
  namespace ami_plugin_export_detail {                                           \
  extern const std::uint32_t abi_version_value;                                  \
  const std::uint32_t abi_version_value = ::ami::plugin::kAbiVersion;            \
  }                                                                              \
  BOOST_DLL_ALIAS(::ami_plugin_export_detail::abi_version_value, ami_plugin_abi_version)

#define AMI_PLUGIN_EXPORT_FACTORY(factory)                                       \
  namespace ami_plugin_export_detail {                                           \
  inline constexpr ::ami::plugin::PluginFactoryFn* factory_fn = &factory;        \
  }                                                                              \
  BOOST_DLL_ALIAS(factory, ami_plugin_factory)

#define AMI_PLUGIN_EXPORT(factory) \
  AMI_PLUGIN_EXPORT_ABI_VERSION()  \
  AMI_PLUGIN_EXPORT_FACTORY(factory)
