#include "plugins/loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>
#include <utility>

#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include "ami/plugin/abi.h"
#include "ami/plugin/errors.h"

namespace ami::plugins {

namespace fs = std::filesystem;
namespace pl = ami::plugin;

nlohmann::json PluginDescription::ToJson() const {
  return {{"id", id},
          {"kind", pl::ToString(kind)},
          {"path", path.string()},
          {"version", version},
          {"description", description}};
}

std::string LoadError::ToString() const { return path.string() + ": " + reason; }

std::string PluginFailureMessage(std::string_view plugin_id, std::string_view method,
                                 std::string_view what) {
  std::string out = "plugin '";
  out.append(plugin_id).append("' failed in ").append(method).append(": ").append(what);
  return out;
}

std::string CurrentExceptionText() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "threw a non-standard exception";
  }
}

void LogPluginFailure(const std::string& message) { spdlog::error("{}", message); }

pl::CallResult CallConnector(pl::ExchangeConnector& connector, std::string_view plugin_id,
                             const pl::CallContext& ctx, const std::string& method,
                             const std::string& args_json) {
  auto r = GuardPluginCall(plugin_id, "Call(" + method + ")",
                           [&] { return connector.Call(ctx, method, args_json); });
  if (!r.ok()) return pl::CallResult::Error(pl::errc::kExchangeError, r.status().message());
  if (!r->ok && r->error_class.empty()) r->error_class = pl::errc::kExchangeError;
  return std::move(*r);
}

namespace {

// The host's side of one CallAsync: the first completion wins, later ones are refused.
struct OnceCompletion {
  std::atomic<bool> fired{false};
  pl::CallCompletion done;   // touched only by the completion that won
  std::string plugin_id;
  std::string method;

  bool Fire(pl::CallResult r) {
    if (fired.exchange(true)) return false;
    pl::CallCompletion d = std::move(done);
    done = nullptr;   // what it holds (the caller's ticket) goes now, not with the plugin's copy
    if (!r.ok && r.error_class.empty()) r.error_class = pl::errc::kExchangeError;
    if (d) d(std::move(r));
    return true;
  }
};

}  // namespace

void CallConnectorAsync(pl::ExchangeConnector& connector, std::string_view plugin_id, const pl::CallContext& ctx,
                        const std::string& method, const std::string& args_json, pl::CallCompletion done) {
  auto once = std::make_shared<OnceCompletion>();
  once->done = std::move(done);
  once->plugin_id = std::string(plugin_id);
  once->method = method;
  pl::CallCompletion completion = [once](pl::CallResult r) {
    if (!once->Fire(std::move(r)))
      spdlog::warn("plugin '{}' answered CallAsync({}) again after it was answered; the extra answer is ignored",
                   once->plugin_id, once->method);
  };
  // Named like CallConnector's: the default CallAsync runs Call, and a script's error
  // text should not depend on which of the two a plugin overrides.
  auto called = GuardPluginCall(plugin_id, "Call(" + method + ")", [&] {
    connector.CallAsync(ctx, method, args_json, std::move(completion));
    return true;
  });
  // The plugin may have answered before it threw: then its answer stands.
  if (!called.ok()) once->Fire(pl::CallResult::Error(pl::errc::kExchangeError, called.status().message()));
}

void CancelConnectorWorker(pl::ExchangeConnector& connector, std::string_view plugin_id,
                           const std::string& worker_sid) {
  GuardPluginCall(plugin_id, "CancelWorker", [&] {
    connector.CancelWorker(worker_sid);
    return true;
  });
}

namespace {

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  auto ok = [](char c, bool first) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    return !first && (c == '-' || c == '_' || c == '.');
  };
  for (std::size_t i = 0; i < id.size(); ++i)
    if (!ok(id[i], i == 0)) return false;
  return true;
}

// "" when `file` starts like an ELF object; otherwise why it cannot be a library.
std::string CheckElfHeader(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::string("cannot read: ") + std::strerror(errno);
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() < 4 || std::memcmp(magic, "\x7f" "ELF", 4) != 0)
    return "not a shared library (no ELF header)";
  return "";
}

std::string ListOr(const std::vector<std::string>& ids, const char* none) {
  if (ids.empty()) return none;
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
  return s;
}

}  // namespace

void PluginRegistry::AddError(const fs::path& path, std::string reason) {
  errors_.push_back({path, std::move(reason)});
}

void PluginRegistry::LoadPath(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    AddError(path, "plugin path does not exist");
    return;
  }
  if (fs::is_regular_file(status)) {
    LoadFile(path);
    return;
  }
  if (!fs::is_directory(status)) {
    AddError(path, "plugin path is neither a directory nor a file");
    return;
  }
  std::vector<fs::path> files;
  fs::directory_iterator it(path, ec), end;
  if (ec) {
    AddError(path, "cannot list plugin directory: " + ec.message());
    return;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      AddError(path, "cannot list plugin directory: " + ec.message());
      break;
    }
    const fs::path& p = it->path();
    if (p.extension() != ".so" || p.filename().string().front() == '.') continue;
    std::error_code fec;
    if (!it->is_regular_file(fec)) continue;   // follows symlinks; skips dirs named x.so
    files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) LoadFile(f);
}

bool PluginRegistry::LoadFile(const fs::path& file) {
  std::error_code ec;
  fs::path canonical = fs::canonical(file, ec);
  if (ec) {
    AddError(file, "plugin file does not exist");
    return false;
  }
  if (loaded_files_.count(canonical.string())) return true;
  if (!fs::is_regular_file(canonical, ec)) {
    AddError(file, "not a regular file");
    return false;
  }
  if (std::string why = CheckElfHeader(canonical); !why.empty()) {
    AddError(file, why);
    return false;
  }

  // rtld_now: unresolved symbols fail here, with dlerror's text, not later in a call.
  auto lib = std::make_shared<boost::dll::shared_library>();
  boost::dll::fs::error_code lec;
  lib->load(boost::dll::fs::path(canonical.string()),
            boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, lec);
  if (lec || !lib->is_loaded()) {
    const char* dl = dlerror();
    AddError(file, std::string("cannot load library: ") + (dl ? dl : lec.message().c_str()));
    return false;
  }

  const bool has_abi = lib->has(pl::kAbiVersionSymbol);
  const bool has_factory = lib->has(pl::kFactorySymbol);
  if (!has_abi && !has_factory) {
    AddError(file, std::string("not an AMI plugin: exports neither '") +
                       pl::kAbiVersionSymbol + "' nor '" + pl::kFactorySymbol + "'");
    return false;
  }
  if (!has_abi) {
    AddError(file, std::string("missing ABI version symbol '") + pl::kAbiVersionSymbol +
                       "' (export the plugin with AMI_PLUGIN_EXPORT)");
    return false;
  }
  const std::uint32_t abi = lib->get_alias<const std::uint32_t>(pl::kAbiVersionSymbol);
  if (abi != pl::kAbiVersion) {
    AddError(file, "ABI version mismatch: plugin was built for ABI " + std::to_string(abi) +
                       ", this host needs ABI " + std::to_string(pl::kAbiVersion) +
                       " (rebuild the plugin against this SDK)");
    return false;
  }
  if (!has_factory) {
    AddError(file, std::string("missing factory symbol '") + pl::kFactorySymbol +
                       "' (export the plugin with AMI_PLUGIN_EXPORT)");
    return false;
  }

  // The plugin has no id yet: failures name its file.
  const std::string file_name = canonical.filename().string();
  auto made = GuardPluginCall(file_name, "its factory", [&] {
    auto& factory = lib->get_alias<pl::PluginFactoryFn>(pl::kFactorySymbol);
    return factory();
  });
  if (!made.ok()) {
    AddError(file, made.status().message());
    return false;
  }
  if (!*made) {
    AddError(file, "plugin factory returned no plugin");
    return false;
  }
  // The deleter owns `lib`: the object is deleted first, then the library may unload.
  std::shared_ptr<pl::Plugin> plugin(made->release(), [lib](pl::Plugin* p) { delete p; });
  auto got_info = GuardPluginCall(file_name, "Info()", [&] { return plugin->Info(); });
  if (!got_info.ok()) {
    AddError(file, got_info.status().message());
    return false;
  }
  pl::PluginInfo info = std::move(*got_info);

  if (!ValidId(info.id)) {
    AddError(file, "invalid plugin id '" + info.id +
                       "' (want 1-64 chars of a-z, 0-9, '-', '_', '.', starting with a letter or digit)");
    return false;
  }
  switch (info.kind) {
    case pl::PluginKind::kExchangeConnector:
      if (!plugin->AsConnectorFactory()) {
        AddError(file, "plugin '" + info.id +
                           "' says it is an exchange-connector but is no ConnectorFactory");
        return false;
      }
      break;
    case pl::PluginKind::kTemplatePack:
      if (!plugin->AsTemplatePack()) {
        AddError(file, "plugin '" + info.id +
                           "' says it is a template-pack but is no TemplatePack");
        return false;
      }
      break;
    default:
      AddError(file, "plugin '" + info.id + "' has unknown kind " +
                         std::to_string(static_cast<std::uint32_t>(info.kind)));
      return false;
  }
  if (auto it = by_id_.find(info.id); it != by_id_.end()) {
    AddError(file, "duplicate plugin id '" + info.id + "': already loaded from " +
                       it->second.description.path.string());
    return false;
  }

  PluginDescription d{info.id, info.kind, canonical, info.version, info.description};
  plugins_.push_back(d);
  loaded_files_.insert(canonical.string());
  by_id_.emplace(info.id, Entry{std::move(d), std::move(plugin)});
  return true;
}

std::shared_ptr<pl::ConnectorFactory> PluginRegistry::connector_factory(
    std::string_view id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  pl::ConnectorFactory* f = it->second.plugin->AsConnectorFactory();
  if (!f) return nullptr;
  return std::shared_ptr<pl::ConnectorFactory>(it->second.plugin, f);   // aliasing
}

std::shared_ptr<pl::TemplatePack> PluginRegistry::template_pack(std::string_view id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  pl::TemplatePack* t = it->second.plugin->AsTemplatePack();
  if (!t) return nullptr;
  return std::shared_ptr<pl::TemplatePack>(it->second.plugin, t);
}

Result<std::shared_ptr<pl::ExchangeConnector>> PluginRegistry::CreateConnector(
    std::string_view connector_id, const nlohmann::json& options) const {
  auto factory = connector_factory(connector_id);
  if (!factory)
    return Status::NotFound("no exchange connector plugin '" + std::string(connector_id) +
                            "' (loaded: " + ListOr(connector_ids(), "none") + ")");
  nlohmann::json opts = options.is_null() ? nlohmann::json::object() : options;
  if (!opts.is_object())
    return Status::InvalidArgument("connector '" + std::string(connector_id) +
                                   "': options must be an object");
  std::unique_ptr<pl::ExchangeConnector> made;
  auto created = GuardPluginCall(connector_id, "Create", [&] { return factory->Create(opts.dump(), made); });
  if (!created.ok()) return created.status();
  const pl::CallResult& r = *created;
  if (!r.ok)
    return Status::InvalidArgument("connector '" + std::string(connector_id) + "': " +
                                   r.message);
  if (!made)
    return Status::Internal("connector '" + std::string(connector_id) +
                            "': Create returned no connector");
  // The deleter holds the factory (and through it the library).
  std::shared_ptr<pl::ConnectorFactory> keep = factory;
  return std::shared_ptr<pl::ExchangeConnector>(
      made.release(), [keep](pl::ExchangeConnector* c) { delete c; });
}

std::vector<std::string> PluginRegistry::connector_ids() const {
  std::vector<std::string> out;
  for (const auto& [id, e] : by_id_)
    if (e.description.kind == pl::PluginKind::kExchangeConnector) out.push_back(id);
  return out;
}

std::vector<std::string> PluginRegistry::template_pack_ids() const {
  std::vector<std::string> out;
  for (const auto& [id, e] : by_id_)
    if (e.description.kind == pl::PluginKind::kTemplatePack) out.push_back(id);
  return out;
}

PluginRegistry LoadPlugins(const std::vector<fs::path>& paths) {
  PluginRegistry registry;
  for (const auto& p : paths) registry.LoadPath(p);
  return registry;
}

}  // namespace ami::plugins
