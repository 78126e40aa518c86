// Hooks of the malloc family and the C++ allocation operators.
//
// While the agent looks up the real functions, malloc and friends are served from
// the bootstrap pool. Pool blocks are recognised by address everywhere and never
// reach the real allocator.
#include "counters.h"
#include "heap_fast_path.h"
#include "real_functions.h"
#include "thread_state.h"

#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace ra = routeheap::agent;

namespace {

constexpr size_t kDefaultAlignment = 16;

// True when the real function `field` is not known yet and the caller must use the
// bootstrap pool (a nested call made by dlsym while the agent resolves its symbols).
template <typename Field>
bool needs_bootstrap(Field ra::RealFunctions::*field) {
    if (ra::g_real_ready.load(std::memory_order_acquire)) [[likely]] return false;
    ra::resolve_real_functions();
    return ra::g_real.*field == nullptr;
}

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

using Kind = routeheap::trace::AllocationKind;

// malloc and free have a fast path (heap_fast_path.h) and a general one. The general one
// is a function of its own, so the fast path saves no registers it does not use.
[[gnu::noinline]] void* allocate_general(size_t size, Kind kind) {
    if (needs_bootstrap(&ra::RealFunctions::malloc)) return ra::bootstrap_allocate(size, kDefaultAlignment);
    ra::HookScope scope;
    void* block = ra::g_real.malloc(size);
    ra::count_allocation(scope, kind, block, size);
    return block;
}

// Inlined into each hook, so `kind` is a constant there and the fast path makes one call.
[[gnu::always_inline]] inline void* allocate(size_t size, Kind kind) {
    ra::ThreadState& thread = ra::t_thread;
    if (!ra::heap_fast_path_open(thread)) [[unlikely]] return allocate_general(size, kind);
    ra::HookScope scope(thread);
    void* block = ra::g_real.malloc(size);
    if (!ra::count_allocation_fast(thread, block, size)) [[unlikely]] ra::count_allocation(scope, kind, block, size);
    return block;
}

[[gnu::noinline]] void release_general(void* block) {
    if (block == nullptr || ra::in_bootstrap_pool(block)) return;
    if (needs_bootstrap(&ra::RealFunctions::free)) return;  // dlsym's early blocks may leak
    ra::HookScope scope;
    ra::count_free(scope, block);
    ra::g_real.free(block);
}

// The fast path counts inside a hook scope, so an allocation of a signal handler that runs
// meanwhile is not counted and cannot overwrite the thread's totals half-way. It calls the real
// free after the scope: glibc's free of a heap chunk calls no function the agent interposes.
void release(void* block) {
    ra::ThreadState& thread = ra::t_thread;
    if (ra::heap_fast_path_open(thread) && block != nullptr && !ra::in_bootstrap_pool(block)) [[likely]] {
        bool counted = false;
        {
            ra::HookScope scope(thread);
            counted = ra::count_free_fast(thread, block);
        }
        if (counted) [[likely]] {
            ra::g_real.free(block);
            return;
        }
    }
    release_general(block);
}

// posix_memalign semantics; the other aligned allocators are built on it.
int allocate_aligned(void** out, size_t alignment, size_t size, Kind kind) {
    if (needs_bootstrap(&ra::RealFunctions::posix_memalign)) {
        *out = ra::bootstrap_allocate(size, alignment);
        return *out == nullptr ? ENOMEM : 0;
    }
    ra::HookScope scope;
    const int result = ra::g_real.posix_memalign(out, alignment, size);
    if (result == 0) ra::count_allocation(scope, kind, *out, size);
    return result;
}

}  // namespace

// The agent's own malloc under a name that the loader cannot interpose, so the
// start-up check can tell whether the process's malloc is this one.
extern "C" __attribute__((visibility("hidden"), alias("malloc"), copy(malloc))) void* routeheap_own_malloc(size_t size);

ROUTEHEAP_EXPORT void* malloc(size_t size) noexcept { return allocate(size, Kind::Malloc); }

ROUTEHEAP_EXPORT void free(void* block) noexcept { release(block); }

ROUTEHEAP_EXPORT void* calloc(size_t count, size_t size) noexcept {
    if (needs_bootstrap(&ra::RealFunctions::calloc)) {
        size_t total = 0;
        if (__builtin_mul_overflow(count, size, &total)) return nullptr;
        return ra::bootstrap_allocate(total, kDefaultAlignment);  // the pool is zeroed
    }
    ra::HookScope scope;
    void* block = ra::g_real.calloc(count, size);
    if (block != nullptr) ra::count_allocation(scope, Kind::Calloc, block, count * size);
    return block;
}

ROUTEHEAP_EXPORT void* realloc(void* block, size_t size) noexcept {
    if (ra::in_bootstrap_pool(block)) {
        // Move a pool block to the real heap; the pool copy is never reused.
        void* moved = allocate(size, Kind::Realloc);
        if (moved != nullptr) {
            const size_t old_size = ra::bootstrap_block_size(block);
            std::memcpy(moved, block, old_size < size ? old_size : size);
        }
        return moved;
    }
    if (needs_bootstrap(&ra::RealFunctions::realloc)) {
        return block == nullptr ? ra::bootstrap_allocate(size, kDefaultAlignment) : nullptr;
    }
    ra::HookScope scope;
    const ra::ReallocTicket ticket = ra::begin_realloc(scope, block);
    void* result = ra::g_real.realloc(block, size);
    ra::finish_realloc(scope, ticket, result, size);
    return result;
}

ROUTEHEAP_EXPORT void* reallocarray(void* block, size_t count, size_t size) noexcept {
    size_t total = 0;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return nullptr;
    }
    return realloc(block, total);
}

ROUTEHEAP_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
    return allocate_aligned(out, alignment, size, Kind::AlignedAlloc);
}

ROUTEHEAP_EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept {
    if (needs_bootstrap(&ra::RealFunctions::aligned_alloc)) return ra::bootstrap_allocate(size, alignment);
    ra::HookScope scope;
    void* block = ra::g_real.aligned_alloc(alignment, size);
    ra::count_allocation(scope, Kind::AlignedAlloc, block, size);
    return block;
}

ROUTEHEAP_EXPORT void* memalign(size_t alignment, size_t size) noexcept {
    if (needs_bootstrap(&ra::RealFunctions::memalign)) return ra::bootstrap_allocate(size, alignment);
    ra::HookScope scope;
    void* block = ra::g_real.memalign(alignment, size);
    ra::count_allocation(scope, Kind::AlignedAlloc, block, size);
    return block;
}

ROUTEHEAP_EXPORT void* valloc(size_t size) noexcept {
    if (needs_bootstrap(&ra::RealFunctions::valloc)) return ra::bootstrap_allocate(size, page_size());
    ra::HookScope scope;
    void* block = ra::g_real.valloc(size);
    ra::count_allocation(scope, Kind::AlignedAlloc, block, size);
    return block;
}

ROUTEHEAP_EXPORT void* pvalloc(size_t size) noexcept {
    if (needs_bootstrap(&ra::RealFunctions::pvalloc)) return ra::bootstrap_allocate(size, page_size());
    ra::HookScope scope;
    void* block = ra::g_real.pvalloc(size);
    ra::count_allocation(scope, Kind::AlignedAlloc, block, size);
    return block;
}

ROUTEHEAP_EXPORT size_t malloc_usable_size(void* block) noexcept {
    if (block == nullptr) return 0;
    if (ra::in_bootstrap_pool(block)) return ra::bootstrap_block_size(block);
    if (needs_bootstrap(&ra::RealFunctions::malloc_usable_size)) return 0;
    return ra::g_real.malloc_usable_size(block);
}

// C++ operators. They allocate with malloc and posix_memalign, as libstdc++ does, so
// the caller's frame is the hook's direct parent. Only a failed allocation goes to
// libstdc++'s own operator, which runs the new-handler and throws std::bad_alloc.
namespace {

// libstdc++'s operators, looked up only when an allocation failed.
using ThrowingNew = void* (*ra::RealFunctions::*)(size_t);
using ThrowingAlignedNew = void* (*ra::RealFunctions::*)(size_t, size_t);

[[noreturn]] void no_operator_new() {
    static const char message[] = "routeheap: allocation failed and libstdc++'s operator new is not loaded\n";
    ra::real().write(2, message, sizeof(message) - 1);
    abort();
}

[[gnu::always_inline]] inline void* new_or_throw(size_t size, Kind kind, ThrowingNew real_operator) {
    if (size == 0) size = 1;
    if (void* block = allocate(size, kind)) [[likely]] return block;
    const auto fallback = ra::real().*real_operator;
    if (fallback == nullptr) no_operator_new();
    return fallback(size);
}

void* aligned_new_or_throw(size_t size, size_t alignment, Kind kind, ThrowingAlignedNew real_operator) {
    if (size == 0) size = 1;
    if (alignment < sizeof(void*)) alignment = sizeof(void*);
    void* block = nullptr;
    if (allocate_aligned(&block, alignment, size, kind) == 0) return block;
    const auto fallback = ra::real().*real_operator;
    if (fallback == nullptr) no_operator_new();
    return fallback(size, alignment);
}

// NOTE: the nothrow forms return nullptr at once when malloc fails, without running
// a new-handler the host may have installed.
[[gnu::always_inline]] inline void* new_or_null(size_t size, Kind kind) { return allocate(size == 0 ? 1 : size, kind); }

void* aligned_new_or_null(size_t size, size_t alignment, Kind kind) {
    void* block = nullptr;
    if (alignment < sizeof(void*)) alignment = sizeof(void*);
    return allocate_aligned(&block, alignment, size == 0 ? 1 : size, kind) == 0 ? block : nullptr;
}

}  // namespace

#define ROUTEHEAP_OPERATOR __attribute__((visibility("default")))

ROUTEHEAP_OPERATOR void* operator new(size_t size) { return new_or_throw(size, Kind::OperatorNew, &ra::RealFunctions::_Znwm); }
ROUTEHEAP_OPERATOR void* operator new[](size_t size) {
    return new_or_throw(size, Kind::OperatorNewArray, &ra::RealFunctions::_Znam);
}
ROUTEHEAP_OPERATOR void* operator new(size_t size, const std::nothrow_t&) noexcept {
    return new_or_null(size, Kind::OperatorNew);
}
ROUTEHEAP_OPERATOR void* operator new[](size_t size, const std::nothrow_t&) noexcept {
    return new_or_null(size, Kind::OperatorNewArray);
}
ROUTEHEAP_OPERATOR void* operator new(size_t size, std::align_val_t alignment) {
    return aligned_new_or_throw(size, static_cast<size_t>(alignment), Kind::OperatorNew, &ra::RealFunctions::_ZnwmSt11align_val_t);
}
ROUTEHEAP_OPERATOR void* operator new[](size_t size, std::align_val_t alignment) {
    return aligned_new_or_throw(size, static_cast<size_t>(alignment), Kind::OperatorNewArray,
                                &ra::RealFunctions::_ZnamSt11align_val_t);
}
ROUTEHEAP_OPERATOR void* operator new(size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return aligned_new_or_null(size, static_cast<size_t>(alignment), Kind::OperatorNew);
}
ROUTEHEAP_OPERATOR void* operator new[](size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return aligned_new_or_null(size, static_cast<size_t>(alignment), Kind::OperatorNewArray);
}

ROUTEHEAP_OPERATOR void operator delete(void* block) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete[](void* block) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete(void* block, size_t) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete[](void* block, size_t) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete(void* block, std::align_val_t) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete[](void* block, std::align_val_t) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete(void* block, size_t, std::align_val_t) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete[](void* block, size_t, std::align_val_t) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete(void* block, const std::nothrow_t&) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete[](void* block, const std::nothrow_t&) noexcept { release(block); }
ROUTEHEAP_OPERATOR void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept {
    release(block);
}
ROUTEHEAP_OPERATOR void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept {
    release(block);
}
