// The execution rules a worker's priority implies (user guide, ARCHITECTURE.md):
//
//   priority  | critical errors before stop | delay between loop iterations
//   critical  | 50                          | 1 ms
//   high      | 20                          | 10 ms
//   normal    | 10                          | 100 ms
//   low       | 5                           | 1 s
//
// Network-class errors never spend the budget; they back off (5 s x 1.5, cap 60 s).
// Critical errors back off 1, 2, 4, 8 s, cap 10 s. A success resets both counters.
#pragma once

#include <chrono>

#include "runtime/config/config.h"
#include "runtime/model/worker_record.h"

namespace ami {

int ErrorBudget(Priority priority);
Millis LoopDelay(Priority priority);

// initial * factor^(n-1), capped at max; n >= 1 is the number of consecutive errors of
// that class.
Millis Backoff(const BackoffSection& rule, int consecutive);

}  // namespace ami
