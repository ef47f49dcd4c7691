#include "runtime/js/kv_guard.h"

#include <algorithm>
#include <string>

namespace ami::js {
namespace {

const char* const kReservedWhy = "the [\"ami\",…] keyspace is reserved for the runtime";

// Encoded bounds of the keyspace: every key in it encodes to a string that starts with
// EncodeKey(["ami"]), and so lies in [EncodeKey(["ami"]), EncodeKey(["ami"]) + 0xFF)
// (a part tag is never 0xFF). ["ami\0"] is the first key after it: its string part
// continues "ami" with the escaped NUL 0x00 0xFF, above every part tag.
const std::string& ReservedLow() {
  static const std::string low = kv::EncodeKey(kv::MakeKey({"ami"}));
  return low;
}
const std::string& ReservedHigh() {
  static const std::string high = ReservedLow() + '\xFF';
  return high;
}
const kv::Key& FirstKeyAfterReserved() {
  static const kv::Key key = {kv::KeyPart::String(std::string("ami\0", 4))};
  return key;
}

Status Refuse(const std::string& what, const kv::Key& key) {
  return Status::InvalidArgument(what + ": key " + kv::KeyToString(key) + " is refused: " + kReservedWhy);
}

}  // namespace

bool IsReservedKey(const kv::Key& key) {
  return !key.empty() && key[0].type == kv::KeyPart::Type::kString && key[0].text == "ami";
}

GuardedKv GuardScriptKv(kv::Request* request, size_t max_list_results) {
  GuardedKv out;
  switch (request->op) {
    case kv::Request::Op::kGet:
      if (IsReservedKey(request->key)) out.status = Refuse("get", request->key);
      return out;
    case kv::Request::Op::kCommit:
      for (const kv::Check& c : request->checks)
        if (IsReservedKey(c.key)) {
          out.status = Refuse("atomic().check", c.key);
          return out;
        }
      for (const kv::Mutation& m : request->mutations)
        if (IsReservedKey(m.key)) {
          out.status = Refuse(m.kind == kv::Mutation::Kind::kDelete ? "delete" : "set", m.key);
          return out;
        }
      return out;
    case kv::Request::Op::kList: {
      kv::ListOptions& list = request->list;
      if (max_list_results > 0 && (list.limit == 0 || list.limit > max_list_results)) list.limit = max_list_results;
      if (IsReservedKey(list.prefix)) {
        out.status = Refuse("list prefix", list.prefix);
        return out;
      }
      // The encoded range the store will scan (store.cpp List): [lower, upper).
      const std::string prefix = kv::EncodeKey(list.prefix);
      std::string lower = prefix + '\0';
      std::string upper = prefix + '\xFF';
      if (list.start) lower = std::max(lower, kv::EncodeKey(*list.start));
      if (list.end) upper = std::min(upper, kv::EncodeKey(*list.end));
      const std::string& low = ReservedLow();
      const std::string& high = ReservedHigh();
      if (lower >= upper || upper <= low || lower >= high) return out;  // no overlap
      if (lower >= low && upper <= high) {
        out.status = Refuse("list", list.start ? *list.start : list.end ? *list.end : list.prefix);
        return out;
      }
      if (lower < low && upper <= high) {
        list.end = kv::MakeKey({"ami"});          // exclusive: stops before the keyspace
      } else if (lower >= low && upper > high) {
        list.start = FirstKeyAfterReserved();     // inclusive: the first key after it
      } else {
        out.filter_reply = true;                  // spans it: filter the reply
      }
      return out;
    }
  }
  return out;
}

void FilterReserved(std::vector<kv::Entry>* entries) {
  std::erase_if(*entries, [](const kv::Entry& e) { return IsReservedKey(e.key); });
}

}  // namespace ami::js
