// Pointers to the functions the agent interposes, as found behind it with
// dlsym(RTLD_NEXT), and the static pool that serves allocations made while they are
// being looked up (dlsym allocates its error text with malloc or calloc).
#pragma once

#include "hook_list.h"

#include <atomic>
#include <cstddef>

namespace routeheap::agent {

enum HookRequirement { kRequired, kOptional };

// Written once by resolve_real_functions() before `g_real_ready` is set, read-only
// afterwards, so any thread may read it without a lock once real() returned.
struct RealFunctions {
#define ROUTEHEAP_REAL_FIELD(name, ret, params, requirement) ret(*name) params;
    ROUTEHEAP_HOOKS(ROUTEHEAP_REAL_FIELD)
#undef ROUTEHEAP_REAL_FIELD
};

extern RealFunctions g_real;
extern std::atomic<bool> g_real_ready;

// Looks up every real function. Idempotent; concurrent callers wait for the first.
// A nested call from inside a lookup (dlsym allocating) returns at once, with the
// pointers found so far.
void resolve_real_functions();

// The real functions, resolved on first use because the loader may call malloc
// before any constructor of the agent has run.
inline const RealFunctions& real() {
    if (!g_real_ready.load(std::memory_order_acquire)) [[unlikely]] {
        resolve_real_functions();
    }
    return g_real;
}

// True while this thread runs resolve_real_functions(): malloc and friends are then
// served from the bootstrap pool until the real ones are known.
bool resolving_on_this_thread();

// Names the required symbols that dlsym did not find, for the start-up check.
// Returns nullptr when all were found.
const char* first_missing_required_symbol();

// The bootstrap pool: a bump allocator over a static buffer. Its blocks are never
// freed or passed to the real allocator.
void* bootstrap_allocate(size_t size, size_t alignment);
bool in_bootstrap_pool(const void* pointer);
size_t bootstrap_block_size(const void* pointer);

}  // namespace routeheap::agent
