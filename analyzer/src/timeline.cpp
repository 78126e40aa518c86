// Timeline collection from trace records, the block-index preview and min/max
// downsampling for viewers.
#include <routeheap/analysis/timeline.h>

#include <algorithm>
#include <limits>

namespace routeheap::analysis {

const char* memory_series_name(MemorySeries series) {
    switch (series) {
        case MemorySeries::NativeHeap: return "native heap";
        case MemorySeries::V8Committed: return "V8 committed";
        case MemorySeries::Rss: return "RSS";
    }
    return "unknown";
}

int64_t memory_value(const MemoryPoint& point, MemorySeries series) {
    switch (series) {
        case MemorySeries::NativeHeap: return point.native_live_bytes;
        case MemorySeries::V8Committed: return point.v8_committed_bytes;
        case MemorySeries::Rss: return point.rss_bytes;
    }
    return 0;
}

int64_t memory_peak(const MemoryPoint& point, MemorySeries series) {
    switch (series) {
        case MemorySeries::NativeHeap: return std::max(point.native_live_peak_bytes, point.native_live_bytes);
        case MemorySeries::V8Committed: return std::max(point.v8_committed_peak_bytes, point.v8_committed_bytes);
        case MemorySeries::Rss: return point.rss_bytes;
    }
    return 0;
}

size_t SessionTimeline::main_process() const {
    size_t best = std::numeric_limits<size_t>::max();
    for (size_t i = 0; i < processes.size(); ++i) {
        if (best == std::numeric_limits<size_t>::max()) {
            best = i;
            continue;
        }
        const ProcessTimeline& candidate = processes[i];
        const ProcessTimeline& current = processes[best];
        if (candidate.spans.size() != current.spans.size()) {
            if (candidate.spans.size() > current.spans.size()) best = i;
        } else if (candidate.points.size() > current.points.size()) {
            best = i;
        }
    }
    return best;
}

const RequestIo* SessionTimeline::io(const RequestId& id) const {
    for (const ProcessTimeline& process : processes) {
        if (process.pid != id.pid || process.image != id.image) continue;
        const auto found = process.io.find({id.connection.value, id.index});
        return found == process.io.end() ? nullptr : &found->second;
    }
    return nullptr;
}

RequestSpan& TimelineCollector::span_for(uint64_t connection, uint32_t index) {
    const auto [found, inserted] = span_index_.try_emplace({connection, index}, timeline_.spans.size());
    if (inserted) {
        RequestSpan span;
        span.id = RequestId{timeline_.pid, timeline_.image, ConnectionId{connection}, index};
        timeline_.spans.push_back(std::move(span));
    }
    return timeline_.spans[found->second];
}

void TimelineCollector::on_event(const TraceEvent& event) {
    if (const auto* sample = std::get_if<trace::CounterSample>(&event)) {
        MemoryPoint point;
        point.time_ns = sample->time_ns;
        point.native_live_bytes = sample->current.native_live_bytes;
        point.native_live_peak_bytes = sample->native_live_peak_bytes;
        point.v8_committed_bytes = sample->current.v8_committed_bytes;
        point.v8_committed_peak_bytes = sample->v8_committed_peak_bytes;
        point.rss_bytes = sample->current.rss_bytes;
        timeline_.points.push_back(point);
    } else if (const auto* head = std::get_if<RequestHeadEvent>(&event)) {
        RequestSpan& span = span_for(head->head.connection_id, head->head.request_index);
        span.method = head->method;
        span.path = head->path;
        span.start_ns = head->head.first_byte_ns;
    } else if (const auto* end = std::get_if<trace::RequestEnd>(&event)) {
        span_for(end->connection_id, end->request_index).end_ns = end->time_ns;
    } else if (!with_io_) {
        return;
    } else if (const auto* body = std::get_if<trace::RequestBody>(&event)) {
        timeline_.io[{body->connection_id, body->request_index}].read.push_back({body->time_ns, body->body_total});
    } else if (const auto* write = std::get_if<trace::ResponseWrite>(&event)) {
        if (write->body_bytes == 0) return;
        auto& written = timeline_.io[{write->connection_id, write->request_index}].written;
        const uint64_t before = written.empty() ? 0 : written.back().bytes;
        written.push_back({write->time_ns, before + write->body_bytes});
    }
}

void TimelineCollector::finish() {
    std::stable_sort(timeline_.points.begin(), timeline_.points.end(),
                     [](const MemoryPoint& a, const MemoryPoint& b) { return a.time_ns < b.time_ns; });
    // A span whose head was not read (a preview skipped its block) has no start: drop it.
    std::erase_if(timeline_.spans, [](const RequestSpan& span) { return span.start_ns == 0; });
    std::stable_sort(timeline_.spans.begin(), timeline_.spans.end(),
                     [](const RequestSpan& a, const RequestSpan& b) { return a.start_ns < b.start_ns; });
    span_index_.clear();

    // Records of different threads reach the file out of time order; the totals are
    // cumulative per request, so sorting by time keeps them increasing.
    const auto by_time = [](const ByteProgress& a, const ByteProgress& b) { return a.time_ns < b.time_ns; };
    for (auto& [key, io] : timeline_.io) {
        std::stable_sort(io.read.begin(), io.read.end(), by_time);
        std::stable_sort(io.written.begin(), io.written.end(), by_time);
    }
}

void update_time_bounds(SessionTimeline& timeline) {
    uint64_t first = std::numeric_limits<uint64_t>::max();
    uint64_t last = 0;
    for (const ProcessTimeline& process : timeline.processes) {
        if (!process.points.empty()) {
            first = std::min(first, process.points.front().time_ns);
            last = std::max(last, process.points.back().time_ns);
        }
        for (const RequestSpan& span : process.spans) {
            first = std::min(first, span.start_ns);
            last = std::max(last, std::max(span.start_ns, span.end_ns));
        }
    }
    timeline.first_ns = first == std::numeric_limits<uint64_t>::max() ? 0 : first;
    timeline.last_ns = last;
}

namespace {

// Indices of `wanted` blocks spread evenly over `count`, always with the first and last.
std::vector<size_t> spread_blocks(size_t count, size_t wanted) {
    std::vector<size_t> chosen;
    if (count == 0 || wanted == 0) return chosen;
    if (wanted >= count || wanted == 1) {
        const size_t taken = std::min(count, wanted);
        for (size_t i = 0; i < taken; ++i) chosen.push_back(i);
        return chosen;
    }
    for (size_t i = 0; i < wanted; ++i) {
        const size_t index = i * (count - 1) / (wanted - 1);
        if (chosen.empty() || chosen.back() != index) chosen.push_back(index);
    }
    return chosen;
}

}  // namespace

SessionTimeline load_timeline_preview(const Session& session, size_t blocks_per_trace) {
    SessionTimeline timeline;
    timeline.preview = true;
    std::vector<std::string> unreadable;
    for (const auto& path : session.traces) {
        try {
            TraceReader reader(path);
            const BlockIndex index = reader.index_blocks();
            const TraceHeader& header = *reader.header();

            ProcessTimeline process;
            process.pid = header.pid;
            process.image = header.image;
            process.trace = path;
            process.blocks = index.blocks.size();
            TimelineCollector collector(process, false);
            for (size_t block : spread_blocks(index.blocks.size(), blocks_per_trace)) {
                if (reader.read_block_at(index.blocks[block], collector) == trace::BlockStatus::Ok) ++process.blocks_read;
            }
            collector.finish();
            if (!index.stopped.empty()) {
                timeline.warnings.push_back(path.filename().string() + ": block index stops at " + index.stopped);
            }
            timeline.processes.push_back(std::move(process));
        } catch (const TraceError& error) {
            unreadable.push_back(error.what());
        }
    }
    if (timeline.processes.empty() && !unreadable.empty()) throw TraceError(unreadable.front());
    for (const std::string& message : unreadable) timeline.warnings.push_back(message + " (trace skipped)");
    update_time_bounds(timeline);
    return timeline;
}

std::vector<MinMaxColumn> downsample_min_max(const std::vector<MemoryPoint>& points, MemorySeries series,
                                             uint64_t from_ns, uint64_t to_ns, size_t columns) {
    std::vector<MinMaxColumn> result;
    if (columns == 0 || to_ns <= from_ns) return result;
    const uint64_t span = to_ns - from_ns;
    const auto column_of = [&](uint64_t time_ns) {
        const auto offset = static_cast<long double>(time_ns - from_ns);
        return std::min(columns - 1, static_cast<size_t>(offset * columns / span));
    };
    const auto column_start = [&](size_t column) {
        return from_ns + static_cast<uint64_t>(static_cast<long double>(span) * column / columns);
    };

    auto it = std::lower_bound(points.begin(), points.end(), from_ns,
                               [](const MemoryPoint& point, uint64_t time) { return point.time_ns < time; });
    size_t last_column = 0;
    for (; it != points.end() && it->time_ns < to_ns; ++it) {
        const int64_t value = memory_value(*it, series);
        if (series == MemorySeries::Rss && value < 0) continue;
        const int64_t peak = memory_peak(*it, series);
        const size_t column = column_of(it->time_ns);
        if (result.empty() || last_column != column) {
            last_column = column;
            MinMaxColumn fresh;
            fresh.start_ns = column_start(column);
            fresh.end_ns = column_start(column + 1);
            fresh.min = value;
            fresh.max = peak;
            fresh.min_time_ns = it->time_ns;
            fresh.max_time_ns = it->time_ns;
            result.push_back(fresh);
            continue;
        }
        MinMaxColumn& current = result.back();
        if (value < current.min) {
            current.min = value;
            current.min_time_ns = it->time_ns;
        }
        if (peak > current.max) {
            current.max = peak;
            current.max_time_ns = it->time_ns;
        }
    }
    return result;
}

}  // namespace routeheap::analysis
