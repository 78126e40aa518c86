// allocation-churn: the bytes allocated during a request far exceed the bytes it received
// and sent, as repeated copies of a growing buffer make.
#include <routeheap/analysis/detectors.h>

#include <algorithm>

namespace routeheap::analysis {

std::optional<Finding> AllocationChurnDetector::examine(const Request& request) const {
    using Thresholds = AllocationChurnThresholds;
    if (!request.growth_measured || request.allocated_bytes < Thresholds::kMinAllocatedBytes) return std::nullopt;

    const uint64_t body_bytes = request.request_bytes + request.response_bytes;
    const auto measured_against =
        static_cast<double>(std::max<uint64_t>(body_bytes, static_cast<uint64_t>(Thresholds::kMinBodyBytes)));
    const double ratio = static_cast<double>(request.allocated_bytes) / measured_against;
    if (ratio < Thresholds::kMinAllocationRatio) return std::nullopt;

    const Confidence confidence = ratio >= Thresholds::kClearAllocationRatio ? Confidence::High : Confidence::Medium;
    const PeakGrowth& growth = attributed_growth(request);

    Finding finding;
    finding.kind = std::string(kind());
    finding.confidence = adjust_for_overlap(confidence, request.overlapping);
    finding.summary = "the request allocated far more memory than it received and sent: data is copied again and again";
    if (request.overlapping) finding.summary += " (allocations shared with overlapping requests)";
    finding.evidence = {
        {"allocated_bytes", static_cast<double>(request.allocated_bytes), EvidenceUnit::Bytes},
        {"request_bytes", static_cast<double>(request.request_bytes), EvidenceUnit::Bytes},
        {"response_bytes", static_cast<double>(request.response_bytes), EvidenceUnit::Bytes},
        {"allocated_to_body_ratio", ratio, EvidenceUnit::Ratio},
        {"peak_growth_heap_bytes", static_cast<double>(growth.heap), EvidenceUnit::Bytes},
        {"duration_ms", request.duration_ms(), EvidenceUnit::Milliseconds},
    };
    finding.fix = fix_for(kind(), request.framework);
    return finding;
}

}  // namespace routeheap::analysis
