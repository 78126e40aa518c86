// A framer Events sink for tests and the fuzz target: keeps every event as text and
// checks the framer's contract (pairing, indexes, sizes, privacy) as events arrive.
#pragma once

#include "http_framer.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace routeheap::agent::http::testing {

class RecordingEvents final : public Events {
public:
    // Every event as one line, in order.
    std::vector<std::string> log;
    // The same events without per-read detail (RequestBody progress, ResponseWrite,
    // per-response write counts), so feeding the same bytes split differently
    // must give the same lines.
    std::vector<std::string> semantic;
    // Broken contract rules, empty when the framer behaved.
    std::vector<std::string> violations;

    std::vector<trace::RequestHead> request_heads;
    std::vector<std::string> paths;
    std::vector<std::string> methods;
    std::vector<trace::RequestBody> bodies;
    std::vector<trace::ResponseHead> response_heads;
    std::vector<trace::ResponseWrite> writes;
    std::vector<trace::RequestEnd> ends;
    std::vector<std::string> stop_reasons;
    uint32_t started = 0;
    uint32_t response_starts = 0;

    // Requests started but not ended.
    uint32_t open_requests() const { return started - static_cast<uint32_t>(ends.size()); }

    void request_started(uint64_t connection_id, uint64_t time_ns) override;
    void request_head(const trace::RequestHead& head, std::string_view method,
                      std::string_view path) override;
    void request_body(const trace::RequestBody& body) override;
    void response_started(uint64_t connection_id, uint64_t time_ns) override;
    void response_head(const trace::ResponseHead& head) override;
    void response_write(const trace::ResponseWrite& write) override;
    void request_ended(const trace::RequestEnd& end) override;
    void framing_stopped(uint64_t connection_id, uint64_t time_ns, std::string_view reason) override;

    uint64_t expected_connection_id = 1;

private:
    void add(const std::string& full, const std::string& semantic_line);
    void violate(const std::string& rule);
    void check_connection(uint64_t connection_id);

    std::set<uint32_t> ended_indexes_;
    std::set<uint32_t> head_indexes_;
    bool stopped_ = false;
};

std::string outcome_name(uint16_t outcome);

}  // namespace routeheap::agent::http::testing
