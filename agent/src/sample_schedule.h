// When the writer thread takes its periodic counter samples: every ROUTEHEAP_SAMPLE_MS while
// requests are open or starting, every ROUTEHEAP_IDLE_SAMPLE_MS otherwise.
//
// Requests take counter samples of their own, on the host's threads, and those are points of
// the same timeline. While they keep coming, a periodic sample would add nothing, so the writer
// sleeps until its next flush instead of waking every ROUTEHEAP_SAMPLE_MS. The wake-ups cost
// more than the samples. On a 2-vCPU guest, an idle thread in node that woke every 10 ms cost
// /health 6 to 15% of its throughput under wrk, and one that woke every 50 ms cost nothing
// measurable (docs/benchmarks.md).
#pragma once

#include <cstdint>

namespace routeheap::agent {

// Short keep-alive requests are seldom open at the instant the writer looks, so a request
// that started since the sample before the last one counts as open too. The writer looks again
// right after each sample and each drain: a comparison with its previous look would cover only
// microseconds, see no new request and drop it to the idle interval under steady load.
class SampleSchedule {
public:
    SampleSchedule(uint64_t busy_interval_ns, uint64_t idle_interval_ns, uint64_t start_ns)
        : busy_interval_ns_(busy_interval_ns), idle_interval_ns_(idle_interval_ns), last_sample_ns_(start_ns) {}

    // Returns when the next periodic sample is due, given the requests started and ended so far
    // (sums over all threads) and the time of the latest request sample (0 before the first).
    // While requests are open, a request sample counts as the last sample.
    uint64_t due_ns(int64_t started, int64_t ended, uint64_t last_request_sample_ns) const {
        if (!busy(started, ended)) return last_sample_ns_ + idle_interval_ns_;
        const uint64_t last = last_request_sample_ns > last_sample_ns_ ? last_request_sample_ns : last_sample_ns_;
        return last + busy_interval_ns_;
    }

    // Returns when the writer should look again to sample, given its next flush at
    // `next_flush_ns`. While request samples come after the last periodic one, that is the
    // flush: due_ns() moves on with every request sample.
    uint64_t wake_ns(int64_t started, int64_t ended, uint64_t last_request_sample_ns, uint64_t next_flush_ns) const {
        const uint64_t due = due_ns(started, ended, last_request_sample_ns);
        if (!busy(started, ended) || last_request_sample_ns <= last_sample_ns_) return due;
        return due > next_flush_ns ? due : next_flush_ns;
    }

    // Records a periodic sample taken at `time_ns`. `started` is the count of started requests
    // read when its due time was chosen.
    void sampled(uint64_t time_ns, int64_t started) {
        last_sample_ns_ = time_ns;
        started_before_last_sample_ = started_at_last_sample_;
        started_at_last_sample_ = started;
    }

private:
    bool busy(int64_t started, int64_t ended) const { return started != started_before_last_sample_ || started > ended; }

    uint64_t busy_interval_ns_;
    uint64_t idle_interval_ns_;
    uint64_t last_sample_ns_;
    int64_t started_at_last_sample_ = 0;
    int64_t started_before_last_sample_ = 0;
};

}  // namespace routeheap::agent
