// Per-thread agent state (the reentrancy guard, the writer-thread flag, the thread's
// buffer slot, its sampling countdown and stack bounds) and the scope objects that
// manage it.
//
// The state is plain data in the initial-exec TLS model: reading it is one
// %fs-relative load, with no __tls_get_addr call (which may allocate or take the
// loader lock) and no constructor or destructor.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace routeheap::agent {

namespace thread_totals_detail {
struct Line;
}  // namespace thread_totals_detail

struct ThreadState {
    bool in_hook;    // a hook of this thread is on the stack: nested hooks pass through
    bool internal;   // agent work (the writer thread, start-up): nothing is recorded
    bool resolving;  // this thread looks up the real functions
    int32_t slot;    // buffer slot index + 1, 0 when the thread has none
    int32_t totals_line;  // thread_totals.cpp line index + 1, -1 for the shared line, 0 before the first add
    thread_totals_detail::Line* own_line;  // the line of `totals_line` when the thread has its own, else nullptr
    uint32_t tid;    // kernel thread id once read, 0 before (and after fork in the child)

    // Allocation sampling (sampler.h): bytes left until the next sampled allocation,
    // and the state of the thread's random generator (0 until first use).
    int64_t bytes_until_sample;
    uint64_t random_state;

    // The thread's stack as [stack_low, stack_high), read on the first stack walk
    // (stack_walk.h). `stack_state` is 0 before that, 1 when known, 2 when unknown.
    uintptr_t stack_low;
    uintptr_t stack_high;
    uint8_t stack_state;

    // The shadow piece this thread used last (block_sizes.h), which spares the hooks the
    // directory's two dependent loads: the id of the owning store (0 for none), the
    // address >> 24 the piece covers, and the piece. Pieces are never unmapped, so the
    // pointer stays valid.
    uint64_t shadow_store_id;
    uint64_t shadow_piece_key;
    void* shadow_piece;
    // The piece used before that one, nullptr for none. A thread whose blocks come from two
    // 16 MiB spans in turn then finds both without the directory.
    uint64_t shadow_other_key;
    void* shadow_other_piece;
};

inline constinit thread_local ThreadState t_thread __attribute__((tls_model("initial-exec"))) = {};

// Returns true when no hook of the thread is on its stack and it does no agent work. The
// hooks' fast paths check this with one load of both flags.
inline bool thread_idle(const ThreadState& thread) {
    static_assert(offsetof(ThreadState, internal) == offsetof(ThreadState, in_hook) + 1);
    uint16_t flags = 0;
    std::memcpy(&flags, &thread.in_hook, sizeof(flags));
    return flags == 0;
}

// The reentrancy guard. Only the outermost hook of a thread records, so an
// allocation made inside a recorded call (operator new calling malloc, calloc
// inside dlsym) is counted once. Recorder entry points take it by reference.
class HookScope {
public:
    HookScope() : active_(!t_thread.in_hook && !t_thread.internal) {
        if (active_) t_thread.in_hook = true;
    }
    // For `thread`, the calling thread, which the caller found idle (thread_idle()).
    explicit HookScope(ThreadState& thread) : active_(true) { thread.in_hook = true; }
    ~HookScope() {
        if (active_) t_thread.in_hook = false;
    }
    HookScope(const HookScope&) = delete;
    HookScope& operator=(const HookScope&) = delete;

    // False when this call is nested in another hook or made by the agent itself.
    bool active() const { return active_; }

private:
    // Const, so the compiler need not read it back after a call that takes the scope.
    const bool active_;
};

// Marks the thread as doing agent work for the scope's lifetime, so the allocations
// of pthread_create, zstd and the loader made on the agent's behalf are not counted.
class InternalScope {
public:
    InternalScope() : previous_(t_thread.internal) { t_thread.internal = true; }
    ~InternalScope() { t_thread.internal = previous_; }
    InternalScope(const InternalScope&) = delete;
    InternalScope& operator=(const InternalScope&) = delete;

private:
    bool previous_;
};

// Keeps errno as the real call left it while the recorder runs (V8 checks errno
// after mprotect, madvise and munmap).
class ErrnoSaver {
public:
    ErrnoSaver() : saved_(errno) {}
    ~ErrnoSaver() { errno = saved_; }
    ErrnoSaver(const ErrnoSaver&) = delete;
    ErrnoSaver& operator=(const ErrnoSaver&) = delete;

private:
    int saved_;
};

}  // namespace routeheap::agent
