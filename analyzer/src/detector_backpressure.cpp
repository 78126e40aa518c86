// ignored-backpressure: the socket refused writes (EAGAIN or partial writes) while the app
// kept producing, so the response queued in memory instead of waiting for the client.
#include <routeheap/analysis/detectors.h>

namespace routeheap::analysis {

std::optional<Finding> IgnoredBackpressureDetector::examine(const Request& request) const {
    using Thresholds = IgnoredBackpressureThresholds;
    if (!request.growth_measured) return std::nullopt;
    if (request.response_bytes < static_cast<uint64_t>(Thresholds::kMinResponseBytes)) return std::nullopt;
    const uint32_t refusals = request.would_block_writes + request.partial_writes;
    if (refusals == 0) return std::nullopt;
    if (request.largest_write_after_refusal < static_cast<uint64_t>(Thresholds::kMinQueuedWriteBytes)) {
        return std::nullopt;
    }

    const PeakGrowth& growth = attributed_growth(request);
    const auto response = static_cast<double>(request.response_bytes);
    const double growth_ratio = static_cast<double>(growth.heap) / response;
    if (growth_ratio < Thresholds::kMinGrowthRatio) return std::nullopt;

    const double queued_fraction = static_cast<double>(request.largest_write_after_refusal) / response;
    const Confidence confidence = growth_ratio >= Thresholds::kClearGrowthRatio ? Confidence::High : Confidence::Medium;

    Finding finding;
    finding.kind = std::string(kind());
    finding.confidence = adjust_for_overlap(confidence, request.overlapping);
    finding.summary = "the app kept writing after the socket refused data, so the response queued in memory";
    if (request.overlapping) finding.summary += " (growth shared with overlapping requests)";
    finding.evidence = {
        {"peak_growth_heap_bytes", static_cast<double>(growth.heap), EvidenceUnit::Bytes},
        {"peak_growth_rss_bytes", static_cast<double>(growth.rss), EvidenceUnit::Bytes},
        {"response_bytes", response, EvidenceUnit::Bytes},
        {"growth_to_response_ratio", growth_ratio, EvidenceUnit::Ratio},
        {"would_block_writes", static_cast<double>(request.would_block_writes), EvidenceUnit::Count},
        {"partial_writes", static_cast<double>(request.partial_writes), EvidenceUnit::Count},
        {"largest_write_after_refusal_bytes", static_cast<double>(request.largest_write_after_refusal),
         EvidenceUnit::Bytes},
        {"queued_write_fraction", queued_fraction, EvidenceUnit::Fraction},
        {"write_calls", static_cast<double>(request.write_calls), EvidenceUnit::Count},
    };
    finding.fix = fix_for(kind(), request.framework);
    return finding;
}

}  // namespace routeheap::analysis
