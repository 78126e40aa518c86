// Allocation records of one process: weights from the sampling configuration, the
// stack table, the module map, and the replay of a window to its peak.
#include <routeheap/analysis/stacks.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <type_traits>
#include <unordered_set>

namespace routeheap::analysis {

double SamplingParameters::scale(uint64_t size, uint16_t flags) const {
    if (mean_interval_bytes <= 1 || (flags & trace::kAllocationAlways) != 0 || size == 0) return 1.0;
    // -expm1(-x) is 1 - exp(-x) without losing precision for sizes far below the mean.
    const double probability =
        -std::expm1(-static_cast<double>(size) / static_cast<double>(mean_interval_bytes));
    return probability > 0 ? 1.0 / probability : 1.0;
}

void ModuleMap::load(LoadedModule module) { modules_.push_back(std::move(module)); }

void ModuleMap::unload(uint64_t load_bias, uint64_t time_ns) {
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
        if (it->load_bias == load_bias && it->unload_ns == std::numeric_limits<uint64_t>::max() &&
            it->load_ns <= time_ns) {
            it->unload_ns = time_ns;
            return;
        }
    }
}

const LoadedModule* ModuleMap::find(uint64_t address, uint64_t time_ns) const {
    const LoadedModule* fallback = nullptr;
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
        if (address < it->start || address >= it->end) continue;
        if (it->load_ns <= time_ns && time_ns < it->unload_ns) return &*it;
        if (fallback == nullptr) fallback = &*it;
    }
    return fallback;
}

void StackModel::on_event(const TraceEvent& event) {
    if (const auto* config = std::get_if<trace::SamplingConfig>(&event)) {
        sampling_.mean_interval_bytes = config->mean_interval_bytes;
        sampling_.always_threshold_bytes = config->always_threshold_bytes;
        sampling_.max_frames = config->max_frames;
        has_sampling_config_ = true;
    } else if (const auto* allocation = std::get_if<trace::Allocation>(&event)) {
        HeapEvent heap;
        heap.time_ns = allocation->time_ns;
        heap.address = allocation->address;
        heap.size = allocation->size;
        heap.stack = StackId{allocation->stack_id};
        heap.flags = allocation->flags;
        heap.kind = allocation->kind;
        events_.push_back(heap);
        ++allocation_count_;
    } else if (const auto* free = std::get_if<trace::Free>(&event)) {
        HeapEvent heap;
        heap.time_ns = free->time_ns;
        heap.address = free->address;
        heap.size = free->size;
        heap.is_free = true;
        events_.push_back(heap);
    } else if (const auto* stack = std::get_if<StackDefinitionEvent>(&event)) {
        stacks_[stack->record.stack_id] = stack->frames;
    } else if (const auto* load = std::get_if<ModuleLoadEvent>(&event)) {
        LoadedModule module;
        module.path = load->path;
        module.build_id = load->build_id;
        module.load_bias = load->record.load_bias;
        module.start = load->record.start;
        module.end = load->record.end;
        module.load_ns = load->record.time_ns;
        modules_.load(std::move(module));
    } else if (const auto* unload = std::get_if<trace::ModuleUnload>(&event)) {
        modules_.unload(unload->load_bias, unload->time_ns);
    }
}

// Sorts stably by time, as std::stable_sort would, for records that arrive as runs
// already in time order. The agent writes each thread's buffer whole, so a 54 MB
// exact-mode trace of the node-routes sample contained 10,433 runs in 8.3 million
// records, none more than 57 ms older than the record before it. Each run is merged into
// the sorted part before it, and the merge moves only the sorted records later than the
// run's first one. The work therefore grows with the disorder, and the extra memory
// with the longest run instead of half the trace.
void StackModel::sort_by_time(std::vector<HeapEvent>& events) {
    const auto earlier = [](const HeapEvent& a, const HeapEvent& b) { return a.time_ns < b.time_ns; };
    const auto begin = events.begin();
    // Records far out of order (a buffer drained seconds late) would make each merge move
    // much of the sorted part. Past this many moves std::stable_sort finishes instead,
    // which gives the same order because the sorted part is already stable.
    const uint64_t move_budget = 8 * static_cast<uint64_t>(events.size());
    uint64_t moves = 0;
    size_t sorted_end = std::min<size_t>(1, events.size());
    while (sorted_end < events.size()) {
        size_t run_end = sorted_end + 1;
        while (run_end < events.size() && !earlier(events[run_end], events[run_end - 1])) ++run_end;

        const auto middle = begin + static_cast<std::ptrdiff_t>(sorted_end);
        moves += static_cast<uint64_t>(middle - std::upper_bound(begin, middle, *middle, earlier)) + (run_end - sorted_end);
        if (moves > move_budget) {
            std::stable_sort(begin, events.end(), earlier);
            return;
        }
        // The merge keeps the sorted part first among equal times, which is file order.
        std::inplace_merge(begin, middle, begin + static_cast<std::ptrdiff_t>(run_end), earlier);
        sorted_end = run_end;
    }
}

void StackModel::reserve(size_t records) {
    try {
        events_.reserve(std::min(records, events_.max_size()));
    } catch (const std::bad_alloc&) {
        // The vector then grows as records arrive.
    }
}

void StackModel::finish() {
    if (finished_) return;
    finished_ = true;

    // Each thread's records keep their order in the file, so a stable sort by time keeps
    // a free before a reuse of its address by the same thread at the same nanosecond.
    sort_by_time(events_);

    std::unordered_set<uint64_t> undefined;
    for (const HeapEvent& event : events_) {
        if (event.is_free) continue;
        if (!stacks_.contains(event.stack.value)) undefined.insert(event.stack.value);
    }
    undefined_stacks_ = undefined.size();
}

const std::vector<uint64_t>* StackModel::frames(StackId stack) const {
    const auto it = stacks_.find(stack.value);
    return it == stacks_.end() ? nullptr : &it->second;
}

std::vector<std::string> StackModel::warnings() const {
    std::vector<std::string> lines;
    if (allocation_count_ > 0 && !has_sampling_config_) {
        lines.push_back("allocations were recorded without a SamplingConfig record, so each one weighs 1 "
                        "(sizes are not scaled up to estimates)");
    }
    if (undefined_stacks_ > 0) {
        lines.push_back(std::to_string(undefined_stacks_) +
                        " stacks are referenced by allocations but never defined (their StackDefinition "
                        "records were lost); those sites show as [stack not recorded]");
    }
    return lines;
}

void StackModel::release_range(uint64_t address, uint64_t size, LiveSet& live) {
    const uint64_t release_end = address + size;
    auto it = live.ranges.upper_bound(address);
    if (it != live.ranges.begin()) --it;
    while (it != live.ranges.end() && it->first < release_end) {
        const uint64_t start = it->first;
        const LiveBlock block = it->second;
        const uint64_t end = start + block.size;
        if (end <= address) {
            ++it;
            continue;
        }
        it = live.ranges.erase(it);
        live.bytes -= static_cast<double>(block.size) * block.scale;

        // Keep the parts of the range outside the released span.
        if (start < address) {
            LiveBlock before = block;
            before.size = address - start;
            live.bytes += static_cast<double>(before.size) * before.scale;
            live.ranges.emplace(start, before);
        }
        if (end > release_end) {
            LiveBlock after = block;
            after.size = end - release_end;
            live.bytes += static_cast<double>(after.size) * after.scale;
            it = live.ranges.emplace(release_end, after).first;
            ++it;
        }
    }
}

void StackModel::apply(const HeapEvent& event, double scale, LiveSet& live) {
    if (!event.is_free) {
        const LiveBlock block{event.size, scale, event.stack, event.time_ns};
        const bool range = event.kind == static_cast<uint16_t>(trace::AllocationKind::V8Commit);
        if (range) {
            release_range(event.address, event.size, live);  // a range committed again replaces the old one
            live.ranges.emplace(event.address, block);
        } else {
            // An address allocated again without a recorded free: the free was not sampled
            // or was lost, and the old block is gone either way.
            auto [it, inserted] = live.blocks.try_emplace(event.address, block);
            if (!inserted) {
                live.bytes -= static_cast<double>(it->second.size) * it->second.scale;
                it->second = block;
            }
        }
        live.bytes += static_cast<double>(block.size) * block.scale;
        return;
    }

    if (event.size > 0) {
        release_range(event.address, event.size, live);
        return;
    }
    if (const auto it = live.blocks.find(event.address); it != live.blocks.end()) {
        live.bytes -= static_cast<double>(it->second.size) * it->second.scale;
        live.blocks.erase(it);
    } else if (const auto range = live.ranges.find(event.address); range != live.ranges.end()) {
        live.bytes -= static_cast<double>(range->second.size) * range->second.scale;
        live.ranges.erase(range);
    }
}

bool StackModel::records_every_allocation_of(uint64_t size) const {
    return has_sampling_config_ && (sampling_.mean_interval_bytes <= 1 || size >= sampling_.always_threshold_bytes);
}

bool StackModel::allocated_between(uint64_t min_size, uint64_t max_size, uint64_t start_ns, uint64_t end_ns) const {
    const auto by_time = [](const HeapEvent& event, uint64_t time) { return event.time_ns < time; };
    for (auto it = std::lower_bound(events_.begin(), events_.end(), start_ns, by_time);
         it != events_.end() && it->time_ns <= end_ns; ++it) {
        const bool heap_block = it->kind != static_cast<uint16_t>(trace::AllocationKind::V8Commit);
        if (!it->is_free && heap_block && it->size >= min_size && it->size <= max_size) return true;
    }
    return false;
}

HeapTotals StackModel::heap_totals() const {
    HeapTotals totals;
    std::unordered_map<uint64_t, double> live_blocks;  // address -> weighted bytes
    double live = 0;
    for (const HeapEvent& event : events_) {
        // Committed V8 ranges, and releases of mapped ranges, are not heap blocks.
        if (event.kind == static_cast<uint16_t>(trace::AllocationKind::V8Commit)) continue;
        if (event.is_free && event.size > 0) continue;

        if (event.is_free) {
            const auto it = live_blocks.find(event.address);
            if (it == live_blocks.end()) continue;
            live -= it->second;
            live_blocks.erase(it);
            continue;
        }

        const double scale = scale_of(event);
        const double bytes = static_cast<double>(event.size) * scale;
        totals.allocations += scale;
        totals.allocated_bytes += bytes;
        totals.estimate = totals.estimate || scale > 1.0;
        // An address allocated again without a recorded free replaces the old block.
        auto [it, inserted] = live_blocks.try_emplace(event.address, bytes);
        if (!inserted) {
            live -= it->second;
            it->second = bytes;
        }
        live += bytes;
        if (live > totals.peak_live_bytes) {
            totals.peak_live_bytes = live;
            totals.peak_ns = event.time_ns;
        }
    }
    return totals;
}

WindowPeak StackModel::peak_in(uint64_t start_ns, uint64_t end_ns) const {
    WindowPeak peak;
    const auto by_time = [](const HeapEvent& event, uint64_t time) { return event.time_ns < time; };
    const auto first = std::lower_bound(events_.begin(), events_.end(), start_ns, by_time);
    auto last = first;
    while (last != events_.end() && last->time_ns <= end_ns) ++last;

    // First pass: the event after which the live bytes were highest. Ties keep the
    // earliest moment, when the bytes were first reached.
    LiveSet live;
    auto peak_event = last;
    for (auto it = first; it != last; ++it) {
        apply(*it, it->is_free ? 1.0 : scale_of(*it), live);
        if (!it->is_free) peak.sampled = true;
        if (live.bytes > peak.bytes + 0.5) {
            peak.bytes = live.bytes;
            peak_event = it;
        }
    }
    if (peak_event == last) return peak;

    // Second pass: the live set at that moment, grouped by stack.
    live = LiveSet{};
    for (auto it = first; it != peak_event + 1; ++it) apply(*it, it->is_free ? 1.0 : scale_of(*it), live);
    peak.time_ns = peak_event->time_ns;

    std::unordered_map<uint64_t, StackBytes> by_stack;
    const auto add = [&](const LiveBlock& block) {
        StackBytes& bytes = by_stack[block.stack.value];
        if (bytes.allocations == 0) bytes.time_ns = block.time_ns;
        bytes.stack = block.stack;
        bytes.bytes += static_cast<double>(block.size) * block.scale;
        bytes.allocations += block.scale;
        bytes.time_ns = std::min(bytes.time_ns, block.time_ns);
        bytes.estimate = bytes.estimate || block.scale > 1.0;
    };
    for (const auto& [address, block] : live.blocks) add(block);
    for (const auto& [address, block] : live.ranges) add(block);

    for (auto& [stack, bytes] : by_stack) {
        peak.estimate = peak.estimate || bytes.estimate;
        peak.stacks.push_back(bytes);
    }
    std::sort(peak.stacks.begin(), peak.stacks.end(), [](const StackBytes& a, const StackBytes& b) {
        return a.bytes != b.bytes ? a.bytes > b.bytes : a.stack < b.stack;
    });
    peak.bytes = live.bytes;
    return peak;
}

}  // namespace routeheap::analysis
