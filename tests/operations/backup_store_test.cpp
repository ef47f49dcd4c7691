// The pieces under `ami backup` / `amid --restore` and `log.format: json`, without a node:
// kv::BackupStore against a store in use, kv::RestoreStore's refusals, and the JSON line
// and sid rules of runtime/log/json_log_format.h.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "runtime/log/json_log_format.h"
#include "runtime/store/backup.h"
#include "runtime/store/store.h"
#include "tests/support/test_support.h"

using namespace ami;
using namespace ami::test;

namespace {

std::unique_ptr<kv::Store> OpenStore(const std::filesystem::path& file) {
  auto store = kv::Store::Open(file, kv::StoreOptions{"s-0001"});
  INFO(store.status().message());
  REQUIRE(store.ok());
  return std::move(*store);
}

}  // namespace

TEST_CASE("BackupStore copies a store in use and RestoreStore puts it back with a new incarnation", "[operations]") {
  TempDir dir;
  auto live = OpenStore(dir / "live" / "node.db");
  REQUIRE(live->Set(kv::Space::kLocal, kv::Key{kv::KeyPart::String("a")}, "1").ok());
  REQUIRE(live->Set(kv::Space::kNetwork, kv::Key{kv::KeyPart::String("b")}, "{\"x\":2}").ok());

  // Relative paths, missing directories and existing files are refused before anything is written.
  CHECK(kv::BackupStore(dir / "live" / "node.db", "backup.db").status().code() == Status::Code::kInvalidArgument);
  CHECK(kv::BackupStore(dir / "live" / "node.db", dir / "nowhere" / "b.db").status().code() ==
        Status::Code::kInvalidArgument);
  WriteFile(dir / "taken.db", "keep me");
  CHECK(kv::BackupStore(dir / "live" / "node.db", dir / "taken.db").status().code() == Status::Code::kInvalidArgument);
  CHECK(ReadFile(dir / "taken.db") == "keep me");

  auto info = kv::BackupStore(dir / "live" / "node.db", dir / "b.db");
  INFO(info.status().message());
  REQUIRE(info.ok());
  CHECK(info->bytes == std::filesystem::file_size(dir / "b.db"));
  struct stat st {};
  REQUIRE(stat((dir / "b.db").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // Nothing but the backup is left beside it (no temporary files).
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  CHECK(files == 2);  // taken.db, b.db

  REQUIRE(live->Set(kv::Space::kLocal, kv::Key{kv::KeyPart::String("after")}, "3").ok());  // not in the backup
  const std::string old_incarnation = *live->Incarnation();

  REQUIRE(kv::RestoreStore(dir / "b.db", dir / "restored" / "node.db", kv::StoreOptions{"s-0001"}).ok());
  auto restored = OpenStore(dir / "restored" / "node.db");
  auto a = restored->Get(kv::Space::kLocal, kv::Key{kv::KeyPart::String("a")});
  REQUIRE(a.ok());
  REQUIRE(a->has_value());
  CHECK((*a)->value == "1");
  auto b = restored->Get(kv::Space::kNetwork, kv::Key{kv::KeyPart::String("b")});
  REQUIRE(b.ok());
  REQUIRE(b->has_value());
  CHECK((*b)->value == "{\"x\":2}");
  auto after = restored->Get(kv::Space::kLocal, kv::Key{kv::KeyPart::String("after")});
  REQUIRE(after.ok());
  CHECK_FALSE(after->has_value());
  // Peers' cursors for the old store must not apply to the restored one.
  CHECK(*restored->Incarnation() != old_incarnation);
}

TEST_CASE("RestoreStore never replaces a store and refuses what is not one", "[operations]") {
  TempDir dir;
  { auto store = OpenStore(dir / "src" / "node.db"); }
  REQUIRE(kv::BackupStore(dir / "src" / "node.db", dir / "b.db").ok());

  const Status exists = kv::RestoreStore(dir / "b.db", dir / "src" / "node.db", kv::StoreOptions{"s-0001"});
  CHECK(exists.code() == Status::Code::kInvalidArgument);
  CHECK(exists.message().find("exists") != std::string::npos);

  WriteFile(dir / "junk.db", std::string(4096, 'x'));
  const Status junk = kv::RestoreStore(dir / "junk.db", dir / "t1" / "node.db", kv::StoreOptions{"s-0001"});
  CHECK(junk.code() == Status::Code::kInvalidArgument);
  CHECK_FALSE(std::filesystem::exists(dir / "t1" / "node.db"));

  const Status missing = kv::RestoreStore(dir / "none.db", dir / "t2" / "node.db", kv::StoreOptions{"s-0001"});
  CHECK(missing.code() == Status::Code::kInvalidArgument);
  CHECK_FALSE(std::filesystem::exists(dir / "t2" / "node.db"));
}

TEST_CASE("JSON log lines carry time, level, node, sid and message", "[operations][log]") {
  const std::string sid = "0b9f3c1e-5a7d-4e2b-9c8f-1a2b3c4d5e6f";
  auto line = nlohmann::json::parse(JsonLogLine(1700000000123, "warn", "s-0001", sid, "a \"quoted\"\nline"));
  CHECK(line["time"] == "2023-11-14T22:13:20.123Z");
  CHECK(line["level"] == "warn");
  CHECK(line["node"] == "s-0001");
  CHECK(line["sid"] == sid);
  CHECK(line["message"] == "a \"quoted\"\nline");
  // No sid: no key. Bytes that are not UTF-8 still give a valid line.
  const std::string text = JsonLogLine(0, "info", "n", "", std::string("bad \xff byte"));
  CHECK(text.back() == '\n');
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  auto plain = nlohmann::json::parse(text);
  CHECK_FALSE(plain.contains("sid"));

  CHECK(SidNamedIn("worker " + sid + " started (parallel normal loop)") == sid);
  CHECK(SidNamedIn("lease for worker " + sid + " acquired (term 3)") == sid);
  CHECK(SidNamedIn("node: deactivating worker " + sid + ": gone") == sid);
  CHECK(SidNamedIn("worker 0b9f3c1e: [INFO] tick").empty());    // a short sid is not one
  CHECK(SidNamedIn("coworker " + sid + " said").empty());
  CHECK(SidNamedIn("worker " + sid + "0").empty());             // longer hex run
  CHECK(SidNamedIn("amid starting").empty());
}
