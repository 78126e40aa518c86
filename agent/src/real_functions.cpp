// Looks up the real functions behind the agent's hooks and serves the allocations
// the lookup itself makes from a static pool.
#include "real_functions.h"

#include "thread_state.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace routeheap::agent {

RealFunctions g_real{};
std::atomic<bool> g_real_ready{false};

namespace {

// 0: not started, 1: a thread is resolving, 2: done.
std::atomic<int> g_resolve_state{0};

// dlsym needs well under a KiB (one dlerror buffer per failed lookup); 64 KiB leaves
// room for a loader that allocates more.
constexpr size_t kPoolBytes = 64 * 1024;
constexpr size_t kPoolHeader = 16;  // keeps the size in front of each block
alignas(64) unsigned char g_pool[kPoolBytes];
std::atomic<size_t> g_pool_used{0};

const char* g_missing_required = nullptr;

}  // namespace

void resolve_real_functions() {
    if (g_resolve_state.load(std::memory_order_acquire) == 2) return;
    if (t_thread.resolving) return;

    int expected = 0;
    if (!g_resolve_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
        // Another thread resolves; before main() this never happens, so a plain yield loop is enough.
        while (g_resolve_state.load(std::memory_order_acquire) != 2) sched_yield();
        return;
    }

    t_thread.resolving = true;
    // Fields are stored as they are found, so a malloc that dlsym makes after
    // malloc itself was found already goes to the real allocator.
#define ROUTEHEAP_LOOKUP(name, ret, params, requirement)                                      \
    g_real.name = reinterpret_cast<ret(*) params>(dlsym(RTLD_NEXT, #name));                  \
    if (g_real.name == nullptr && (requirement) == kRequired && g_missing_required == nullptr) { \
        g_missing_required = #name;                                                           \
    }
    ROUTEHEAP_HOOKS(ROUTEHEAP_LOOKUP)
#undef ROUTEHEAP_LOOKUP
    t_thread.resolving = false;

    g_real_ready.store(true, std::memory_order_release);
    g_resolve_state.store(2, std::memory_order_release);
}

bool resolving_on_this_thread() { return t_thread.resolving; }

const char* first_missing_required_symbol() { return g_missing_required; }

void* bootstrap_allocate(size_t size, size_t alignment) {
    if (alignment < kPoolHeader) alignment = kPoolHeader;
    if (size > kPoolBytes || alignment > 4096) return nullptr;
    const size_t rounded = (size + kPoolHeader - 1) & ~(kPoolHeader - 1);
    // Reserve the worst case for alignment so the bump stays lock-free.
    const size_t reserve = rounded + kPoolHeader + alignment;
    const size_t offset = g_pool_used.fetch_add(reserve, std::memory_order_relaxed);
    if (offset + reserve > kPoolBytes) return nullptr;

    uintptr_t start = reinterpret_cast<uintptr_t>(g_pool + offset) + kPoolHeader;
    start = (start + alignment - 1) & ~(uintptr_t{alignment} - 1);
    auto* block = reinterpret_cast<unsigned char*>(start);
    std::memcpy(block - sizeof(size_t), &size, sizeof(size_t));
    std::memset(block, 0, size);  // calloc may be served from here too
    return block;
}

bool in_bootstrap_pool(const void* pointer) {
    // One comparison: an address below the pool wraps around to a large offset.
    return reinterpret_cast<uintptr_t>(pointer) - reinterpret_cast<uintptr_t>(g_pool) < kPoolBytes;
}

size_t bootstrap_block_size(const void* pointer) {
    size_t size = 0;
    std::memcpy(&size, static_cast<const unsigned char*>(pointer) - sizeof(size_t), sizeof(size_t));
    return size;
}

}  // namespace routeheap::agent
