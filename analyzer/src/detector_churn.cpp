// allocation-churn: the bytes allocated during a request far exceed the bytes it received
// and sent, and its allocation records show the cause: copies of a growing buffer, each
// larger than the one before.
#include <routeheap/analysis/detectors.h>

#include <algorithm>

namespace routeheap::analysis {

std::optional<Finding> AllocationChurnDetector::examine(const Request& request) const {
    using Thresholds = AllocationChurnThresholds;
    if (!request.growth_measured) return std::nullopt;

    // Buffering a body, parsing it and loading modules also allocate many times the body,
    // but in copies of the same size or in unrelated sizes. Without allocation records the
    // ratio alone decides, at medium confidence at most.
    const std::optional<GrowingCopies>& copies = request.growing_copies;
    if (copies && copies->count < Thresholds::kMinGrowingCopies) return std::nullopt;

    // The equal split among overlapping requests can give a churning request less than its
    // own copies, which are known exactly once they were told apart by size and time.
    const int64_t allocated = copies ? std::max(request.allocated_bytes, copies->bytes) : request.allocated_bytes;
    if (allocated < Thresholds::kMinAllocatedBytes) return std::nullopt;
    const uint64_t body_bytes = request.request_bytes + request.response_bytes;
    const auto measured_against =
        static_cast<double>(std::max<uint64_t>(body_bytes, static_cast<uint64_t>(Thresholds::kMinBodyBytes)));
    const double ratio = static_cast<double>(allocated) / measured_against;
    if (ratio < Thresholds::kMinAllocationRatio) return std::nullopt;
    const bool clear = ratio >= Thresholds::kClearAllocationRatio && copies.has_value();
    const Confidence confidence = clear ? Confidence::High : Confidence::Medium;
    const PeakGrowth& growth = attributed_growth(request);

    Finding finding;
    finding.kind = std::string(kind());
    finding.confidence = adjust_for_overlap(confidence, request.overlapping);
    finding.summary = "the request allocated far more memory than it received and sent: data is copied again and again";
    if (request.overlapping) finding.summary += " (allocations shared with overlapping requests)";
    finding.evidence = {
        {"allocated_bytes", static_cast<double>(allocated), EvidenceUnit::Bytes},
        {"request_bytes", static_cast<double>(request.request_bytes), EvidenceUnit::Bytes},
        {"response_bytes", static_cast<double>(request.response_bytes), EvidenceUnit::Bytes},
        {"allocated_to_body_ratio", ratio, EvidenceUnit::Ratio},
        {"peak_growth_heap_bytes", static_cast<double>(growth.heap), EvidenceUnit::Bytes},
        {"duration_ms", request.duration_ms(), EvidenceUnit::Milliseconds},
    };
    if (copies) {
        finding.evidence.push_back({"growing_copies", static_cast<double>(copies->count), EvidenceUnit::Count});
        finding.evidence.push_back({"growing_copy_bytes", static_cast<double>(copies->bytes), EvidenceUnit::Bytes});
        finding.evidence.push_back({"largest_copy_bytes", static_cast<double>(copies->largest), EvidenceUnit::Bytes});
    }
    finding.fix = fix_for(kind(), request.framework);
    return finding;
}

}  // namespace routeheap::analysis
