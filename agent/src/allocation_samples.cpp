// Sampled allocation records and their stacks.
#include "allocation_samples.h"

#include "agent_log.h"
#include "counters.h"
#include "options.h"
#include "recorder.h"
#include "sampler.h"
#include "stack_table.h"
#include "stack_walk.h"
#include "thread_state.h"

#include <sys/syscall.h>
#include <unistd.h>

namespace routeheap::agent {

namespace {

StackTable g_stacks;
bool g_ready = false;

// Room in the frame arena per stack, on average. Stacks in node 20 are 3 to 64
// frames deep under the default limit, so a table of deep stacks may run out of
// arena before it runs out of slots; both end in the overflow stack.
constexpr uint32_t kAverageFrames = 32;

uint32_t current_tid() {
    ThreadState& thread = t_thread;
    if (thread.tid == 0) thread.tid = static_cast<uint32_t>(syscall(SYS_gettid));
    return thread.tid;
}

void report_table_full() {
    static LogSite site;
    LogLine line;
    line.add("more than ROUTEHEAP_MAX_STACKS=").add_unsigned(options().max_stacks);
    line.add(" distinct stacks; later new stacks are recorded as unknown (raise the limit)");
    log_once(site, line);
}

// Writes the StackDefinition of the overflow stack (no frames) once per trace.
void write_overflow_definition() {
    if (!g_stacks.claim_overflow_definition()) return;
    trace::StackDefinition definition{};
    definition.header = {static_cast<uint16_t>(trace::RecordType::StackDefinition), sizeof(definition)};
    definition.frame_count = 0;
    definition.stack_id = StackTable::kOverflowStackId;
    if (!emit_record_waiting(&definition, sizeof(definition))) g_stacks.release_overflow_definition();
}

// Captures the stack and returns its id, writing its definition when needed.
uint64_t current_stack_id() {
    struct {
        trace::StackDefinition record;
        uint64_t frames[kMaxFramesLimit];
    } definition;
    const auto count = static_cast<uint32_t>(capture_stack(definition.frames, options().max_frames));

    bool write_definition = false;
    const uint64_t id = g_stacks.intern(definition.frames, count, write_definition);
    if (id == StackTable::kOverflowStackId) {
        report_table_full();
        write_overflow_definition();
        return id;
    }
    if (write_definition) {
        const size_t size = sizeof(trace::StackDefinition) + count * sizeof(uint64_t);
        definition.record.header = {static_cast<uint16_t>(trace::RecordType::StackDefinition),
                                    static_cast<uint16_t>(size)};
        definition.record.frame_count = count;
        definition.record.stack_id = id;
        if (!emit_record_waiting(&definition, size)) g_stacks.mark_unwritten(id);
    }
    return id;
}

}  // namespace

bool init_allocation_samples() {
    SamplingParameters parameters;
    parameters.mean_interval_bytes = options().sample_bytes;
    parameters.always_threshold_bytes = options().always_bytes;
    set_sampling_parameters(parameters);
    init_stack_walk();
    g_ready = g_stacks.init(options().max_stacks, kAverageFrames);
    set_heap_slow_reason(kHeapNoByteSampling, !g_ready || parameters.mean_interval_bytes <= 1);
    return g_ready;
}

bool allocation_sampling_ready() { return g_ready; }

void write_sampling_config() {
    trace::SamplingConfig config{};
    config.header = {static_cast<uint16_t>(trace::RecordType::SamplingConfig), sizeof(config)};
    config.max_frames = options().max_frames;
    config.mean_interval_bytes = options().sample_bytes;
    config.always_threshold_bytes = options().always_bytes;
    emit_record(&config, sizeof(config));
}

bool record_sampled_allocation(trace::AllocationKind kind, uint16_t flags, const void* block, size_t size) {
    ErrnoSaver errno_saver;
    trace::Allocation allocation{};
    allocation.header = {static_cast<uint16_t>(trace::RecordType::Allocation), sizeof(allocation)};
    allocation.kind = static_cast<uint16_t>(kind);
    allocation.flags = flags;
    allocation.stack_id = current_stack_id();
    allocation.time_ns = now_ns();
    allocation.address = reinterpret_cast<uintptr_t>(block);
    allocation.size = size;
    allocation.thread_id = current_tid();
    return emit_record_waiting(&allocation, sizeof(allocation));
}

void record_sampled_free(const void* block, uint64_t time_ns) { record_sampled_release(block, 0, time_ns); }

void record_sampled_release(const void* start, uint64_t size, uint64_t time_ns) {
    ErrnoSaver errno_saver;
    trace::Free release{};
    release.header = {static_cast<uint16_t>(trace::RecordType::Free), sizeof(release)};
    release.thread_id = current_tid();
    release.time_ns = time_ns;
    release.address = reinterpret_cast<uintptr_t>(start);
    release.size = size;
    emit_record_waiting(&release, sizeof(release));
}

void allocation_samples_after_fork_child() {
    if (g_ready) g_stacks.reset_after_fork_child();
}

}  // namespace routeheap::agent
