// Helpers shared by the store tests of test_store (store_replication_test.cpp,
// store_digest_test.cpp): open a store with a node id, unwrap a Result, make a key.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/store/store.h"

namespace ami::kv::test_support {

// REQUIREs that the store opens. `grace`: StoreOptions::tombstone_grace.
inline std::unique_ptr<Store> OpenStore(const std::filesystem::path& file, const std::string& node_id,
                                        HybridClock* clock = nullptr,
                                        std::chrono::milliseconds grace = StoreOptions{}.tombstone_grace) {
  StoreOptions options;
  options.node_id = node_id;
  options.clock = clock;
  options.tombstone_grace = grace;
  auto store = Store::Open(file, std::move(options));
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

template <class T>
T Must(Result<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return std::move(result).value();
}

inline Key K(std::initializer_list<std::string_view> parts) { return MakeKey(parts); }

}  // namespace ami::kv::test_support
