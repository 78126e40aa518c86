// The detector registry and the helpers the detectors share.
#include <routeheap/analysis/detectors.h>

namespace routeheap::analysis {

const std::vector<std::unique_ptr<Detector>>& all_detectors() {
    static const std::vector<std::unique_ptr<Detector>> detectors = [] {
        std::vector<std::unique_ptr<Detector>> list;
        list.push_back(std::make_unique<BufferedResponseDetector>());
        list.push_back(std::make_unique<BufferedUploadDetector>());
        return list;
    }();
    return detectors;
}

void detect(Request& request) {
    request.findings.clear();
    for (const auto& detector : all_detectors()) {
        if (auto finding = detector->examine(request)) request.findings.push_back(std::move(*finding));
    }
}

Confidence adjust_for_overlap(Confidence confidence, bool overlapping) {
    if (!overlapping || confidence == Confidence::Low) return confidence;
    return static_cast<Confidence>(static_cast<int>(confidence) - 1);
}

}  // namespace routeheap::analysis
