// The recorder: record_sink.h entry points, start-up, the writer thread, and the
// trace's fork, exec and exit handling.
#include "recorder.h"

#include "agent_log.h"
#include "allocation_samples.h"
#include "connections.h"
#include "counters.h"
#include "modules.h"
#include "options.h"
#include "real_functions.h"
#include "sample_schedule.h"
#include "spin_lock.h"
#include "thread_buffers.h"
#include "thread_state.h"
#include "thread_totals.h"
#include "trace_writer.h"

#include <dlfcn.h>
#include <linux/futex.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

// The agent's own malloc, an address inside the agent for the preload check.
extern "C" void* routeheap_own_malloc(size_t size);

namespace routeheap::agent {

std::atomic<bool> g_start_pending_after_fork{false};

namespace {

enum Lifecycle : int {
    kPassive = 0,    // not recording (not configured, disabled, or a child before its first allocation)
    kRecording = 1,
    kStopping = 2,   // a failure stopped recording; the trace is still to be ended
    kFinished = 3,   // the trace ended
};

std::atomic<int> g_lifecycle{kPassive};
std::atomic<bool> g_finishing{false};
std::atomic<int> g_exit_status{-1};  // -1: the process returned from main (status not seen)
bool g_trace_created = false;        // this image created a trace file
// The process the recorder state belongs to. A child of vfork (dash uses it) or of
// clone(CLONE_VM) shares the parent's memory, so the exec and exit hooks compare
// getpid() with this and leave the parent's trace alone.
std::atomic<pid_t> g_owner_pid{0};

bool in_owner_process() { return getpid() == g_owner_pid.load(std::memory_order_relaxed); }

ThreadBuffers g_buffers;
SpinLock g_writer_lock;  // guards the trace writer and the draining of g_buffers

// The trace writer is built in static storage on first use and never destroyed:
// static destructors run at exit while other threads may still record, and the
// writer must outlive them (its zstd context in particular).
alignas(TraceWriter) unsigned char g_writer_storage[sizeof(TraceWriter)];
TraceWriter* g_writer_instance = nullptr;

TraceWriter& writer() {
    if (g_writer_instance == nullptr) g_writer_instance = new (g_writer_storage) TraceWriter();
    return *g_writer_instance;
}

constexpr uint64_t kNsPerMs = 1000000;

// Set to 1 (and the writer thread woken with a futex) when a thread's ring is more
// than half full, so the writer drains it before the next flush.
std::atomic<uint32_t> g_drain_requested{0};

// The time of the latest counter sample a request took, on a cache line of its own because
// the thread that serves requests writes it at each one.
struct alignas(64) LastRequestSample {
    std::atomic<uint64_t> time_ns{0};
};
LastRequestSample g_last_request_sample;

uint64_t last_request_sample_ns() { return g_last_request_sample.time_ns.load(std::memory_order_relaxed); }

// A thread whose ring is full waits this long per attempt, and at most this many
// attempts (0.5 s), for the writer to drain it before the record is dropped. With a
// 50 ms bound, four Workers allocating in exact mode on a busy 2-vCPU machine lost
// records.
constexpr uint64_t kFullRingWaitNs = 100000;
constexpr int kFullRingAttempts = 5000;

// Sleeps until `deadline_ns` (CLOCK_MONOTONIC) or until a drain is requested.
void wait_until(uint64_t deadline_ns) {
    timespec until{};
    until.tv_sec = static_cast<time_t>(deadline_ns / 1000000000ull);
    until.tv_nsec = static_cast<long>(deadline_ns % 1000000000ull);
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline; it returns at
    // once when the word is no longer 0.
    while (g_drain_requested.load(std::memory_order_relaxed) == 0) {
        const long result = syscall(SYS_futex, &g_drain_requested, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, &until,
                                    nullptr, FUTEX_BITSET_MATCH_ANY);
        if (result != 0 && errno == ETIMEDOUT) return;
    }
}

void request_drain() {
    if (g_drain_requested.exchange(1, std::memory_order_relaxed) != 0) return;
    ErrnoSaver errno_saver;
    syscall(SYS_futex, &g_drain_requested, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
}

void pause_briefly() {
    const timespec pause{0, static_cast<long>(kFullRingWaitNs)};
    syscall(SYS_nanosleep, &pause, nullptr);
}

// Takes the writer lock, giving up after about two seconds. An exit path can run in
// a signal handler on a thread that already holds the lock (inside the fork or exec
// hook); waiting forever there would hang the host, so the trace then stays without
// its end, as after kill -9.
bool lock_writer_for_exit() {
    const uint64_t deadline = now_ns() + 2000 * kNsPerMs;
    while (!g_writer_lock.try_lock()) {
        if (now_ns() > deadline) return false;
        sched_yield();
    }
    return true;
}

// Ends the trace file: drains the rings and appends ProcessExit (when the process
// exits) and TraceEnd. The first caller wins.
void end_trace(bool process_exit, int status) {
    if (!lock_writer_for_exit()) return;
    SpinLockGuard guard(g_writer_lock, std::adopt_lock);
    const int state = g_lifecycle.load();
    if (state != kRecording && state != kStopping) return;
    g_lifecycle.store(kFinished);

    writer().drain(g_buffers);
    const uint64_t now = now_ns();
    if (process_exit) {
        trace::ProcessExit exit_record{};
        exit_record.header = {static_cast<uint16_t>(trace::RecordType::ProcessExit), sizeof(exit_record)};
        exit_record.status = status;
        exit_record.time_ns = now;
        writer().append(&exit_record, sizeof(exit_record));
    }
    trace::TraceEnd end{};
    end.header = {static_cast<uint16_t>(trace::RecordType::TraceEnd), sizeof(end)};
    end.time_ns = now;
    end.dropped_records = g_buffers.dropped();
    writer().append(&end, sizeof(end));
    writer().flush();
    set_counting(false);
}

void* writer_main(void*) {
    t_thread.internal = true;
    const uint64_t flush_ns = uint64_t{options().flush_ms} * kNsPerMs;
    uint64_t next_flush = now_ns() + flush_ns;
    SampleSchedule schedule(uint64_t{options().sample_ms} * kNsPerMs, uint64_t{options().idle_sample_ms} * kNsPerMs,
                            now_ns());
    scan_modules();

    for (;;) {
        const ThreadTotalSums totals = sum_all_thread_totals();
        const int64_t started = totals[ThreadTotal::RequestsStarted];
        const int64_t ended = totals[ThreadTotal::RequestsEnded];
        const uint64_t wake = schedule.wake_ns(started, ended, last_request_sample_ns(), next_flush);
        wait_until(wake < next_flush ? wake : next_flush);
        const bool drain_requested = g_drain_requested.exchange(0, std::memory_order_relaxed) != 0;

        const int state = g_lifecycle.load();
        if (state == kStopping) {
            end_trace(false, 0);
            return nullptr;
        }
        if (state != kRecording) return nullptr;

        const uint64_t now = now_ns();
        if (now >= schedule.due_ns(started, ended, last_request_sample_ns())) {
            emit_counter_sample(trace::SampleReason::Periodic, 0, now);
            schedule.sampled(now, started);
        }
        if (now >= next_flush) scan_modules_if_changed();
        if (now >= next_flush || drain_requested) {
            SpinLockGuard guard(g_writer_lock);
            if (g_lifecycle.load() == kRecording) {
                writer().drain(g_buffers);
                g_buffers.reclaim_exited();
            }
            if (now >= next_flush) next_flush = now + flush_ns;
        }
    }
}

bool start_writer_thread() {
    // The writer thread blocks every signal, so no host handler ever runs on it.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    const int result = pthread_create(&thread, &attributes, writer_main, nullptr);
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (result != 0) return false;
    pthread_setname_np(thread, "routeheap-write");
    return true;
}

bool follows_exec_of_this_process() {
    const char* marker = getenv(kExecMarkerVariable);
    if (marker == nullptr) return false;
    uint64_t pid = 0;
    for (const char* c = marker; *c != '\0'; ++c) {
        if (*c < '0' || *c > '9') return false;
        pid = pid * 10 + static_cast<uint64_t>(*c - '0');
    }
    return pid == static_cast<uint64_t>(getpid());
}

// Opens the trace and starts the writer thread. Work done here is the agent's, so it
// runs as internal: pthread_create's and zstd's allocations are not counted.
bool start_recording(uint32_t flags, bool after_exec) {
    InternalScope internal;
    ErrnoSaver errno_saver;
    {
        SpinLockGuard guard(g_writer_lock);
        if (!writer().open(options().output_dir, flags, after_exec)) return false;
        g_trace_created = true;
        g_owner_pid.store(getpid());
        g_lifecycle.store(kRecording);
    }
    set_counting(true);
    write_sampling_config();
    emit_counter_sample(trace::SampleReason::ProcessStart, 0, now_ns());
    emit_pending_log_records();

    if (!start_writer_thread()) {
        static LogSite site;
        LogLine line;
        line.add("cannot start the writer thread; recording stopped");
        fail(site, line);
        end_trace(false, 0);
        return false;
    }
    return true;
}

void at_exit_handler() {
    // Modules loaded since the last flush, so their frames can be symbolized.
    if (in_owner_process() && recording()) {
        InternalScope internal;
        scan_modules();
    }
    finish_recording(g_exit_status.load());
}

// Preloaded libraries come before libc in the loader's list of objects; a library
// loaded later with dlopen comes after it. (Comparing dlsym(RTLD_DEFAULT, "malloc")
// with the agent's malloc does not work: for a non-PIE executable such as Debian's
// node, dlsym returns the executable's PLT entry.)
int find_agent_before_libc(struct dl_phdr_info* info, size_t, void* data) {
    auto* agent_base = static_cast<uintptr_t*>(data);
    if (info->dlpi_addr == *agent_base) return 1;
    const char* name = info->dlpi_name;
    if (name != nullptr && std::strstr(name, "/libc.so") != nullptr) return 2;
    return 0;
}

bool agent_is_preloaded() {
    Dl_info self{};
    if (dladdr(reinterpret_cast<void*>(&routeheap_own_malloc), &self) == 0) return false;
    auto agent_base = reinterpret_cast<uintptr_t>(self.dli_fbase);
    return dl_iterate_phdr(find_agent_before_libc, &agent_base) == 1;
}

}  // namespace

uint64_t now_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
}

bool recording() { return g_lifecycle.load(std::memory_order_relaxed) == kRecording; }

bool emit_record(const void* record, size_t size) {
    if (!recording()) return false;
    const ThreadBuffers::Push result = g_buffers.push(record, size);
    // A full ring, which rejected the record, needs the writer as much as a half-full one. A
    // thread without a ring, because all slots are taken, does not wake it, since a drain
    // would not help.
    if (result == ThreadBuffers::Push::OverHalf ||
        (result == ThreadBuffers::Push::Rejected && g_buffers.own_ring_half_full())) {
        request_drain();
    }
    return result != ThreadBuffers::Push::Rejected;
}

bool emit_record_waiting(const void* record, size_t size) {
    for (int attempt = 0;; ++attempt) {
        if (!recording()) return false;
        const ThreadBuffers::Push result = g_buffers.try_push(record, size);
        if (result != ThreadBuffers::Push::Rejected) {
            if (result == ThreadBuffers::Push::OverHalf) request_drain();
            return true;
        }
        // The writer thread must never wait for itself.
        if (t_thread.internal || attempt == kFullRingAttempts) {
            g_buffers.count_dropped();
            return false;
        }
        request_drain();
        pause_briefly();
    }
}

bool read_counter_sample(trace::SampleReason reason, uint64_t connection_id, uint64_t time_ns,
                         trace::CounterSample& sample) {
    if (!recording()) return false;
    sample = trace::CounterSample{};
    sample.header = {static_cast<uint16_t>(trace::RecordType::CounterSample), sizeof(sample)};
    sample.reason = static_cast<uint16_t>(reason);
    sample.time_ns = time_ns;
    sample.connection_id = connection_id;
    // The sample's time is the time of the hooked call that takes it, so it also dates the
    // RSS reading without another clock read. Request samples reuse a reading up to
    // ROUTEHEAP_SAMPLE_MS old, taken by any sample. Every other sample reads RSS anew.
    const bool request_sample = reason == trace::SampleReason::RequestStart ||
                                reason == trace::SampleReason::ResponseStart ||
                                reason == trace::SampleReason::RequestEnd;
    const uint64_t rss_max_age_ns = request_sample ? uint64_t{options().sample_ms} * kNsPerMs : 0;
    read_counters(sample.current, sample.native_live_peak_bytes, sample.v8_committed_peak_bytes, true, time_ns,
                  rss_max_age_ns);
    if (request_sample) g_last_request_sample.time_ns.store(time_ns, std::memory_order_relaxed);
    return true;
}

void emit_counter_sample(trace::SampleReason reason, uint64_t connection_id, uint64_t time_ns) {
    trace::CounterSample sample;
    if (read_counter_sample(reason, connection_id, time_ns, sample)) emit_record(&sample, sizeof(sample));
}

// A request may end on another thread than the one that started it, and the sums stay right.
void request_opened() { add_thread_total(ThreadTotal::RequestsStarted, 1); }

void request_closed() { add_thread_total(ThreadTotal::RequestsEnded, 1); }

void request_stop() {
    int expected = kRecording;
    g_lifecycle.compare_exchange_strong(expected, kStopping);
}

void start_recording_after_fork() {
    bool expected = true;
    if (!g_start_pending_after_fork.compare_exchange_strong(expected, false)) return;
    set_heap_slow_reason(kHeapForkPending, false);
    start_recording(trace::kFileForkedChild, false);
}

void before_fork() {
    // The modules lock comes first: a module scan holds it while it writes records.
    lock_modules_for_fork();
    g_writer_lock.lock();
    lock_mappings_for_fork();
}

void after_fork_in_parent(pid_t child) {
    unlock_mappings_after_fork(false);
    g_writer_lock.unlock();
    unlock_modules_after_fork_in_parent();
    if (child <= 0 || !recording()) return;
    trace::ProcessFork fork_record{};
    fork_record.header = {static_cast<uint16_t>(trace::RecordType::ProcessFork), sizeof(fork_record)};
    fork_record.child_pid = static_cast<uint32_t>(child);
    fork_record.time_ns = now_ns();
    emit_record(&fork_record, sizeof(fork_record));
}

void after_fork_in_child() {
    unlock_mappings_after_fork(true);
    g_writer_lock.reset_after_fork();
    counters_after_fork_child();
    allocation_samples_after_fork_child();
    modules_after_fork_child();
    t_thread.tid = 0;
    g_drain_requested.store(0);
    g_finishing.store(false);
    g_trace_created = false;
    g_owner_pid.store(getpid());

    // The child inherited the parent's trace descriptor and rings: it drops both and
    // waits for its first allocation, because a child that execs at once (libuv's
    // uv_spawn) must not write anything.
    const bool was_recording = g_lifecycle.load() == kRecording || g_start_pending_after_fork.load();
    writer().forget_after_fork_child();
    g_buffers.reset_after_fork_child();
    g_lifecycle.store(kPassive);
    set_heap_slow_reason(kHeapForkPending, was_recording);
    g_start_pending_after_fork.store(was_recording);
}

bool before_exec(const char* path) {
    if (!in_owner_process()) return false;
    if (!recording()) return g_trace_created;
    struct {
        trace::ProcessExec record;
        char path[trace::kMaxPathBytes];
    } exec_record{};
    const size_t length = path == nullptr ? 0 : strnlen(path, trace::kMaxPathBytes);
    exec_record.record.header = {static_cast<uint16_t>(trace::RecordType::ProcessExec),
                                 static_cast<uint16_t>(sizeof(trace::ProcessExec) + length)};
    exec_record.record.path_length = static_cast<uint16_t>(length);
    exec_record.record.time_ns = now_ns();
    if (length > 0) std::memcpy(exec_record.path, path, length);
    wait_for_first_module_scan(200);

    InternalScope internal;
    SpinLockGuard guard(g_writer_lock);
    // Other threads' records first (the writer thread's ModuleLoads among them), so
    // ProcessExec is the last record of the image.
    writer().drain(g_buffers);
    // The image's last counters, since no exit of this image follows.
    emit_counter_sample(trace::SampleReason::ProcessEnd, 0, exec_record.record.time_ns);
    emit_record(&exec_record, exec_record.record.header.size);
    writer().drain(g_buffers);
    return true;
}

void set_exit_status(int status) {
    if (in_owner_process()) g_exit_status.store(status);
}

void finish_recording(int status) {
    if (!in_owner_process() || g_finishing.exchange(true)) return;
    InternalScope internal;
    ErrnoSaver errno_saver;
    if (recording()) {
        // A process that exits right after start (a forked child, say) must still
        // name its modules; the writer thread scans them when it starts.
        wait_for_first_module_scan(200);
        // Room in this thread's ring for the last records: in exact mode it may be full.
        if (lock_writer_for_exit()) {
            SpinLockGuard guard(g_writer_lock, std::adopt_lock);
            if (recording()) writer().drain(g_buffers);
        }
        net::on_process_exit();
        emit_counter_sample(trace::SampleReason::ProcessEnd, 0, now_ns());
    }
    end_trace(true, status);
    report_repeated_messages();
}

namespace {

void report_passive(const char* reason) {
    static LogSite site;
    LogLine line;
    line.add(reason);
    log_once(site, line);
}

// Runs after libc is initialised, before main. Every hook already works before it
// (passing through); from here on they count.
__attribute__((constructor)) void start_agent() {
    InternalScope internal;
    ErrnoSaver errno_saver;
    resolve_real_functions();
    if (const char* missing = first_missing_required_symbol()) {
        LogLine line;
        line.add("the C library function ").add(missing).add(" was not found behind the agent; cannot run");
        abort_with(line);
    }

    load_options();
    if (options().disable) return;
    if (!agent_is_preloaded()) {
        report_passive("the agent was loaded with dlopen, not LD_PRELOAD, so it cannot see allocations; staying passive");
        return;
    }
    if (options().output_dir == nullptr) {
        report_passive("ROUTEHEAP_OUTPUT_DIR is not set; recording nothing (use `routeheap record`)");
        return;
    }
    if (!init_counters(options().max_live_blocks, options().sample_bytes)) {
        report_passive("cannot map the agent's counter tables; recording nothing");
        return;
    }
    if (!init_allocation_samples()) {
        static LogSite site;
        LogLine line;
        line.add("cannot map the agent's stack table; allocations get no stacks (lower ROUTEHEAP_MAX_STACKS)");
        log_once(site, line);
    }
    g_buffers.init(size_t{options().buffer_kb} * 1024);
    if (start_recording(0, follows_exec_of_this_process())) atexit(at_exit_handler);
}

}  // namespace

}  // namespace routeheap::agent
