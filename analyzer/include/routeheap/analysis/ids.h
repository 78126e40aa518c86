// Typed identifiers for processes, connections and requests, so that a pid can never
// be passed where a connection id is expected.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace routeheap::analysis {

struct ProcessId {
    uint32_t value = 0;
    auto operator<=>(const ProcessId&) const = default;
};

// Unique within one trace file; the agent numbers accepted sockets from 1.
struct ConnectionId {
    uint64_t value = 0;
    auto operator<=>(const ConnectionId&) const = default;
};

// A request is identified by its process image (pid, plus the exec sequence because
// connection ids restart in each image's trace), its connection and its index on that
// connection (0 for the first request of a keep-alive connection).
struct RequestId {
    ProcessId pid;
    uint32_t image = 0;  // 0 for <pid>.rhtrace, N for <pid>.N.rhtrace
    ConnectionId connection;
    uint32_t index = 0;
    auto operator<=>(const RequestId&) const = default;

    // "pid:connection:index", or "pid.N:connection:index" after the Nth exec. Stable
    // across runs of the analyzer on the same trace.
    std::string to_string() const {
        std::string text = std::to_string(pid.value);
        if (image != 0) text += "." + std::to_string(image);
        return text + ":" + std::to_string(connection.value) + ":" + std::to_string(index);
    }
};

}  // namespace routeheap::analysis
