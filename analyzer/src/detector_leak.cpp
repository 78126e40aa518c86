// per-request-leak: each request of a route, after warm-up, leaves memory that stays:
// native blocks it allocated that are never freed, or a rise of the V8 committed floor
// (the lowest V8 memory from then on). Memory that a later garbage collection frees is
// neither, so "not yet collected" never counts as a leak.
#include <routeheap/analysis/detectors.h>
#include <routeheap/analysis/routes.h>

#include <algorithm>
#include <cmath>

namespace routeheap::analysis {

namespace {

using Thresholds = PerRequestLeakThresholds;

// Medians of the first and second half of the values.
std::pair<int64_t, int64_t> half_medians(const std::vector<int64_t>& values) {
    const auto half = static_cast<std::ptrdiff_t>(values.size() / 2);
    return {percentile({values.begin(), values.begin() + half}, 50),
            percentile({values.begin() + half, values.end()}, 50)};
}

// Requests after warm-up that a later collection followed: memory held by the requests
// after the process's last collection may still be freed by the next one.
std::vector<Request*> judged_requests(const std::vector<Request*>& route_requests, size_t& warmup) {
    warmup = std::max<size_t>(
        Thresholds::kMinWarmupRequests,
        static_cast<size_t>(std::ceil(Thresholds::kWarmupFraction * static_cast<double>(route_requests.size()))));
    std::vector<Request*> judged;
    for (size_t i = warmup; i < route_requests.size(); ++i) {
        Request* request = route_requests[i];
        if (request->growth_measured && request->collected_after) judged.push_back(request);
    }
    return judged;
}

}  // namespace

void detect_leak(const std::vector<Request*>& route_requests) {
    size_t warmup = 0;
    const std::vector<Request*> judged = judged_requests(route_requests, warmup);
    if (judged.size() < Thresholds::kMinJudgedRequests) return;

    std::vector<int64_t> native;
    std::vector<int64_t> v8;
    int64_t total = 0;
    int64_t growth_total = 0;
    size_t overlapping = 0;
    for (const Request* request : judged) {
        native.push_back(request->retained_native_bytes);
        v8.push_back(request->retained_v8_bytes);
        total += request->retained_bytes();
        growth_total += attributed_growth(*request).heap;
        if (request->overlapping) ++overlapping;
    }
    const auto [native_first, native_second] = half_medians(native);
    const auto [v8_first, v8_second] = half_medians(v8);
    const int64_t native_per_request = std::min(native_first, native_second);
    const int64_t v8_per_request = std::min(v8_first, v8_second);
    const bool native_leak = native_per_request >= Thresholds::kMinRetainedNativePerRequest;
    const bool v8_leak = v8_per_request >= Thresholds::kMinRetainedV8PerRequest;
    if ((!native_leak && !v8_leak) || total < Thresholds::kMinTotalRetained) return;

    const int64_t per_request = (native_leak ? native_per_request : 0) + (v8_leak ? v8_per_request : 0);
    Finding finding;
    finding.kind = "per-request-leak";
    const Confidence confidence =
        per_request >= Thresholds::kClearRetainedPerRequest ? Confidence::High : Confidence::Medium;
    finding.confidence = adjust_for_overlap(confidence, overlapping * 2 > judged.size());
    finding.summary = "each request of this route leaves memory that no later garbage collection frees";
    if (overlapping > 0) finding.summary += " (retained memory split among overlapping requests)";
    finding.evidence = {
        {"retained_per_request_bytes", static_cast<double>(per_request), EvidenceUnit::Bytes},
        {"retained_native_first_half_median_bytes", static_cast<double>(native_first), EvidenceUnit::Bytes},
        {"retained_native_second_half_median_bytes", static_cast<double>(native_second), EvidenceUnit::Bytes},
        {"retained_v8_first_half_median_bytes", static_cast<double>(v8_first), EvidenceUnit::Bytes},
        {"retained_v8_second_half_median_bytes", static_cast<double>(v8_second), EvidenceUnit::Bytes},
        {"retained_total_bytes", static_cast<double>(total), EvidenceUnit::Bytes},
        {"not_yet_collected_bytes", static_cast<double>(std::max<int64_t>(0, growth_total - total)), EvidenceUnit::Bytes},
        {"judged_requests", static_cast<double>(judged.size()), EvidenceUnit::Count},
        {"warmup_requests", static_cast<double>(warmup), EvidenceUnit::Count},
        {"overlapping_requests", static_cast<double>(overlapping), EvidenceUnit::Count},
    };

    // The finding goes on each judged request that kept at least half the typical amount.
    for (Request* request : judged) {
        const int64_t own = (native_leak ? request->retained_native_bytes : 0) + (v8_leak ? request->retained_v8_bytes : 0);
        if (own * 2 < per_request) continue;
        Finding copy = finding;
        copy.evidence.push_back({"retained_bytes", static_cast<double>(own), EvidenceUnit::Bytes});
        copy.evidence.push_back(
            {"peak_growth_heap_bytes", static_cast<double>(attributed_growth(*request).heap), EvidenceUnit::Bytes});
        copy.fix = fix_for(copy.kind, request->framework);
        request->findings.push_back(std::move(copy));
    }
}

}  // namespace routeheap::analysis
