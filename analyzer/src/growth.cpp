// Peak growth of one request from the process's memory timeline: the maximum over the
// samples whose intervals fall inside the request window, minus the value at its start.
// Also the same growth, allocated bytes and retained bytes apportioned among the requests
// open at the same time.
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

constexpr int64_t kCollectionDropBytes = 1024 * 1024;

// Sums over the intervals of a window, each interval's change weighted by this request's
// share of it (1 / the requests open then).
struct Shares {
    double native_peak = 0;
    double v8_peak = 0;
    double rss_peak = 0;
    double allocated = 0;
    double retained_v8 = 0;
    uint32_t max_open = 1;
};

Shares accumulate(const std::vector<MemorySample>& samples, const TimelineIndex& index, size_t first, size_t last,
                  bool alone) {
    Shares shares;
    double native = 0;
    double v8 = 0;
    double rss = 0;
    for (size_t k = first; k < last; ++k) {
        const MemorySample& previous = samples[k - 1];
        const MemorySample& sample = samples[k];
        const uint32_t open = alone ? 1 : std::max<uint32_t>(1, index.open_requests[k]);
        shares.max_open = std::max(shares.max_open, open);
        const double share = 1.0 / open;

        shares.native_peak = std::max(shares.native_peak,
                                      native + static_cast<double>(sample.native_live_peak_bytes - previous.native_live_bytes) * share);
        shares.v8_peak = std::max(shares.v8_peak,
                                  v8 + static_cast<double>(sample.v8_committed_peak_bytes - previous.v8_committed_bytes) * share);
        native += static_cast<double>(sample.native_live_bytes - previous.native_live_bytes) * share;
        v8 += static_cast<double>(sample.v8_committed_bytes - previous.v8_committed_bytes) * share;
        if (sample.rss_bytes >= 0 && previous.rss_bytes >= 0) {
            rss += static_cast<double>(sample.rss_bytes - previous.rss_bytes) * share;
            shares.rss_peak = std::max(shares.rss_peak, rss);
        }
        if (sample.native_allocated_total >= previous.native_allocated_total) {
            shares.allocated += static_cast<double>(sample.native_allocated_total - previous.native_allocated_total) * share;
        }
        shares.retained_v8 += static_cast<double>(index.v8_floor[k] - index.v8_floor[k - 1]) * share;
    }
    return shares;
}

// Requests open at `time`: windows that started before it and had not ended.
uint32_t open_at(const TimelineIndex& index, uint64_t time) {
    const auto started = std::lower_bound(index.window_starts.begin(), index.window_starts.end(), time) -
                         index.window_starts.begin();
    const auto ended =
        std::lower_bound(index.window_ends.begin(), index.window_ends.end(), time) - index.window_ends.begin();
    return static_cast<uint32_t>(std::max<std::ptrdiff_t>(1, started - ended));
}

// Weighted bytes of the blocks allocated inside the request's window that were never freed,
// each split among the requests open when it was allocated.
double surviving_in_window(const TimelineIndex& index, const Request& request) {
    const auto& blocks = index.surviving_blocks;
    auto it = std::upper_bound(blocks.begin(), blocks.end(), std::make_pair(request.start_ns, 1e300));
    double bytes = 0;
    for (; it != blocks.end() && it->first <= request.end_ns; ++it) {
        bytes += request.overlapping ? it->second / open_at(index, it->first) : it->second;
    }
    return bytes;
}

}  // namespace

TimelineIndex ProcessModel::index_timeline(bool with_survivors) const {
    TimelineIndex index;
    const size_t count = samples_.size();
    index.open_requests.assign(count, 1);
    index.v8_floor.assign(count, 0);
    if (with_survivors) index.surviving_blocks = surviving_blocks();
    for (const auto& [key, window] : windows_) {
        if (window.first == 0) continue;
        index.window_starts.push_back(window.first);
        if (window.second != 0) index.window_ends.push_back(window.second);
    }
    std::sort(index.window_starts.begin(), index.window_starts.end());
    std::sort(index.window_ends.begin(), index.window_ends.end());
    if (count == 0) return index;

    for (size_t k = count; k-- > 0;) {
        const bool last = k + 1 == count;
        index.v8_floor[k] = last ? samples_[k].v8_committed_bytes
                                 : std::min(samples_[k].v8_committed_bytes, index.v8_floor[k + 1]);
    }
    for (size_t k = 1; k < count; ++k) {
        if (samples_[k].native_live_bytes <= samples_[k - 1].native_live_bytes - kCollectionDropBytes ||
            samples_[k].v8_committed_bytes <= samples_[k - 1].v8_committed_bytes - kCollectionDropBytes) {
            index.last_collection_ns = samples_[k].time_ns;
        }
    }

    // A window overlaps the interval (t[k-1], t[k]] when it starts before t[k] and ends
    // after t[k-1]; a window that ended at or before t[k-1] also started before t[k].
    const auto& starts = index.window_starts;
    const auto& ends = index.window_ends;
    for (size_t k = 1; k < count; ++k) {
        const auto started = std::lower_bound(starts.begin(), starts.end(), samples_[k].time_ns) - starts.begin();
        const auto ended = std::upper_bound(ends.begin(), ends.end(), samples_[k - 1].time_ns) - ends.begin();
        index.open_requests[k] = static_cast<uint32_t>(std::max<std::ptrdiff_t>(1, started - ended));
    }
    return index;
}

void ProcessModel::apportion(Request& request, const TimelineIndex& index) const {
    request.collected_after = index.last_collection_ns > request.end_ns;
    if (!request.growth_measured) return;
    const auto baseline = find_baseline(samples_, request);
    if (baseline == samples_.end()) return;

    const auto position = [&](SampleIterator it) { return static_cast<size_t>(it - samples_.begin()); };
    const auto [first, last] = window_samples(samples_, baseline, request.end_ns);
    const Shares whole = accumulate(samples_, index, position(first), position(last), !request.overlapping);
    // A share can peak at a different sample than the window's total, so cap it there.
    request.apportioned_growth.native = std::min(request.growth.native, static_cast<int64_t>(whole.native_peak));
    request.apportioned_growth.v8 = std::min(request.growth.v8, static_cast<int64_t>(whole.v8_peak));
    request.apportioned_growth.rss = std::min(request.growth.rss, static_cast<int64_t>(whole.rss_peak));
    request.apportioned_growth.heap = request.apportioned_growth.native + request.apportioned_growth.v8;
    request.allocated_bytes = static_cast<int64_t>(whole.allocated);
    request.retained_v8_bytes = static_cast<int64_t>(whole.retained_v8);
    request.retained_native_bytes = static_cast<int64_t>(surviving_in_window(index, request));
    request.max_concurrent = request.overlapping ? whole.max_open : 1;

    if (request.body_complete_ns != 0) {
        const auto [body_first, body_last] = window_samples(samples_, baseline, request.body_complete_ns);
        const Shares body =
            accumulate(samples_, index, position(body_first), position(body_last), !request.overlapping);
        request.apportioned_native_growth_at_body_complete =
            std::min(request.native_growth_at_body_complete, static_cast<int64_t>(body.native_peak));
        request.apportioned_v8_growth_at_body_complete =
            std::min(request.v8_growth_at_body_complete, static_cast<int64_t>(body.v8_peak));
    }
}

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
