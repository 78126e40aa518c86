// The detector registry and the helpers the detectors share.
#include <routeheap/analysis/detectors.h>

#include <algorithm>

namespace routeheap::analysis {

const std::vector<std::unique_ptr<Detector>>& all_detectors() {
    static const std::vector<std::unique_ptr<Detector>> detectors = [] {
        std::vector<std::unique_ptr<Detector>> list;
        list.push_back(std::make_unique<BufferedResponseDetector>());
        list.push_back(std::make_unique<BufferedUploadDetector>());
        list.push_back(std::make_unique<IgnoredBackpressureDetector>());
        list.push_back(std::make_unique<AllocationChurnDetector>());
        return list;
    }();
    return detectors;
}

void detect(Request& request) {
    request.findings.clear();
    for (const auto& detector : all_detectors()) {
        if (auto finding = detector->examine(request)) request.findings.push_back(std::move(*finding));
    }

    const auto has = [&](std::string_view kind) {
        return std::any_of(request.findings.begin(), request.findings.end(),
                           [&](const Finding& finding) { return finding.kind == kind; });
    };
    if (has("allocation-churn") && has("buffered-upload")) {
        std::erase_if(request.findings, [](const Finding& finding) { return finding.kind == "buffered-upload"; });
    }
}

Confidence adjust_for_overlap(Confidence confidence, bool overlapping) {
    if (!overlapping || confidence == Confidence::Low) return confidence;
    return static_cast<Confidence>(static_cast<int>(confidence) - 1);
}

const PeakGrowth& attributed_growth(const Request& request) {
    return request.overlapping ? request.apportioned_growth : request.growth;
}

}  // namespace routeheap::analysis
