// What the process needs of V8 outside a worker: starting it once, and checking a
// worker script's syntax before a record is stored (the worker catalog's script check).
// Implemented in engine.cpp; this header keeps the rest of the runtime off the engine.
#pragma once

#include <string>

#include "runtime/base/status.h"

namespace ami::js {

// Initialises V8 once per process (platform, flags). Thread-safe; later calls do nothing.
void InitializeV8();

// OK, or InvalidArgument "script: SyntaxError: Unexpected token (line 3)" when `script`
// does not compile as a worker body (Engine::CheckSyntax), or Aborted when the syntax
// checker was too busy to start the check in time. Blocking: it waits for the process's
// checker thread (runtime/js/syntax_checker.h; a compile, tens of µs for a small script),
// so call it from a detached actor or a thread of your own.
Status CheckScriptSyntax(const std::string& script);

// Starts the syntax checker's thread and isolate now rather than at the first check
// (a node does it at start, so its first PutWorker is as fast as the others).
void StartSyntaxChecker();

}  // namespace ami::js
