#include "runtime/js/convert.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace ami::js {

v8::Local<v8::String> Name(v8::Isolate* isolate, std::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal, static_cast<int>(text.size()))
      .FromMaybe(v8::String::Empty(isolate));
}

std::string ToStdString(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 ? std::string(*utf8, utf8.length()) : std::string();
}

void ThrowTypeError(v8::Isolate* isolate, std::string_view message) {
  isolate->ThrowException(v8::Exception::TypeError(Name(isolate, message)));
}

void ThrowRangeError(v8::Isolate* isolate, std::string_view message) {
  isolate->ThrowException(v8::Exception::RangeError(Name(isolate, message)));
}

v8::MaybeLocal<v8::Value> Converter::Fail(std::string why) {
  if (failure_.empty()) failure_ = std::move(why);
  return {};
}

v8::MaybeLocal<v8::Value> Converter::String(std::string_view text) {
  if (text.size() > static_cast<size_t>(v8::String::kMaxLength))
    return Fail("a string of " + std::to_string(text.size()) + " bytes is longer than V8 allows");
  v8::Local<v8::String> s;
  if (!v8::String::NewFromUtf8(isolate_, text.data(), v8::NewStringType::kNormal, static_cast<int>(text.size()))
           .ToLocal(&s))
    return Fail("a string of " + std::to_string(text.size()) + " bytes could not be made (out of memory?)");
  return s;
}

v8::Local<v8::Value> Converter::Number(double value) { return v8::Number::New(isolate_, value); }

v8::Local<v8::Value> Converter::Boolean(bool value) { return v8::Boolean::New(isolate_, value); }

v8::MaybeLocal<v8::Value> Converter::Key(const kv::Key& key) {
  std::vector<v8::Local<v8::Value>> parts;
  parts.reserve(key.size());
  for (const kv::KeyPart& p : key) {
    v8::Local<v8::Value> v;
    switch (p.type) {
      case kv::KeyPart::Type::kString:
        if (!String(p.text).ToLocal(&v)) return {};
        break;
      case kv::KeyPart::Type::kNumber: v = Number(p.number); break;
      case kv::KeyPart::Type::kBigInt: v = v8::BigInt::New(isolate_, p.bigint); break;
      case kv::KeyPart::Type::kFalse: v = v8::False(isolate_); break;
      case kv::KeyPart::Type::kTrue: v = v8::True(isolate_); break;
      case kv::KeyPart::Type::kBytes: {
        // The bytes are the engine's own memory (malloc), not the isolate's allocator:
        // ArrayBuffer::New would crash the process when the script has used up its
        // ArrayBuffer budget, and a key's bytes are small (kMaxKeyBytes).
        const size_t n = p.text.size();
        void* data = std::malloc(n == 0 ? 1 : n);
        if (!data) return Fail("out of memory for a key's bytes");
        if (n) std::memcpy(data, p.text.data(), n);
        auto store = v8::ArrayBuffer::NewBackingStore(
            data, n, [](void* d, size_t, void*) { std::free(d); }, nullptr);
        auto buffer = v8::ArrayBuffer::New(isolate_, std::shared_ptr<v8::BackingStore>(std::move(store)));
        v = v8::Uint8Array::New(buffer, 0, n);
        break;
      }
    }
    parts.push_back(v);
  }
  return Array(std::move(parts));
}

v8::MaybeLocal<v8::Value> Converter::Entry(const kv::Entry& entry) {
  v8::Local<v8::Value> key, value, versionstamp;
  if (!Key(entry.key).ToLocal(&key) || !String(entry.value).ToLocal(&value) ||
      !String(kv::FormatVersionstamp(entry.versionstamp)).ToLocal(&versionstamp))
    return {};
  return Object({{"key", key}, {"value", value}, {"versionstamp", versionstamp}});
}

v8::MaybeLocal<v8::Value> Converter::Object(
    const std::vector<std::pair<std::string_view, v8::Local<v8::Value>>>& fields) {
  std::vector<v8::Local<v8::Name>> names;
  std::vector<v8::Local<v8::Value>> values;
  names.reserve(fields.size());
  values.reserve(fields.size());
  for (const auto& [name, value] : fields) {
    names.push_back(Name(isolate_, name));
    values.push_back(value);
  }
  return v8::Object::New(isolate_, v8::Null(isolate_), names.data(), values.data(), fields.size());
}

v8::MaybeLocal<v8::Value> Converter::Array(std::vector<v8::Local<v8::Value>> elements) {
  return v8::Array::New(isolate_, elements.data(), elements.size());
}

bool ToKey(v8::Local<v8::Context> ctx, v8::Local<v8::Value> value, std::string_view what, kv::Key* out) {
  v8::Isolate* isolate = ctx->GetIsolate();
  const std::string w(what);
  if (!value->IsArray()) {
    ThrowTypeError(isolate, w + ": a key is an array, e.g. [\"prices\", \"BTC\"]");
    return false;
  }
  auto array = value.As<v8::Array>();
  const uint32_t length = array->Length();
  // Every part takes at least 2 encoded bytes, so a longer array cannot be a valid key;
  // refusing it here keeps a million-part "key" from being copied at all.
  if (length > kv::kMaxKeyBytes / 2) {
    ThrowTypeError(isolate, w + ": a key of " + std::to_string(length) + " parts is longer than the key limit of " +
                                std::to_string(kv::kMaxKeyBytes) + " bytes");
    return false;
  }
  out->clear();
  for (uint32_t i = 0; i < length; ++i) {
    v8::Local<v8::Value> part;
    if (!array->Get(ctx, i).ToLocal(&part)) return false;  // a getter threw: it is pending
    const std::string where = w + ": key part " + std::to_string(i);
    if (part->IsString()) {
      auto s = part.As<v8::String>();
      if (static_cast<size_t>(s->Utf8Length(isolate)) > kv::kMaxKeyBytes) {
        ThrowTypeError(isolate, where + " is longer than the key limit of " + std::to_string(kv::kMaxKeyBytes) + " bytes");
        return false;
      }
      out->push_back(kv::KeyPart::String(ToStdString(isolate, part)));
    } else if (part->IsNumber()) {
      const double d = part.As<v8::Number>()->Value();
      if (std::isnan(d)) {
        ThrowTypeError(isolate, where + " is NaN");
        return false;
      }
      out->push_back(kv::KeyPart::Number(d));
    } else if (part->IsBigInt()) {
      bool lossless = true;
      const int64_t n = part.As<v8::BigInt>()->Int64Value(&lossless);
      if (!lossless) {
        ThrowTypeError(isolate, where + " is a BigInt outside 64 bits");
        return false;
      }
      out->push_back(kv::KeyPart::BigInt(n));
    } else if (part->IsBoolean()) {
      out->push_back(kv::KeyPart::Bool(part->IsTrue()));
    } else if (part->IsUint8Array()) {
      auto bytes = part.As<v8::Uint8Array>();
      if (bytes->ByteLength() > kv::kMaxKeyBytes) {
        ThrowTypeError(isolate, where + " is longer than the key limit of " + std::to_string(kv::kMaxKeyBytes) + " bytes");
        return false;
      }
      std::string data(bytes->ByteLength(), '\0');
      bytes->CopyContents(data.data(), data.size());
      out->push_back(kv::KeyPart::Bytes(std::move(data)));
    } else {
      ThrowTypeError(isolate, where + " must be a string, number, bigint, boolean or Uint8Array");
      return false;
    }
  }
  return true;
}

int64_t ReadBoundedUtf8(v8::Local<v8::Context> ctx, v8::Local<v8::Value> value, size_t max_bytes,
                        std::string* out) {
  v8::Isolate* isolate = ctx->GetIsolate();
  v8::Local<v8::String> s;
  if (!value->ToString(ctx).ToLocal(&s)) return -1;
  const int64_t total = s->Utf8Length(isolate);
  if (static_cast<uint64_t>(total) <= max_bytes) {
    out->assign(static_cast<size_t>(total), '\0');
    s->WriteUtf8(isolate, out->data(), static_cast<int>(total), nullptr,
                 v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
    return total;
  }
  // WriteUtf8 stops before a character that does not fit whole, and says how many
  // bytes it wrote.
  out->assign(max_bytes, '\0');
  const int written = s->WriteUtf8(isolate, out->data(), static_cast<int>(max_bytes), nullptr,
                                   v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  out->resize(static_cast<size_t>(std::max(0, written)));
  return total;
}

}  // namespace ami::js
