// Peak growth of one request from the process's memory timeline: the maximum over the
// samples whose intervals fall inside the request window, minus the value at its start.
#include <routeheap/analysis/model.h>

#include <algorithm>

namespace routeheap::analysis {

namespace {

using SampleIterator = std::vector<MemorySample>::const_iterator;

// The sample taken when the request's first byte was read (the agent writes one with
// reason RequestStart and the connection id), or else the last sample before it.
SampleIterator find_baseline(const std::vector<MemorySample>& samples, const Request& request) {
    auto after = std::upper_bound(samples.begin(), samples.end(), request.start_ns,
                                  [](uint64_t time, const MemorySample& sample) { return time < sample.time_ns; });
    for (auto it = after; it != samples.begin();) {
        --it;
        if (it->time_ns != request.start_ns) break;
        if (it->reason == trace::SampleReason::RequestStart && it->connection == request.id.connection) return it;
    }
    return after == samples.begin() ? samples.end() : std::prev(after);
}

// Samples (after `baseline`) whose intervals cover (start, until]. Each sample's peaks
// cover the time since the previous sample, so the window also takes the first sample
// at or after `until` when none falls exactly on it.
// NOTE: that extra sample's peak may include memory allocated just after the window.
std::pair<SampleIterator, SampleIterator> window_samples(const std::vector<MemorySample>& samples,
                                                         SampleIterator baseline, uint64_t until) {
    const SampleIterator first = std::next(baseline);
    SampleIterator last = std::lower_bound(first, samples.end(), until,
                                           [](const MemorySample& sample, uint64_t time) { return sample.time_ns < time; });
    while (last != samples.end() && last->time_ns == until) ++last;
    if (last != samples.end() && (last == first || std::prev(last)->time_ns < until)) ++last;
    return {first, last};
}

struct Maxima {
    int64_t native = 0;
    int64_t v8 = 0;
    int64_t rss = -1;
    bool any = false;
};

Maxima maxima_over(SampleIterator first, SampleIterator last) {
    Maxima maxima;
    for (auto it = first; it != last; ++it) {
        maxima.native = maxima.any ? std::max(maxima.native, it->native_live_peak_bytes) : it->native_live_peak_bytes;
        maxima.v8 = maxima.any ? std::max(maxima.v8, it->v8_committed_peak_bytes) : it->v8_committed_peak_bytes;
        maxima.rss = std::max(maxima.rss, it->rss_bytes);
        maxima.any = true;
    }
    return maxima;
}

int64_t growth_between(int64_t peak, int64_t start) { return std::max<int64_t>(0, peak - start); }

}  // namespace

void ProcessModel::measure_growth(Request& request) {
    sort_timeline();
    const auto baseline = find_baseline(samples_, request);
    if (baseline == samples_.end()) return;

    const auto [first, last] = window_samples(samples_, baseline, request.end_ns);
    const Maxima maxima = maxima_over(first, last);
    if (!maxima.any) return;

    request.growth_measured = true;
    request.growth.native = growth_between(maxima.native, baseline->native_live_bytes);
    request.growth.v8 = growth_between(maxima.v8, baseline->v8_committed_bytes);
    if (maxima.rss >= 0 && baseline->rss_bytes >= 0) request.growth.rss = growth_between(maxima.rss, baseline->rss_bytes);
    request.growth.heap = request.growth.native + request.growth.v8;

    if (request.body_complete_ns != 0) {
        const auto [body_first, body_last] = window_samples(samples_, baseline, request.body_complete_ns);
        const Maxima at_body = maxima_over(body_first, body_last);
        if (at_body.any) {
            request.native_growth_at_body_complete = growth_between(at_body.native, baseline->native_live_bytes);
            request.v8_growth_at_body_complete = growth_between(at_body.v8, baseline->v8_committed_bytes);
        }
    }
}

}  // namespace routeheap::analysis
