// The detectors: each judges one request and returns a finding with evidence, a
// confidence and a fix, or nothing. Thresholds live beside each detector's rule.
#pragma once

#include <routeheap/analysis/finding.h>
#include <routeheap/analysis/model.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace routeheap::analysis {

inline constexpr int64_t kMiB = 1024 * 1024;

class Detector {
public:
    virtual ~Detector() = default;
    virtual std::string_view kind() const = 0;
    virtual std::optional<Finding> examine(const Request& request) const = 0;
};

// The whole response body was built in memory before it was sent.
struct BufferedResponseThresholds {
    // Smaller responses cannot cost enough memory to matter, whatever their pattern.
    static constexpr int64_t kMinResponseBytes = 1 * kMiB;
    // Holding the body costs at least its size (a JS string plus its UTF-8 copy costs
    // more); half leaves room for a body built from compact data. A streamed response
    // holds a few 16-64 KiB chunks, far below this.
    static constexpr double kMinGrowthRatio = 0.5;
    static constexpr double kClearGrowthRatio = 1.0;
    // The first response byte leaves after this fraction of the request's duration
    // (or after the request body was fully read): the body was assembled first.
    static constexpr double kLateFirstByteFraction = 0.5;
    static constexpr double kClearLateFirstByteFraction = 0.8;
    // Few large writes: the largest requested write carries at least a quarter of the
    // body, or the body leaves in at most 4 calls. Node streams write 16 KiB pieces.
    static constexpr double kMinLargestWriteFraction = 0.25;
    static constexpr double kClearLargestWriteFraction = 0.5;
    static constexpr uint32_t kMaxFewWrites = 4;
};

// The whole request body was held in memory before processing began.
struct BufferedUploadThresholds {
    static constexpr int64_t kMinRequestBytes = 1 * kMiB;
    // Node keeps request chunks in malloc'ed Buffers, so holding them all shows as
    // native growth of about the body size by the time the body completes. 75% leaves
    // room for chunks already released; a streaming consumer holds a few 64 KiB reads.
    static constexpr double kMinNativeGrowthRatio = 0.75;
    static constexpr double kClearNativeGrowthRatio = 1.0;
    // Native growth alone cannot tell held chunks from chunks a streaming parser already
    // consumed but V8 has not collected yet. A parser that runs during the upload creates
    // its rows on the V8 heap, so V8 growth of half the body or more by the time the
    // body completes means processing began before the whole body was read.
    static constexpr double kMaxV8GrowthRatio = 0.5;
};

class BufferedResponseDetector final : public Detector {
public:
    std::string_view kind() const override { return "buffered-response"; }
    std::optional<Finding> examine(const Request& request) const override;
};

class BufferedUploadDetector final : public Detector {
public:
    std::string_view kind() const override { return "buffered-upload"; }
    std::optional<Finding> examine(const Request& request) const override;
};

// Every detector, in report order.
const std::vector<std::unique_ptr<Detector>>& all_detectors();

// Runs every detector on `request` and stores the findings in it.
void detect(Request& request);

// Shared by the detectors: one level lower when the request overlapped others,
// because their growth is shared and cannot be told apart yet.
Confidence adjust_for_overlap(Confidence confidence, bool overlapping);

}  // namespace routeheap::analysis
