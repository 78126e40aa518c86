// buffered-response: the response body was assembled in memory and sent at the end,
// seen as heap growth of about the body size, a late first byte and few large writes.
#include <routeheap/analysis/detectors.h>

namespace routeheap::analysis {

namespace {

using Thresholds = BufferedResponseThresholds;

constexpr const char* kFix =
    "Stream the response instead of building it in memory: connect the data source to the "
    "response with stream.pipeline(source, transform, res), where a Transform stringifies each "
    "row as it arrives. For a JSON array, write '[' first, then each row with its separating "
    "comma, then ']', instead of calling JSON.stringify on the whole array. When you call "
    "res.write() yourself, honour its return value: on false, wait for the 'drain' event before "
    "writing more.";

struct Measures {
    double growth_ratio = 0;         // heap growth / response body bytes
    double first_byte_fraction = 0;  // (first response byte - start) / duration
    bool first_byte_after_body = false;
    double largest_write_fraction = 0;
};

Measures measure(const Request& request) {
    Measures measures;
    const auto body = static_cast<double>(request.response_bytes);
    measures.growth_ratio = static_cast<double>(request.growth.heap) / body;
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
    const double first_byte_ms =
        request.first_response_byte_ns >= request.start_ns
            ? static_cast<double>(request.first_response_byte_ns - request.start_ns) / 1e6
            : 0.0;
    return {
        {"peak_growth_heap_bytes", static_cast<double>(request.growth.heap), EvidenceUnit::Bytes},
        {"peak_growth_native_bytes", static_cast<double>(request.growth.native), EvidenceUnit::Bytes},
        {"peak_growth_v8_bytes", static_cast<double>(request.growth.v8), EvidenceUnit::Bytes},
        {"peak_growth_rss_bytes", static_cast<double>(request.growth.rss), EvidenceUnit::Bytes},
        {"response_bytes", static_cast<double>(request.response_bytes), EvidenceUnit::Bytes},
        {"growth_to_response_ratio", measures.growth_ratio, EvidenceUnit::Ratio},
        {"time_to_first_byte_ms", first_byte_ms, EvidenceUnit::Milliseconds},
        {"first_byte_fraction", measures.first_byte_fraction, EvidenceUnit::Fraction},
        {"write_calls", static_cast<double>(request.write_calls), EvidenceUnit::Count},
        {"largest_write_bytes", static_cast<double>(request.largest_write_bytes), EvidenceUnit::Bytes},
        {"largest_write_fraction", measures.largest_write_fraction, EvidenceUnit::Fraction},
    };
}

}  // namespace

std::optional<Finding> BufferedResponseDetector::examine(const Request& request) const {
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
    finding.fix = kFix;
    return finding;
}

}  // namespace routeheap::analysis
