// The recorder's life in one process image: start, the writer thread, fork, exec and
// exit. record_sink.h holds the entry points the HTTP connection tracker uses.
#pragma once

#include "record_sink.h"

#include <sys/types.h>

#include <atomic>

namespace routeheap::agent {

// emit_record() for the sampled-allocation records: when the calling thread's ring
// is full, it wakes the writer thread and waits up to about 0.5 s for room before it
// drops the record, so exact mode (ROUTEHEAP_SAMPLE_BYTES=1) loses records only when
// the writer falls that far behind. The writer thread itself never waits.
bool emit_record_waiting(const void* record, size_t size);

// Stops recording after a failure: the writer thread writes what it has, ends the
// trace and exits. Safe to call from any thread, more than once.
void request_stop();

// In a forked child, recording starts on the first allocation (so nothing is written
// between fork and an immediate exec). Cheap when there is nothing to start.
extern std::atomic<bool> g_start_pending_after_fork;
void start_recording_after_fork();
inline void start_recording_if_forked() {
    if (g_start_pending_after_fork.load(std::memory_order_relaxed)) [[unlikely]] {
        start_recording_after_fork();
    }
}

// fork hook steps: before the real fork (takes the agent's locks), then in the
// parent (releases them, writes ProcessFork) or in the child (resets the recorder).
void before_fork();
void after_fork_in_parent(pid_t child);
void after_fork_in_child();

// exec hook step before the real execve: writes ProcessExec and flushes the trace.
// Returns true when this image has a trace, so the next image numbers its own.
bool before_exec(const char* path);

// The status exit() was called with, for the ProcessExit record.
void set_exit_status(int status);

// Ends the trace: ends open requests, writes the last sample, ProcessExit and
// TraceEnd, and flushes. Idempotent; runs from atexit and the _exit hooks.
void finish_recording(int status);

// The variable the exec hooks set to tell the next image that it follows an exec of
// the same process (its value is the pid).
inline constexpr char kExecMarkerVariable[] = "ROUTEHEAP_EXEC_PID";

}  // namespace routeheap::agent
