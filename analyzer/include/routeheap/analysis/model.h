// The per-process model built from one trace: a memory timeline from CounterSample
// records and the requests joined from their head, body, response and end records.
#pragma once

#include <routeheap/analysis/finding.h>
#include <routeheap/analysis/ids.h>
#include <routeheap/analysis/reader.h>
#include <routeheap/analysis/sites.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace routeheap::analysis {

// One point of the memory timeline. Peaks are the maxima since the previous sample of
// the same process, so consecutive samples partition time.
struct MemorySample {
    uint64_t time_ns = 0;  // CLOCK_MONOTONIC
    trace::SampleReason reason = trace::SampleReason::Periodic;
    ConnectionId connection;
    int64_t native_live_bytes = 0;
    int64_t v8_committed_bytes = 0;
    int64_t rss_bytes = -1;  // -1 when the agent did not read it
    int64_t native_live_peak_bytes = 0;
    int64_t v8_committed_peak_bytes = 0;
    uint64_t native_allocated_total = 0;  // bytes ever requested from the malloc family
};

// Peak growth during a request: the maximum over the samples in its window minus the
// value at its start, never negative. `heap` is native + v8 (the two maxima may occur
// at different instants, so it can exceed the true combined peak).
struct PeakGrowth {
    int64_t native = 0;
    int64_t v8 = 0;
    int64_t rss = 0;
    int64_t heap = 0;
};

// The web framework that served a request, recognised from the JS frames of its
// allocation stacks. Unknown when the request has no stack with a recognisable frame.
enum class Framework { Unknown, NodeHttp, Express, Fastify, NextPagesRouter, NextAppRouter, NextUnknownRouter };
const char* framework_name(Framework framework);

// Copies of a growing buffer seen in a request's allocation records: the longest series
// of heap allocations, in time order, whose sizes rise one after another.
struct GrowingCopies {
    uint32_t count = 0;
    int64_t bytes = 0;    // sum of their sizes
    int64_t largest = 0;  // size of the last, largest one
};

enum class Outcome { Complete, ConnectionClosed, FramingStopped, ProcessExit, Open };
const char* outcome_name(Outcome outcome);

struct Request {
    RequestId id;
    std::string method;
    std::string path;   // without the query string
    std::string route;  // path with id-like segments collapsed to :id
    uint16_t status = 0;  // final status; 0 when no response head was written
    uint32_t request_flags = 0;
    int64_t content_length = -1;

    uint64_t request_bytes = 0;   // request body bytes read
    uint64_t response_bytes = 0;  // response body bytes written

    // CLOCK_MONOTONIC nanoseconds; 0 when the event did not happen.
    uint64_t start_ns = 0;                 // first request byte read
    uint64_t body_complete_ns = 0;         // last request body byte read
    uint64_t first_response_byte_ns = 0;   // first byte of the final (non-1xx) response
    uint64_t end_ns = 0;                   // last response byte, or when the exchange ended

    uint32_t write_calls = 0;
    uint64_t largest_write_bytes = 0;  // max bytes requested in one write call
    uint32_t would_block_writes = 0;
    uint32_t partial_writes = 0;
    Outcome outcome = Outcome::Open;

    bool growth_measured = false;  // false when no sample precedes the request
    PeakGrowth growth;
    int64_t native_growth_at_body_complete = 0;  // native peak up to the body's last byte, minus start
    int64_t v8_growth_at_body_complete = 0;      // V8 committed peak up to the body's last byte, minus start
    bool overlapping = false;  // another request of the same process was open at the same time
    // Growth attributed to this request alone. Each change of the counters between two
    // samples is split equally among the requests open at that time, so equal to `growth`
    // when the request did not overlap others, and an estimate when it did.
    PeakGrowth apportioned_growth;
    int64_t apportioned_native_growth_at_body_complete = 0;
    int64_t apportioned_v8_growth_at_body_complete = 0;
    // Maximum number of the process's requests open at once during this request (1 when alone).
    uint32_t max_concurrent = 1;
    // Native bytes allocated (malloc family, not V8's heap) during the request, split the
    // same way as `apportioned_growth`.
    int64_t allocated_bytes = 0;
    // Native bytes allocated during the request and never freed before the trace ended:
    // the weighted sizes of its sampled heap blocks still live at the end, each split among
    // the requests open when it was allocated.
    int64_t retained_native_bytes = 0;
    // How much the V8 committed floor rose during the request, split the same way as
    // `apportioned_growth`. The floor at time t is the lowest V8 committed memory at or
    // after t, so memory that a later garbage collection releases never counts.
    int64_t retained_v8_bytes = 0;
    int64_t retained_bytes() const { return retained_native_bytes + retained_v8_bytes; }
    // Whether the process's memory fell (a garbage collection or a free of at least 1 MiB)
    // after this request ended, so `retained_bytes` is past at least one collection.
    bool collected_after = false;
    // Most new bytes one write requested after the socket first refused a write (EAGAIN or
    // a partial write): large when the app kept queueing data the client had not taken.
    // Bytes that an earlier write left unsent are a retry, not new data.
    uint64_t largest_write_after_refusal = 0;
    uint64_t unsent_bytes = 0;  // left unsent by the last write, which the next one retries
    Framework framework = Framework::Unknown;
    // Whether one allocation of about the body's size was made after the body's last byte
    // and before the first response byte, as Buffer.concat of every chunk or req.text() make.
    // Empty when the process did not record every allocation of that size.
    std::optional<bool> body_copy_allocated;
    // The growing copies among the request's heap allocations of 1/16 to 1.05 times the
    // larger of its two bodies, as `body = Buffer.concat([body, chunk])` per chunk makes.
    // Empty when the process recorded no allocation records.
    std::optional<GrowingCopies> growing_copies;

    std::vector<Finding> findings;
    AllocationProfile allocations;  // empty unless the process recorded allocation stacks

    double duration_ms() const { return end_ns > start_ns ? static_cast<double>(end_ns - start_ns) / 1e6 : 0.0; }
};

// Per-sample facts that apportioning needs, computed once per take_finished call and
// aligned with the sorted timeline.
struct TimelineIndex {
    // Requests whose windows overlap the interval (previous sample, this sample], at least 1.
    std::vector<uint32_t> open_requests;
    // The lowest V8 committed bytes at or after each sample.
    std::vector<int64_t> v8_floor;
    // Sorted start and end times of every request window, to count the requests open at a time.
    std::vector<uint64_t> window_starts;
    std::vector<uint64_t> window_ends;
    // Sampled heap blocks never freed, sorted by allocation time: (time, weighted bytes).
    // Empty until the final take_finished call, because later records may free them.
    std::vector<std::pair<uint64_t, double>> surviving_blocks;
    // Time of the last sample at which native or V8 memory fell by at least 1 MiB.
    uint64_t last_collection_ns = 0;
};

// Builds the model of one process image from its trace records. Not thread-safe.
class ProcessModel : public TraceSink {
public:
    explicit ProcessModel(TraceHeader header);

    void on_event(const TraceEvent& event) override;

    // Removes and returns the requests that are ready, in start order, with growth and
    // overlap computed. A request is ready when its RequestEnd was read and a sample at
    // or after its end exists; with `final`, every remaining request is returned
    // (those without RequestEnd get Outcome::Open and end at the last known time).
    std::vector<Request> take_finished(bool final);

    const TraceHeader& header() const { return header_; }
    const std::vector<MemorySample>& timeline();  // sorted by time
    const std::vector<std::string>& notes() const { return notes_; }  // agent logs, framing stops
    bool exited() const { return exited_; }
    int32_t exit_status() const { return exit_status_; }
    uint64_t last_time_ns() const { return last_time_ns_; }

private:
    using Key = std::pair<uint64_t, uint32_t>;  // connection id, request index

    Request& request_for(uint64_t connection, uint32_t index);
    void on_sample(const trace::CounterSample& sample);
    void on_head(const RequestHeadEvent& head);
    void on_body(const trace::RequestBody& body);
    void on_response_head(const trace::ResponseHead& head);
    void on_write(const trace::ResponseWrite& write);
    void on_end(const trace::RequestEnd& end);
    void see_time(uint64_t time_ns);

    void measure_growth(Request& request);
    void apportion(Request& request, const TimelineIndex& index) const;
    // `with_survivors` replays every sampled allocation to find the blocks never freed,
    // which only the final call needs.
    TimelineIndex index_timeline(bool with_survivors) const;
    void mark_overlaps(Request& request) const;
    void open_window(const Key& key, uint64_t start_ns);
    void close_window(const Key& key, uint64_t end_ns);
    void sort_timeline();
    void on_allocation(const trace::Allocation& allocation);
    void on_free(const trace::Free& free);
    std::vector<std::pair<uint64_t, double>> surviving_blocks() const;
    void find_growing_copies(Request& request);

    TraceHeader header_;
    std::vector<MemorySample> samples_;
    bool samples_sorted_ = true;
    std::map<Key, Request> pending_;
    std::map<Key, bool> ended_;  // keys whose RequestEnd was read
    // Windows of every request seen so far (end 0 while open), for overlap marking.
    // They are also indexed by start time, with the open ones and the longest closed
    // duration kept apart, so marking one request looks only at windows near it.
    std::map<Key, std::pair<uint64_t, uint64_t>> windows_;
    std::multimap<uint64_t, Key> window_starts_;
    std::set<Key> open_windows_;
    uint64_t longest_window_ns_ = 0;
    std::vector<std::string> notes_;
    // The latest sampled allocation or free of each heap address, for the blocks that
    // survive. In time order a free comes before an allocation of the same nanosecond,
    // because the allocator hands an address out again only after it was freed. Records
    // of equal time and kind keep their file order. The latest event alone decides
    // whether the address held a block at the end, so one entry per address replaces a
    // sorted replay of every record.
    struct LastHeapEvent {
        uint64_t time_ns = 0;
        double bytes = 0;  // weighted by the inverse sampling probability; 0 for a free
        bool is_free = false;
    };
    void record_heap_event(uint64_t address, const LastHeapEvent& event);
    std::unordered_map<uint64_t, LastHeapEvent> last_heap_events_;
    double mean_sample_interval_bytes_ = 0;  // from SamplingConfig; 0 until it is read
    bool sampling_config_read_ = false;
    // Body bytes read so far after each read of a request: (time, total), in read order.
    // The growing-copies search uses them and drops them when the request is taken.
    std::map<Key, std::vector<std::pair<uint64_t, uint64_t>>> body_reads_;
    // Heap allocations of at least kMinCopyCandidateBytes: (time, size), sorted on demand.
    std::vector<std::pair<uint64_t, uint64_t>> large_allocations_;
    bool large_allocations_sorted_ = true;
    bool exited_ = false;
    int32_t exit_status_ = 0;
    uint64_t last_time_ns_ = 0;
};

}  // namespace routeheap::analysis
