// The memory timeline of a session for viewers: memory points and request spans per
// process, the body bytes read and written over each request, a quick preview built from
// a spread of blocks, and min/max-per-column downsampling for drawing millions of points.
#pragma once

#include <routeheap/analysis/ids.h>
#include <routeheap/analysis/reader.h>
#include <routeheap/analysis/session.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace routeheap::analysis {

// One CounterSample: the values at its time and the maxima since the previous sample.
struct MemoryPoint {
    uint64_t time_ns = 0;  // CLOCK_MONOTONIC
    int64_t native_live_bytes = 0;
    int64_t native_live_peak_bytes = 0;
    int64_t v8_committed_bytes = 0;
    int64_t v8_committed_peak_bytes = 0;
    int64_t rss_bytes = -1;  // -1 when the agent did not read it
};

enum class MemorySeries { NativeHeap, V8Committed, Rss };
const char* memory_series_name(MemorySeries series);

// The value of `series` at the point's time, and the maximum it reached since the
// previous point (RSS has no peak, so both are the sampled value). -1 for an unread RSS.
int64_t memory_value(const MemoryPoint& point, MemorySeries series);
int64_t memory_peak(const MemoryPoint& point, MemorySeries series);

// Body bytes of one request so far, at the time of one read or write.
struct ByteProgress {
    uint64_t time_ns = 0;
    uint64_t bytes = 0;
};

struct RequestIo {
    std::vector<ByteProgress> read;     // request body, cumulative
    std::vector<ByteProgress> written;  // response body, cumulative
};

// Where a request lies on the timeline.
struct RequestSpan {
    RequestId id;
    std::string method;
    std::string path;
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;  // 0 when its RequestEnd was not read
};

struct ProcessTimeline {
    ProcessId pid;
    uint32_t image = 0;
    std::filesystem::path trace;
    std::vector<MemoryPoint> points;  // by time
    std::vector<RequestSpan> spans;   // by start time
    // Keyed by connection id and request index; empty in a preview.
    std::map<std::pair<uint64_t, uint32_t>, RequestIo> io;
    uint64_t blocks = 0;       // whole blocks in the trace's block index
    uint64_t blocks_read = 0;  // blocks whose records went into this timeline
};

struct SessionTimeline {
    std::vector<ProcessTimeline> processes;  // in the session's trace order
    uint64_t first_ns = 0;  // earliest point or span start over all processes
    uint64_t last_ns = 0;   // latest point or span end
    bool preview = false;   // built from a subset of the blocks
    std::vector<std::string> warnings;

    // The process that served the most requests (then the one with the most points);
    // SIZE_MAX when there is no process.
    size_t main_process() const;
    // The body progress of a request, or nullptr when none was recorded.
    const RequestIo* io(const RequestId& id) const;
};

// Collects the timeline records of one trace: CounterSample, RequestHead, RequestBody,
// ResponseWrite and RequestEnd. Not thread-safe.
class TimelineCollector : public TraceSink {
public:
    // With `with_io` false, body progress is not kept (previews skip it).
    TimelineCollector(ProcessTimeline& timeline, bool with_io) : timeline_(timeline), with_io_(with_io) {}
    void on_event(const TraceEvent& event) override;
    // Sorts points and spans by time; call once after the last record.
    void finish();

private:
    RequestSpan& span_for(uint64_t connection, uint32_t index);

    ProcessTimeline& timeline_;
    bool with_io_;
    std::map<std::pair<uint64_t, uint32_t>, size_t> span_index_;
};

// Reads every trace's block index and decodes at most `blocks_per_trace` blocks spread
// evenly over each file (always the first and the last), so a viewer can draw the
// session's shape in a fraction of the time a full read takes. Traces whose header
// cannot be read become warnings; throws TraceError when none can be read.
SessionTimeline load_timeline_preview(const Session& session, size_t blocks_per_trace);

// Computes first_ns and last_ns from the processes' points and spans.
void update_time_bounds(SessionTimeline& timeline);

// One pixel column of a downsampled series: the minimum and maximum the series took
// inside [start_ns, end_ns), and which came first, so a line through them keeps spikes.
struct MinMaxColumn {
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
    int64_t min = 0;
    int64_t max = 0;
    uint64_t min_time_ns = 0;
    uint64_t max_time_ns = 0;
};

// Downsamples `points` (sorted by time) to at most `columns` columns over [from_ns,
// to_ns): each column's minimum of the sampled values and maximum of the peaks. Empty
// columns are left out; points with an unread RSS are skipped for MemorySeries::Rss.
// The work is proportional to the points inside the range plus a binary search.
std::vector<MinMaxColumn> downsample_min_max(const std::vector<MemoryPoint>& points, MemorySeries series,
                                             uint64_t from_ns, uint64_t to_ns, size_t columns);

}  // namespace routeheap::analysis
