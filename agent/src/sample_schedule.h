// When the writer thread takes its periodic counter samples: every ROUTEHEAP_SAMPLE_MS while
// requests are open or starting, every ROUTEHEAP_IDLE_SAMPLE_MS otherwise.
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
    // (sums over all threads).
    uint64_t next_sample_ns(int64_t started, int64_t ended) const {
        const bool busy = started != started_before_last_sample_ || started > ended;
        return last_sample_ns_ + (busy ? busy_interval_ns_ : idle_interval_ns_);
    }

    // Records a periodic sample taken at `time_ns`. `started` is the count of started requests
    // read when its due time was chosen.
    void sampled(uint64_t time_ns, int64_t started) {
        last_sample_ns_ = time_ns;
        started_before_last_sample_ = started_at_last_sample_;
        started_at_last_sample_ = started;
    }

private:
    uint64_t busy_interval_ns_;
    uint64_t idle_interval_ns_;
    uint64_t last_sample_ns_;
    int64_t started_at_last_sample_ = 0;
    int64_t started_before_last_sample_ = 0;
};

}  // namespace routeheap::agent
