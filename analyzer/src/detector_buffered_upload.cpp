// buffered-upload: the request body was collected in memory before processing began,
// seen as growth of about the body size when the body completed (native, or native and
// V8 when the body was joined), and a first response byte only after the last body byte.
#include <routeheap/analysis/detectors.h>

#include <algorithm>

namespace routeheap::analysis {

namespace {

using Thresholds = BufferedUploadThresholds;

}  // namespace

std::optional<Finding> BufferedUploadDetector::examine(const Request& request) const {
    if (!request.growth_measured || request.body_complete_ns == 0) return std::nullopt;
    if (request.request_bytes < static_cast<uint64_t>(Thresholds::kMinRequestBytes)) return std::nullopt;

    const auto body = static_cast<double>(request.request_bytes);
    const int64_t native_at_body = request.overlapping ? request.apportioned_native_growth_at_body_complete
                                                       : request.native_growth_at_body_complete;
    const int64_t v8_at_body =
        request.overlapping ? request.apportioned_v8_growth_at_body_complete : request.v8_growth_at_body_complete;

    // A join of the body's size after its last byte proves every chunk was still held, so
    // the V8 hint below cannot veto it. A body read as a JS string (Next's pages router
    // body parser) is held on the V8 heap, so V8 growth then counts as holding it too.
    // Garbage of an earlier request collected during the upload can cancel the growth at
    // the last byte, so the peak over the whole request, which the join is part of, counts too.
    const bool joined = request.body_copy_allocated == true;
    const int64_t held_at_body =
        joined ? std::max(native_at_body + v8_at_body, attributed_growth(request).heap) : native_at_body;
    const double growth_ratio = static_cast<double>(held_at_body) / body;
    const double v8_ratio = static_cast<double>(v8_at_body) / body;
    const bool first_byte_after_body =
        request.first_response_byte_ns == 0 || request.first_response_byte_ns >= request.body_complete_ns;
    const bool processed_after_body = first_byte_after_body && (joined || v8_ratio < Thresholds::kMaxV8GrowthRatio);
    const double min_growth_ratio = request.overlapping && joined ? Thresholds::kMinOverlappingNativeGrowthRatio
                                                                  : Thresholds::kMinNativeGrowthRatio;
    if (growth_ratio < min_growth_ratio || !processed_after_body) return std::nullopt;
    if (request.body_copy_allocated == false) return std::nullopt;

    // Without allocation records, consumed chunks that V8 has not collected yet look the
    // same as held ones, so the counters alone never make a high-confidence finding.
    const bool clear = growth_ratio >= Thresholds::kClearNativeGrowthRatio && joined;
    const Confidence confidence = clear ? Confidence::High : Confidence::Medium;
    const double body_ms = static_cast<double>(request.body_complete_ns - request.start_ns) / 1e6;
    const double first_byte_ms =
        request.first_response_byte_ns >= request.start_ns && request.first_response_byte_ns != 0
            ? static_cast<double>(request.first_response_byte_ns - request.start_ns) / 1e6
            : 0.0;

    Finding finding;
    finding.kind = std::string(kind());
    finding.confidence = adjust_for_overlap(confidence, request.overlapping);
    finding.summary = "the request body was held in memory before processing began";
    if (request.overlapping) finding.summary += " (growth shared with overlapping requests)";
    finding.evidence = {
        {"native_growth_at_body_complete_bytes", static_cast<double>(native_at_body), EvidenceUnit::Bytes},
        {"v8_growth_at_body_complete_bytes", static_cast<double>(v8_at_body), EvidenceUnit::Bytes},
        {"request_bytes", body, EvidenceUnit::Bytes},
        {"growth_to_request_ratio", growth_ratio, EvidenceUnit::Ratio},
        {"body_complete_ms", body_ms, EvidenceUnit::Milliseconds},
        {"time_to_first_byte_ms", first_byte_ms, EvidenceUnit::Milliseconds},
        {"peak_growth_heap_bytes", static_cast<double>(attributed_growth(request).heap), EvidenceUnit::Bytes},
        {"peak_growth_rss_bytes", static_cast<double>(attributed_growth(request).rss), EvidenceUnit::Bytes},
    };
    if (request.body_copy_allocated) finding.evidence.push_back({"body_sized_allocations", 1, EvidenceUnit::Count});
    finding.fix = fix_for(kind(), request.framework);
    return finding;
}

}  // namespace routeheap::analysis
