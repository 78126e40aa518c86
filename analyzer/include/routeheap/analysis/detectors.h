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
    // Overlapping uploads parse while this one arrives, so the V8 hint is not used for them
    // when the body-sized join was seen, and the native share needs only half the body.
    static constexpr double kMinOverlappingNativeGrowthRatio = 0.375;
};

// The response was built as one JS string and V8 refused to make it: JSON.stringify threw
// "Invalid string length" and the request failed. Seen as a failed request (5xx status,
// or no response) whose V8 heap grew by a good part of V8's longest string.
struct StringLimitThresholds {
    // V8's maximum string length on 64-bit builds (Node 20, V8 11.3): 2^29 - 24 characters,
    // stored one byte each for Latin-1 text.
    static constexpr int64_t kV8MaxStringBytes = (int64_t{1} << 29) - 24;
    // The builder reaches the limit before it throws, but may keep the text in parts that
    // are collected early: half the limit is far above what any other failure allocates.
    static constexpr double kMinGrowthFraction = 0.5;
    // A body this small is an error message, not the response that failed.
    static constexpr int64_t kMaxErrorBodyBytes = 64 * 1024;
};

// The app kept writing while the socket refused data, so the response queued in memory.
struct IgnoredBackpressureThresholds {
    static constexpr int64_t kMinResponseBytes = 1 * kMiB;
    // A write requested after the socket refused one carries at least this much: the
    // app handed the socket data it had queued instead of waiting for 'drain'. A stream
    // that waits writes one chunk at a time (16-64 KiB).
    static constexpr int64_t kMinQueuedWriteBytes = 1 * kMiB;
    // Growth (attributed to the request) of at least an eighth of the response: the queued
    // data was held in memory, not produced on demand. The kernel's socket buffers take
    // several MiB of it first, and at 4 concurrent downloads of 16 MiB each request's share
    // was 3.6-3.9 MiB (0.23x) on the catalog.
    static constexpr double kMinGrowthRatio = 0.125;
    static constexpr double kClearGrowthRatio = 0.5;
};

// Bytes allocated during a request far exceed what it received and sent: repeated
// copies such as `body = Buffer.concat([body, chunk])` per chunk, whose cost grows with
// the square of the body size.
struct AllocationChurnThresholds {
    // Native bytes allocated per byte received or sent. Holding a body costs 1-3x
    // (chunks, one concat, a string's UTF-8 copy), a JSON response about 3x.
    static constexpr double kMinAllocationRatio = 16.0;
    static constexpr double kClearAllocationRatio = 32.0;
    static constexpr int64_t kMinAllocatedBytes = 64 * kMiB;
    // Requests smaller than this in both directions are measured against this size, so
    // tiny requests that do real work are not called churn.
    static constexpr int64_t kMinBodyBytes = 1 * kMiB;
    // Rising sizes among the request's allocations of 1/16 to 1.05 times its larger body.
    // Concatenating per 64 KiB chunk makes 16 per MiB of body. request.text() in Next.js
    // 15 (undici) and multipart parsing make 1-3 copies of equal size, and a buffer that
    // doubles makes at most 5 (1/16, 1/8, 1/4, 1/2 and the whole body).
    static constexpr uint32_t kMinGrowingCopies = 8;
};

// The memory floor of a route rises with every request: each request leaves memory that
// no later garbage collection frees.
struct PerRequestLeakThresholds {
    // Requests of the route judged after warm-up: fewer cannot show a trend.
    static constexpr uint32_t kMinJudgedRequests = 6;
    // The first quarter of a route's requests, at least 2, fill caches, pools and lazily
    // compiled code, and are left out.
    static constexpr uint32_t kMinWarmupRequests = 2;
    static constexpr double kWarmupFraction = 0.25;
    // Median retained bytes per request in both halves of the judged requests: a bounded
    // cache keeps only its last entries, so one half is near zero. Native retention comes
    // from blocks that were never freed, so it is exact for recorded blocks. The V8 floor
    // also rises while V8 sizes its heap (about 0.3 MiB per request seen on Node 20), so it
    // needs more.
    static constexpr int64_t kMinRetainedNativePerRequest = 256 * 1024;
    static constexpr int64_t kMinRetainedV8PerRequest = 1 * kMiB;
    static constexpr int64_t kClearRetainedPerRequest = 1 * kMiB;
    // The floor rise over the judged requests, so a few KiB per request is not a finding.
    static constexpr int64_t kMinTotalRetained = 4 * kMiB;
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

class IgnoredBackpressureDetector final : public Detector {
public:
    std::string_view kind() const override { return "ignored-backpressure"; }
    std::optional<Finding> examine(const Request& request) const override;
};

class AllocationChurnDetector final : public Detector {
public:
    std::string_view kind() const override { return "allocation-churn"; }
    std::optional<Finding> examine(const Request& request) const override;
};

// Every per-request detector, in report order.
const std::vector<std::unique_ptr<Detector>>& all_detectors();

// Runs every per-request detector on `request` and stores the findings in it. When a
// request is both allocation churn and a buffered upload, only allocation-churn is kept:
// the repeated copies are the cause, and its fix also stops holding the body.
void detect(Request& request);

// Judges the requests of one route of one process, in start order, for a per-request
// leak, and adds the finding to each judged request that retained memory.
void detect_leak(const std::vector<Request*>& route_requests);

// The framework that served the request, from the JS frames of its allocation sites:
// next/dist (the app or pages router, from the route-module frames), express/lib,
// fastify, or node:_http_server alone.
Framework detect_framework(const Request& request);

// The fix for a finding kind, in the terms of the framework that served the route;
// the node:http fix when the framework is unknown.
std::string fix_for(std::string_view kind, Framework framework);

// The growth a detector should judge: the request's own share when it overlapped others.
const PeakGrowth& attributed_growth(const Request& request);

// Shared by the detectors: one level lower when the request overlapped others,
// because their growth is shared and cannot be told apart yet.
Confidence adjust_for_overlap(Confidence confidence, bool overlapping);

}  // namespace routeheap::analysis
