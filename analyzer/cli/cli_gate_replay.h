// The replay client of `routeheap gate`: sends the request list to the server on
// 127.0.0.1 with libcurl, request bodies streamed from their files, responses counted and
// dropped, so the gate's own memory stays small whatever the body sizes.
#pragma once

#include <routeheap/analysis/gate.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

namespace routeheap::cli {

struct ReplayItem {
    const analysis::ReplayRequest* request = nullptr;
    bool warmup = false;
};

// libcurl could not be initialised; the message names the call that failed.
class ReplayError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Sends `items` to 127.0.0.1:`port` in order, with at most `concurrency` requests in
// flight, each bounded by `request_timeout`. Checks `keep_going` between transfers and
// stops sending new requests once it returns false (the transfers in flight finish or
// fail). Returns one outcome per request sent, in completion order.
std::vector<analysis::ReplayOutcome> replay_requests(const std::vector<ReplayItem>& items, uint16_t port,
                                                     unsigned concurrency, std::chrono::milliseconds request_timeout,
                                                     const std::function<bool()>& keep_going);

}  // namespace routeheap::cli
