// Recording and contract-checking framer sink shared by the unit tests and the fuzz
// target (see recording_events.h).
#include "recording_events.h"

#include <string_view>

namespace routeheap::agent::http::testing {

std::string outcome_name(uint16_t outcome) {
    switch (static_cast<trace::RequestOutcome>(outcome)) {
    case trace::RequestOutcome::Complete: return "complete";
    case trace::RequestOutcome::ConnectionClosed: return "connection-closed";
    case trace::RequestOutcome::FramingStopped: return "framing-stopped";
    case trace::RequestOutcome::ProcessExit: return "process-exit";
    }
    return "outcome-" + std::to_string(outcome);
}

void RecordingEvents::add(const std::string& full, const std::string& semantic_line) {
    log.push_back(full);
    if (!semantic_line.empty()) semantic.push_back(semantic_line);
}

void RecordingEvents::violate(const std::string& rule) { violations.push_back(rule); }

void RecordingEvents::check_connection(uint64_t connection_id) {
    if (connection_id != expected_connection_id) {
        violate("connection id " + std::to_string(connection_id) + " in an event, expected " +
                std::to_string(expected_connection_id));
    }
}

void RecordingEvents::request_started(uint64_t connection_id, uint64_t) {
    check_connection(connection_id);
    if (stopped_) violate("request started after framing stopped");
    ++started;
    add("start", "start");
}

void RecordingEvents::request_head(const trace::RequestHead& head, std::string_view method,
                                   std::string_view path) {
    check_connection(head.connection_id);
    if (stopped_) violate("request head after framing stopped");
    if (head.header.type != static_cast<uint16_t>(trace::RecordType::RequestHead) ||
        head.header.size != sizeof(trace::RequestHead)) {
        violate("request head record header not filled");
    }
    if (head.request_index + 1 != started) violate("request head index is not the newest request");
    if (method.empty() || method.size() > trace::kMaxMethodBytes) violate("method length out of range");
    if (path.empty() || path.size() > trace::kMaxPathBytes) violate("path length out of range");
    if (path.find('?') != std::string_view::npos) violate("path contains a query string");
    if (method.size() != head.method_length || path.size() != head.path_length) {
        violate("request head lengths differ from the strings");
    }
    head_indexes_.insert(head.request_index);
    request_heads.push_back(head);
    methods.emplace_back(method);
    paths.emplace_back(path);
    std::string text = "head #" + std::to_string(head.request_index) + " " + std::string(method) + " " +
                       std::string(path) + " flags=" + std::to_string(head.flags) +
                       " cl=" + std::to_string(head.content_length) +
                       " header_bytes=" + std::to_string(head.header_bytes);
    add(text, text);
}

void RecordingEvents::request_body(const trace::RequestBody& body) {
    check_connection(body.connection_id);
    if (stopped_) violate("request body after framing stopped");
    if (body.header.size != sizeof(trace::RequestBody)) violate("request body record size");
    if (body.bytes > body.body_total) violate("request body bytes exceed the total");
    if (head_indexes_.count(body.request_index) == 0) violate("request body before its head");
    bodies.push_back(body);
    std::string full = "body #" + std::to_string(body.request_index) + " +" + std::to_string(body.bytes) +
                       " total=" + std::to_string(body.body_total) + (body.complete ? " complete" : "");
    std::string semantic_line;
    if (body.complete) {
        semantic_line = "body #" + std::to_string(body.request_index) + " complete total=" +
                        std::to_string(body.body_total);
    }
    add(full, semantic_line);
}

void RecordingEvents::response_started(uint64_t connection_id, uint64_t) {
    check_connection(connection_id);
    if (stopped_) violate("response started after framing stopped");
    ++response_starts;
    add("response-start", "response-start");
}

void RecordingEvents::response_head(const trace::ResponseHead& head) {
    check_connection(head.connection_id);
    if (stopped_) violate("response head after framing stopped");
    if (head.header.size != sizeof(trace::ResponseHead)) violate("response head record size");
    if (head_indexes_.count(head.request_index) == 0) violate("response head before its request head");
    if (ended_indexes_.count(head.request_index) != 0) violate("response head after its request ended");
    response_heads.push_back(head);
    std::string text = "response #" + std::to_string(head.request_index) + " " + std::to_string(head.status) +
                       " flags=" + std::to_string(head.flags) + " cl=" + std::to_string(head.content_length) +
                       " header_bytes=" + std::to_string(head.header_bytes);
    add(text, text);
}

void RecordingEvents::response_write(const trace::ResponseWrite& write) {
    check_connection(write.connection_id);
    if (stopped_) violate("response write after framing stopped");
    if (write.header.size != sizeof(trace::ResponseWrite)) violate("response write record size");
    if (write.result >= 0 && static_cast<uint64_t>(write.result) < write.body_bytes) {
        violate("response write body bytes exceed the accepted bytes");
    }
    writes.push_back(write);
    add("write #" + std::to_string(write.request_index) + " requested=" + std::to_string(write.bytes_requested) +
            " result=" + std::to_string(write.result) + " body=" + std::to_string(write.body_bytes) +
            " flags=" + std::to_string(write.flags),
        "");
}

void RecordingEvents::request_ended(const trace::RequestEnd& end) {
    check_connection(end.connection_id);
    if (end.header.size != sizeof(trace::RequestEnd)) violate("request end record size");
    if (end.request_index >= started) violate("request end for a request never started");
    if (!ended_indexes_.insert(end.request_index).second) violate("request ended twice");
    ends.push_back(end);
    std::string base = "end #" + std::to_string(end.request_index) + " status=" + std::to_string(end.status) +
                       " " + outcome_name(end.outcome) + " request_body=" + std::to_string(end.request_body_bytes) +
                       " response_body=" + std::to_string(end.response_body_bytes) +
                       " response_headers=" + std::to_string(end.response_header_bytes);
    std::string full = base + " writes=" + std::to_string(end.write_calls) +
                       " largest=" + std::to_string(end.largest_write_bytes) +
                       " would_block=" + std::to_string(end.would_block_writes) +
                       " partial=" + std::to_string(end.partial_writes);
    add(full, base);
}

void RecordingEvents::framing_stopped(uint64_t connection_id, uint64_t, std::string_view reason) {
    check_connection(connection_id);
    if (stopped_) violate("framing stopped twice");
    if (reason.empty() || reason.size() > trace::kMaxTextBytes) violate("stop reason length out of range");
    stopped_ = true;
    stop_reasons.emplace_back(reason);
    std::string text = "stop: " + std::string(reason);
    add(text, text);
}

}  // namespace routeheap::agent::http::testing
