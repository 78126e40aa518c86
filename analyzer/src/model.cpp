// Joins a process's request records by (connection, request index) and measures each
// request's peak memory growth from the CounterSample timeline.
#include <routeheap/analysis/model.h>
#include <routeheap/analysis/routes.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <type_traits>

namespace routeheap::analysis {

namespace {

// Smallest heap allocation kept for the growing-copies search, which counts copies of at
// least 1/16 of the larger body, and allocation-churn counts bodies as at least 1 MiB.
constexpr uint64_t kMinCopyCandidateBytes = 64 * 1024;

}  // namespace

const char* outcome_name(Outcome outcome) {
    switch (outcome) {
        case Outcome::Complete: return "complete";
        case Outcome::ConnectionClosed: return "connection-closed";
        case Outcome::FramingStopped: return "framing-stopped";
        case Outcome::ProcessExit: return "process-exit";
        case Outcome::Open: return "open";
    }
    return "unknown";
}

const char* framework_name(Framework framework) {
    switch (framework) {
        case Framework::Unknown: return "unknown";
        case Framework::NodeHttp: return "node:http";
        case Framework::Express: return "express";
        case Framework::Fastify: return "fastify";
        case Framework::NextPagesRouter: return "next-pages-router";
        case Framework::NextAppRouter: return "next-app-router";
        case Framework::NextUnknownRouter: return "next";
    }
    return "unknown";
}

const char* confidence_name(Confidence confidence) {
    switch (confidence) {
        case Confidence::Low: return "low";
        case Confidence::Medium: return "medium";
        case Confidence::High: return "high";
    }
    return "unknown";
}

namespace {

Outcome outcome_from_trace(uint16_t value) {
    switch (static_cast<trace::RequestOutcome>(value)) {
        case trace::RequestOutcome::Complete: return Outcome::Complete;
        case trace::RequestOutcome::ConnectionClosed: return Outcome::ConnectionClosed;
        case trace::RequestOutcome::FramingStopped: return Outcome::FramingStopped;
        case trace::RequestOutcome::ProcessExit: return Outcome::ProcessExit;
    }
    return Outcome::Open;
}

}  // namespace

ProcessModel::ProcessModel(TraceHeader header) : header_(std::move(header)) {}

void ProcessModel::see_time(uint64_t time_ns) { last_time_ns_ = std::max(last_time_ns_, time_ns); }

void ProcessModel::on_event(const TraceEvent& event) {
    std::visit(
        [this](const auto& record) {
            using Record = std::decay_t<decltype(record)>;
            if constexpr (std::is_same_v<Record, trace::CounterSample>) {
                on_sample(record);
            } else if constexpr (std::is_same_v<Record, RequestHeadEvent>) {
                on_head(record);
            } else if constexpr (std::is_same_v<Record, trace::RequestBody>) {
                on_body(record);
            } else if constexpr (std::is_same_v<Record, trace::ResponseHead>) {
                on_response_head(record);
            } else if constexpr (std::is_same_v<Record, trace::ResponseWrite>) {
                on_write(record);
            } else if constexpr (std::is_same_v<Record, trace::RequestEnd>) {
                on_end(record);
            } else if constexpr (std::is_same_v<Record, FramingStoppedEvent>) {
                see_time(record.record.time_ns);
                notes_.push_back("connection " + std::to_string(record.record.connection_id) +
                                 ": the agent stopped framing HTTP (" + record.text + ")");
            } else if constexpr (std::is_same_v<Record, AgentLogEvent>) {
                see_time(record.record.time_ns);
                notes_.push_back(std::string("agent: ") + record.text +
                                 (record.record.disabled != 0 ? " (recording stopped here)" : ""));
            } else if constexpr (std::is_same_v<Record, trace::ProcessExit>) {
                see_time(record.time_ns);
                exited_ = true;
                exit_status_ = record.status;
            } else if constexpr (std::is_same_v<Record, ProcessExecEvent> ||
                                 std::is_same_v<Record, ModuleLoadEvent>) {
                see_time(record.record.time_ns);
            } else if constexpr (std::is_same_v<Record, trace::Allocation>) {
                see_time(record.time_ns);
                on_allocation(record);
            } else if constexpr (std::is_same_v<Record, trace::Free>) {
                see_time(record.time_ns);
                on_free(record);
            } else if constexpr (std::is_same_v<Record, trace::SamplingConfig>) {
                mean_sample_interval_bytes_ = static_cast<double>(record.mean_interval_bytes);
                sampling_config_read_ = true;
            } else if constexpr (std::is_same_v<Record, StackDefinitionEvent>) {
                // Untimed: they describe the allocation records, which StackModel reads.
            } else {
                see_time(record.time_ns);
            }
        },
        event);
}

Request& ProcessModel::request_for(uint64_t connection, uint32_t index) {
    auto [it, inserted] = pending_.try_emplace(Key{connection, index});
    if (inserted) {
        it->second.id = RequestId{header_.pid, header_.image, ConnectionId{connection}, index};
    }
    return it->second;
}

void ProcessModel::on_sample(const trace::CounterSample& record) {
    see_time(record.time_ns);
    MemorySample sample;
    sample.time_ns = record.time_ns;
    sample.reason = static_cast<trace::SampleReason>(record.reason);
    sample.connection = ConnectionId{record.connection_id};
    sample.native_live_bytes = record.current.native_live_bytes;
    sample.v8_committed_bytes = record.current.v8_committed_bytes;
    sample.rss_bytes = record.current.rss_bytes;
    sample.native_live_peak_bytes = std::max(record.native_live_peak_bytes, record.current.native_live_bytes);
    sample.v8_committed_peak_bytes = std::max(record.v8_committed_peak_bytes, record.current.v8_committed_bytes);
    sample.native_allocated_total = record.current.native_allocated_total;
    if (!samples_.empty() && samples_.back().time_ns > sample.time_ns) samples_sorted_ = false;
    samples_.push_back(sample);
}

void ProcessModel::on_head(const RequestHeadEvent& event) {
    const auto& head = event.head;
    see_time(head.headers_done_ns);
    Request& request = request_for(head.connection_id, head.request_index);
    request.method = printable_request_text(event.method);
    request.path = printable_request_text(event.path);
    request.route = normalize_route(request.path);
    request.request_flags = head.flags;
    request.content_length = head.content_length;
    request.start_ns = head.first_byte_ns;
    open_window(Key{head.connection_id, head.request_index}, head.first_byte_ns);
}

void ProcessModel::on_body(const trace::RequestBody& body) {
    see_time(body.time_ns);
    Request& request = request_for(body.connection_id, body.request_index);
    request.request_bytes = std::max(request.request_bytes, body.body_total);
    if (body.complete != 0) request.body_complete_ns = body.time_ns;
    body_reads_[Key{body.connection_id, body.request_index}].emplace_back(body.time_ns, body.body_total);
}

void ProcessModel::on_response_head(const trace::ResponseHead& head) {
    see_time(head.headers_done_ns);
    if ((head.flags & trace::kResponseInterim) != 0) return;
    Request& request = request_for(head.connection_id, head.request_index);
    request.status = head.status;
    request.first_response_byte_ns = head.first_byte_ns;
}

void ProcessModel::on_write(const trace::ResponseWrite& write) {
    see_time(write.time_ns);
    // Running totals for requests that never end. RequestEnd carries the exact totals,
    // and the agent may write the last ResponseWrite after it, so later writes are not added.
    if (ended_.contains(Key{write.connection_id, write.request_index})) return;
    Request& request = request_for(write.connection_id, write.request_index);
    ++request.write_calls;
    if (request.would_block_writes + request.partial_writes > 0) {
        const uint64_t fresh = write.bytes_requested - std::min(write.bytes_requested, request.unsent_bytes);
        request.largest_write_after_refusal = std::max(request.largest_write_after_refusal, fresh);
    }
    const uint64_t written = write.result > 0 ? static_cast<uint64_t>(write.result) : 0;
    request.unsent_bytes = write.bytes_requested - std::min(write.bytes_requested, written);
    request.largest_write_bytes = std::max(request.largest_write_bytes, write.bytes_requested);
    if ((write.flags & trace::kWriteWouldBlock) != 0) ++request.would_block_writes;
    if ((write.flags & trace::kWritePartial) != 0) ++request.partial_writes;
    request.response_bytes += write.body_bytes;
    request.end_ns = std::max(request.end_ns, write.time_ns);
}

void ProcessModel::on_end(const trace::RequestEnd& end) {
    see_time(end.time_ns);
    const Key key{end.connection_id, end.request_index};
    Request& request = request_for(end.connection_id, end.request_index);
    if (end.status != 0) request.status = end.status;
    request.outcome = outcome_from_trace(end.outcome);
    request.end_ns = end.time_ns;
    request.write_calls = end.write_calls;
    request.request_bytes = end.request_body_bytes;
    request.response_bytes = end.response_body_bytes;
    request.largest_write_bytes = end.largest_write_bytes;
    request.would_block_writes = end.would_block_writes;
    request.partial_writes = end.partial_writes;
    ended_[key] = true;
    close_window(key, std::max<uint64_t>(end.time_ns, 1));
}

void ProcessModel::on_allocation(const trace::Allocation& allocation) {
    // V8's committed ranges hold many objects each, so a range that stays committed says
    // nothing about what one request kept; the V8 floor covers them.
    if (static_cast<trace::AllocationKind>(allocation.kind) == trace::AllocationKind::V8Commit) return;
    double bytes = static_cast<double>(allocation.size);
    const bool always = (allocation.flags & trace::kAllocationAlways) != 0;
    if (!always && mean_sample_interval_bytes_ > 1 && allocation.size > 0) {
        // A block of S bytes gets a record with probability 1 - exp(-S / mean).
        const double probability = -std::expm1(-static_cast<double>(allocation.size) / mean_sample_interval_bytes_);
        if (probability > 0) bytes /= probability;
    }
    record_heap_event(allocation.address, LastHeapEvent{allocation.time_ns, bytes, false});

    if (allocation.size >= kMinCopyCandidateBytes) {
        if (!large_allocations_.empty() && large_allocations_.back().first > allocation.time_ns) {
            large_allocations_sorted_ = false;
        }
        large_allocations_.emplace_back(allocation.time_ns, allocation.size);
    }
}

// Finds the longest series of rising sizes (a longest strictly increasing subsequence, in
// O(n log n)) among the request's allocations of about its body size or less.
// NOTE: allocations below the agent's always-recorded size are sampled, so the series
// may miss some of its smaller copies; those of ROUTEHEAP_ALWAYS_BYTES and more are all there.
void ProcessModel::find_growing_copies(Request& request) {
    if (!sampling_config_read_) {
        body_reads_.erase(Key{request.id.connection.value, request.id.index});
        return;
    }
    if (!large_allocations_sorted_) {
        std::sort(large_allocations_.begin(), large_allocations_.end());
        large_allocations_sorted_ = true;
    }

    const uint64_t body = std::max(request.request_bytes, request.response_bytes);
    const uint64_t max_size = body + body / 20;
    const uint64_t min_size = std::max(kMinCopyCandidateBytes, body / 16);
    // Alone, every allocation in the window is the request's own. Overlapping requests of
    // the same route make the same sizes, so then only copies of this request's own body
    // count: a size equal to the body bytes it had read, allocated before its next read.
    const auto reads = body_reads_.find(Key{request.id.connection.value, request.id.index});
    const auto own_copy = [&](uint64_t time_ns, uint64_t size) {
        if (!request.overlapping) return true;
        if (reads == body_reads_.end()) return false;
        const auto& list = reads->second;
        for (size_t k = 0; k < list.size(); ++k) {
            const uint64_t next_ns = k + 1 < list.size() ? list[k + 1].first : request.end_ns;
            if (list[k].second == size && time_ns >= list[k].first && time_ns <= next_ns) return true;
        }
        return false;
    };

    std::vector<uint64_t> sizes;
    const auto first = std::lower_bound(large_allocations_.begin(), large_allocations_.end(),
                                        std::make_pair(request.start_ns, uint64_t{0}));
    for (auto it = first; it != large_allocations_.end() && it->first <= request.end_ns; ++it) {
        if (it->second >= min_size && it->second <= max_size && own_copy(it->first, it->second)) {
            sizes.push_back(it->second);
        }
    }

    // tails[k] is the index of the smallest last size of a rising series of length k + 1;
    // previous[i] links each size to the one before it in its series.
    std::vector<size_t> tails;
    std::vector<size_t> previous(sizes.size(), SIZE_MAX);
    for (size_t i = 0; i < sizes.size(); ++i) {
        const auto slot = std::lower_bound(tails.begin(), tails.end(), sizes[i],
                                           [&](size_t index, uint64_t size) { return sizes[index] < size; });
        if (slot != tails.begin()) previous[i] = *std::prev(slot);
        if (slot == tails.end()) {
            tails.push_back(i);
        } else {
            *slot = i;
        }
    }

    if (reads != body_reads_.end()) body_reads_.erase(reads);

    GrowingCopies copies;
    if (!tails.empty()) copies.largest = static_cast<int64_t>(sizes[tails.back()]);
    for (size_t i = tails.empty() ? SIZE_MAX : tails.back(); i != SIZE_MAX; i = previous[i]) {
        copies.count += 1;
        copies.bytes += static_cast<int64_t>(sizes[i]);
    }
    request.growing_copies = copies;
}

void ProcessModel::on_free(const trace::Free& free) {
    record_heap_event(free.address, LastHeapEvent{free.time_ns, 0, true});
}

void ProcessModel::record_heap_event(uint64_t address, const LastHeapEvent& event) {
    auto [it, inserted] = last_heap_events_.try_emplace(address, event);
    if (inserted) return;
    const LastHeapEvent& latest = it->second;
    // A record read later comes later in time order unless its time is earlier, or it is
    // a free at the same nanosecond as an allocation already seen.
    const bool later = event.time_ns > latest.time_ns ||
                       (event.time_ns == latest.time_ns && (!event.is_free || latest.is_free));
    if (later) it->second = event;
}

std::vector<std::pair<uint64_t, double>> ProcessModel::surviving_blocks() const {
    std::vector<std::pair<uint64_t, double>> blocks;
    for (const auto& [address, event] : last_heap_events_) {
        if (!event.is_free) blocks.emplace_back(event.time_ns, event.bytes);
    }
    std::sort(blocks.begin(), blocks.end());
    return blocks;
}

void ProcessModel::sort_timeline() {
    if (samples_sorted_) return;
    std::stable_sort(samples_.begin(), samples_.end(),
                     [](const MemorySample& a, const MemorySample& b) { return a.time_ns < b.time_ns; });
    samples_sorted_ = true;
}

const std::vector<MemorySample>& ProcessModel::timeline() {
    sort_timeline();
    return samples_;
}

std::vector<Request> ProcessModel::take_finished(bool final) {
    sort_timeline();
    const uint64_t covered_until = samples_.empty() ? 0 : samples_.back().time_ns;

    std::vector<Request> ready;
    for (auto it = pending_.begin(); it != pending_.end();) {
        Request& request = it->second;
        const bool ended = ended_.contains(it->first);
        if (!final && (!ended || covered_until < request.end_ns)) {
            ++it;
            continue;
        }
        if (!ended && request.method.empty() && request.request_bytes == 0 && request.response_bytes == 0) {
            // Records without a head that carry no bytes, such as a zero-byte write after a
            // finished response, are not a request.
            it = pending_.erase(it);
            continue;
        }
        if (request.method.empty() && request.outcome == Outcome::FramingStopped) {
            // Bytes that were not HTTP/1.1 (TLS, an HTTP/2 preface) before any request head:
            // no request at all. The framing-stop note names the connection.
            it = pending_.erase(it);
            continue;
        }
        if (request.method.empty()) {
            // The head was in a block that was lost or damaged.
            request.method = "?";
            request.path = request.route = "(request head not recorded)";
        }
        if (!ended) {
            request.outcome = Outcome::Open;
            request.end_ns = std::max({request.end_ns, request.start_ns, last_time_ns_});
            close_window(it->first, std::max<uint64_t>(request.end_ns, 1));
        }
        if (request.start_ns == 0) request.start_ns = request.end_ns;  // head lost with a dropped block
        ready.push_back(std::move(request));
        it = pending_.erase(it);
    }

    const TimelineIndex index = index_timeline(final);
    for (Request& request : ready) {
        measure_growth(request);
        mark_overlaps(request);
        apportion(request, index);
        find_growing_copies(request);
    }
    std::sort(ready.begin(), ready.end(), [](const Request& a, const Request& b) {
        return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.id < b.id;
    });
    return ready;
}

void ProcessModel::open_window(const Key& key, uint64_t start_ns) {
    auto& window = windows_[key];
    if (window.first != 0 || start_ns == 0) return;
    window.first = start_ns;
    window_starts_.emplace(start_ns, key);
    if (window.second == 0) {
        open_windows_.insert(key);
    } else {
        longest_window_ns_ = std::max(longest_window_ns_, window.second - std::min(window.second, start_ns));
    }
}

void ProcessModel::close_window(const Key& key, uint64_t end_ns) {
    auto& window = windows_[key];
    window.second = end_ns;
    open_windows_.erase(key);
    if (window.first != 0) longest_window_ns_ = std::max(longest_window_ns_, end_ns - std::min(end_ns, window.first));
}

void ProcessModel::mark_overlaps(Request& request) const {
    const Key own{request.id.connection.value, request.id.index};
    const auto overlaps = [&](const Key& key, uint64_t start, uint64_t end) {
        const uint64_t other_end = end == 0 ? std::numeric_limits<uint64_t>::max() : end;
        return key != own && start < request.end_ns && other_end > request.start_ns;
    };

    for (const Key& key : open_windows_) {
        const auto& window = windows_.at(key);
        if (overlaps(key, window.first, window.second)) {
            request.overlapping = true;
            return;
        }
    }

    // A closed window that overlaps starts before the request ends and at most the
    // longest closed duration before the request starts. Windows without a head have
    // no start and are never indexed.
    const uint64_t earliest = request.start_ns - std::min(request.start_ns, longest_window_ns_);
    for (auto it = window_starts_.lower_bound(earliest); it != window_starts_.end() && it->first < request.end_ns; ++it) {
        const auto& window = windows_.at(it->second);
        if (overlaps(it->second, window.first, window.second)) {
            request.overlapping = true;
            return;
        }
    }
}

}  // namespace routeheap::analysis
