// Helpers for tests of the config loader: parse YAML text as file "t.yaml" and get its
// problem lines or the loaded Config, and set environment variables for one test.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "runtime/config/config.h"

namespace ami::test::config {

inline const std::filesystem::path kBase = "/srv/ami/conf";  // only used to resolve paths, never touched
inline const std::string kNode = "node:\n  id: s-0001\n";

inline Result<Config> Parse(const std::string& yaml, const std::filesystem::path& base = kBase) {
  return ParseConfig(yaml, "t.yaml", base);
}

// The problem lines for `yaml`, which must fail to load.
inline std::string Problems(const std::string& yaml, const std::filesystem::path& base = kBase) {
  auto result = Parse(yaml, base);
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == Status::Code::kInvalidArgument);
  return result.status().message();
}

inline Config Good(const std::string& yaml, const std::filesystem::path& base = kBase) {
  auto result = Parse(yaml, base);
  INFO(result.status().message());
  REQUIRE(result.ok());
  return std::move(result).value();
}

// Sets an environment variable for the scope of one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

}  // namespace ami::test::config
