// Follows the traces of a session folder while they grow and hands out each request
// once it has finished, with the detectors already run.
#pragma once

#include <routeheap/analysis/model.h>
#include <routeheap/analysis/reader.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace routeheap::cli {

// Not thread-safe: polled from record's main loop.
class LiveTail {
public:
    using RequestCallback = std::function<void(const analysis::Request&)>;
    using WarningCallback = std::function<void(const std::string&)>;

    LiveTail(std::filesystem::path folder, RequestCallback on_request, WarningCallback on_warning);

    // Picks up new trace files and reads their newly completed blocks. With `final`,
    // the writers are done: incomplete tails are reported and every request is handed out.
    void poll(bool final);

    // True when every trace seen so far ended with TraceEnd (or failed to read).
    bool all_finished() const;

    // CLOCK_REALTIME (ns) when each traced pid's first trace was opened.
    std::map<uint32_t, uint64_t> process_starts() const;
    size_t process_count() const { return traces_.size(); }
    size_t request_count() const { return requests_; }

private:
    struct Trace {
        std::unique_ptr<analysis::TraceReader> reader;
        std::unique_ptr<analysis::ProcessModel> model;
        bool failed = false;
    };

    void poll_trace(const std::filesystem::path& path, Trace& trace, bool final);

    std::filesystem::path folder_;
    RequestCallback on_request_;
    WarningCallback on_warning_;
    std::map<std::filesystem::path, Trace> traces_;
    size_t requests_ = 0;
};

}  // namespace routeheap::cli
