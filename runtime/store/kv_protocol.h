// The store actor's protocol (actors/store_actor.h): one request and its reply. Scripts'
// KV calls (runtime/js), the worker catalog, the admin service and the cluster actor all
// speak it, so it lives with the store and not with any of them.
#pragma once

#include <optional>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/store/store.h"

namespace ami::kv {

// A KV operation (a script's, or one of the runtime's own). Set and delete are one-mutation commits.
struct Request {
  enum class Op { kGet, kList, kCommit };
  Op op = Op::kGet;
  kv::Space space = kv::Space::kLocal;
  kv::Key key;                      // kGet
  kv::ListOptions list;             // kList
  std::vector<kv::Check> checks;    // kCommit
  std::vector<kv::Mutation> mutations;
};

struct Reply {
  Request::Op op = Request::Op::kGet;  // the request's op
  Status status;                    // non-OK rejects the script's promise with its message
  std::optional<kv::Entry> entry;   // kGet
  std::vector<kv::Entry> entries;   // kList
  kv::CommitResult commit;          // kCommit
};

}  // namespace ami::kv
