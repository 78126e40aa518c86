// buffered-response: the response body was assembled in memory and sent at the end,
// seen as heap growth of about the body size, a late first byte and few large writes;
// or a failed request whose response outgrew V8's longest string.
#include <routeheap/analysis/detectors.h>

#include <algorithm>

namespace routeheap::analysis {

namespace {

using Thresholds = BufferedResponseThresholds;

struct Measures {
    double growth_ratio = 0;         // heap growth / response body bytes
    double first_byte_fraction = 0;  // (first response byte - start) / duration
    bool first_byte_after_body = false;
    double largest_write_fraction = 0;
};

Measures measure(const Request& request) {
    Measures measures;
    const auto body = static_cast<double>(request.response_bytes);
    measures.growth_ratio = static_cast<double>(attributed_growth(request).heap) / body;
    measures.largest_write_fraction = static_cast<double>(request.largest_write_bytes) / body;
    const uint64_t duration = request.end_ns > request.start_ns ? request.end_ns - request.start_ns : 0;
    if (duration > 0 && request.first_response_byte_ns >= request.start_ns) {
        measures.first_byte_fraction =
            static_cast<double>(request.first_response_byte_ns - request.start_ns) / static_cast<double>(duration);
    }
    measures.first_byte_after_body = request.request_bytes > 0 && request.body_complete_ns != 0 &&
                                     request.first_response_byte_ns >= request.body_complete_ns;
    return measures;
}

Confidence grade(const Request& request, const Measures& measures) {
    int clear = 0;
    if (measures.growth_ratio >= Thresholds::kClearGrowthRatio) ++clear;
    if (measures.first_byte_fraction >= Thresholds::kClearLateFirstByteFraction) ++clear;
    if (measures.largest_write_fraction >= Thresholds::kClearLargestWriteFraction ||
        request.write_calls <= Thresholds::kMaxFewWrites) {
        ++clear;
    }
    const Confidence confidence = clear == 3 ? Confidence::High : clear == 2 ? Confidence::Medium : Confidence::Low;
    return adjust_for_overlap(confidence, request.overlapping);
}

std::vector<EvidenceItem> evidence_for(const Request& request, const Measures& measures) {
    const PeakGrowth& growth = attributed_growth(request);
    const double first_byte_ms =
        request.first_response_byte_ns >= request.start_ns
            ? static_cast<double>(request.first_response_byte_ns - request.start_ns) / 1e6
            : 0.0;
    return {
        {"peak_growth_heap_bytes", static_cast<double>(growth.heap), EvidenceUnit::Bytes},
        {"peak_growth_native_bytes", static_cast<double>(growth.native), EvidenceUnit::Bytes},
        {"peak_growth_v8_bytes", static_cast<double>(growth.v8), EvidenceUnit::Bytes},
        {"peak_growth_rss_bytes", static_cast<double>(growth.rss), EvidenceUnit::Bytes},
        {"response_bytes", static_cast<double>(request.response_bytes), EvidenceUnit::Bytes},
        {"growth_to_response_ratio", measures.growth_ratio, EvidenceUnit::Ratio},
        {"time_to_first_byte_ms", first_byte_ms, EvidenceUnit::Milliseconds},
        {"first_byte_fraction", measures.first_byte_fraction, EvidenceUnit::Fraction},
        {"write_calls", static_cast<double>(request.write_calls), EvidenceUnit::Count},
        {"largest_write_bytes", static_cast<double>(request.largest_write_bytes), EvidenceUnit::Bytes},
        {"largest_write_fraction", measures.largest_write_fraction, EvidenceUnit::Fraction},
    };
}

// A failed request (5xx, or no response at all) with a small body and V8 growth of a good
// part of V8's longest string: JSON.stringify or a string concatenation hit the limit.
std::optional<Finding> examine_string_limit(const Request& request, std::string_view kind) {
    using Limit = StringLimitThresholds;
    const bool failed = request.status >= 500 || (request.status == 0 && request.outcome != Outcome::Open);
    if (!request.growth_measured || !failed) return std::nullopt;
    if (request.response_bytes > static_cast<uint64_t>(Limit::kMaxErrorBodyBytes)) return std::nullopt;
    const PeakGrowth& growth = attributed_growth(request);
    // V8 may release pages while the builder commits new ones, so the committed counter can
    // stay far below what was live. The sampled ranges live at the request's peak show it,
    // split among the requests open then.
    const int64_t held = std::max(growth.v8, request.allocations.peak_bytes / std::max<int64_t>(1, request.max_concurrent));
    const double fraction = static_cast<double>(held) / static_cast<double>(Limit::kV8MaxStringBytes);
    if (fraction < Limit::kMinGrowthFraction) return std::nullopt;

    Finding finding;
    finding.kind = std::string(kind);
    finding.confidence = adjust_for_overlap(fraction >= 0.9 ? Confidence::High : Confidence::Medium, request.overlapping);
    finding.summary = "the request failed with status " + std::to_string(request.status) +
                      " after the V8 heap grew to about V8's longest string: a response built as one string "
                      "(JSON.stringify) that exceeds it throws 'Invalid string length'";
    if (request.overlapping) finding.summary += " (growth shared with overlapping requests)";
    finding.evidence = {
        {"peak_growth_v8_bytes", static_cast<double>(growth.v8), EvidenceUnit::Bytes},
        {"peak_growth_heap_bytes", static_cast<double>(growth.heap), EvidenceUnit::Bytes},
        {"peak_growth_rss_bytes", static_cast<double>(growth.rss), EvidenceUnit::Bytes},
        {"allocation_peak_bytes", static_cast<double>(request.allocations.peak_bytes), EvidenceUnit::Bytes},
        {"v8_max_string_bytes", static_cast<double>(Limit::kV8MaxStringBytes), EvidenceUnit::Bytes},
        {"growth_to_string_limit_fraction", fraction, EvidenceUnit::Fraction},
        {"status", static_cast<double>(request.status), EvidenceUnit::Count},
        {"response_bytes", static_cast<double>(request.response_bytes), EvidenceUnit::Bytes},
    };
    finding.fix = fix_for(kind, request.framework);
    return finding;
}

}  // namespace

std::optional<Finding> BufferedResponseDetector::examine(const Request& request) const {
    if (auto failed = examine_string_limit(request, kind())) return failed;
    if (!request.growth_measured || request.first_response_byte_ns == 0) return std::nullopt;
    if (request.response_bytes < static_cast<uint64_t>(Thresholds::kMinResponseBytes)) return std::nullopt;

    const Measures measures = measure(request);
    const bool holds_body = measures.growth_ratio >= Thresholds::kMinGrowthRatio;
    const bool late_first_byte =
        measures.first_byte_fraction >= Thresholds::kLateFirstByteFraction || measures.first_byte_after_body;
    const bool few_large_writes = measures.largest_write_fraction >= Thresholds::kMinLargestWriteFraction ||
                                  request.write_calls <= Thresholds::kMaxFewWrites;
    if (!holds_body || !late_first_byte || !few_large_writes) return std::nullopt;

    Finding finding;
    finding.kind = std::string(kind());
    finding.confidence = grade(request, measures);
    finding.summary = "the response body was built in memory before it was sent";
    if (request.overlapping) finding.summary += " (growth shared with overlapping requests)";
    finding.evidence = evidence_for(request, measures);
    finding.fix = fix_for(kind(), request.framework);
    return finding;
}

}  // namespace routeheap::analysis
