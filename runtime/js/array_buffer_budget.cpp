#include "runtime/js/array_buffer_budget.h"

#include <cstdlib>

namespace ami::js {

bool ArrayBufferBudget::Reserve(size_t length) {
  size_t used = used_.load(std::memory_order_relaxed);
  do {
    if (length > budget_ || used > budget_ - length) return false;
  } while (!used_.compare_exchange_weak(used, used + length, std::memory_order_relaxed));
  return true;
}

void* ArrayBufferBudget::Allocate(size_t length) {
  if (!Reserve(length)) return nullptr;
  // calloc(0) may return nullptr, which V8 would read as a failure.
  void* data = std::calloc(length == 0 ? 1 : length, 1);
  if (!data) used_.fetch_sub(length, std::memory_order_relaxed);
  return data;
}

void* ArrayBufferBudget::AllocateUninitialized(size_t length) {
  if (!Reserve(length)) return nullptr;
  void* data = std::malloc(length == 0 ? 1 : length);
  if (!data) used_.fetch_sub(length, std::memory_order_relaxed);
  return data;
}

void ArrayBufferBudget::Free(void* data, size_t length) {
  if (!data) return;
  std::free(data);
  used_.fetch_sub(length, std::memory_order_relaxed);
}

}  // namespace ami::js
