// Exporting a plugin: put AMI_PLUGIN_EXPORT(factory) once, at global scope, in one .cpp
// of the plugin, where `factory` is a function `std::unique_ptr<ami::plugin::Plugin>()`.
// It exports, as Boost.DLL aliases (unmangled C symbols):
//   ami_plugin_abi_version -> const std::uint32_t = ami::plugin::kAbiVersion
//   ami_plugin_factory     -> the factory
// Part of the plugin SDK (public, header-only; needs the Boost headers, no Boost library).
//
// Unloading: a library that defines STB_GNU_UNIQUE symbols can never be unloaded by
// glibc. Boost.System's globals are such symbols, so unless the plugin already uses
// Boost.DLL otherwise, Boost.DLL is told to use std::filesystem here (it then includes
// no Boost.System). libstdc++ headers add a few more (std::to_string, make_shared):
// build plugins with -fno-gnu-unique (ami_add_plugin does) to keep them unloadable.
#pragma once

#include <cstdint>
#include <memory>

#if !defined(BOOST_DLL_DETAIL_CONFIG_HPP) && !defined(BOOST_DLL_USE_STD_FS)
#define BOOST_DLL_USE_STD_FS
#endif
#include <boost/dll/alias.hpp>

#include "ami/plugin/abi.h"
#include "ami/plugin/plugin.h"

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
