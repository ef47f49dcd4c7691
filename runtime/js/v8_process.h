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
// does not compile as a worker body (Engine::CheckSyntax). Blocking (a throwaway isolate,
// a few ms): call it from a detached actor or a thread of your own.
Status CheckScriptSyntax(const std::string& script);

}  // namespace ami::js
