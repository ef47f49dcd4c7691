// The ArrayBuffer allocator of one worker's isolate: ArrayBuffer and SharedArrayBuffer
// memory lives outside the V8 heap, so without this a script with `heap: 16MB` could
// hold gigabytes in buffers. Every backing store V8 allocates for the isolate goes
// through here and is counted; an allocation that would take the total over `budget`
// (the worker's heap limit, as a budget of its own beside the V8 heap) returns nullptr,
// which V8 turns into a RangeError ("Array buffer allocation failed") for the script
// after it has tried a GC to free dead buffers. Nothing is allocated for a refused
// request.
//
// Thread-safe: V8 frees backing stores from its GC threads too. It must outlive every
// backing store it handed out, i.e. the isolate (the engine destroys it after
// Isolate::Dispose()).
#pragma once

#include <v8.h>

#include <atomic>
#include <cstddef>

namespace ami::js {

class ArrayBufferBudget final : public v8::ArrayBuffer::Allocator {
 public:
  explicit ArrayBufferBudget(size_t budget) : budget_(budget) {}

  void* Allocate(size_t length) override;
  void* AllocateUninitialized(size_t length) override;
  void Free(void* data, size_t length) override;

  size_t used() const { return used_.load(std::memory_order_relaxed); }
  size_t budget() const { return budget_; }

 private:
  bool Reserve(size_t length);

  const size_t budget_;
  std::atomic<size_t> used_{0};
};

}  // namespace ami::js
