// HTTP/1.1 framing of one accepted socket: a pure state machine that takes the bytes
// read and written and reports requests and responses to an Events interface.
// Written by hand because Debian 12 packages no llhttp; it parses only what routeheap
// needs (method, path, framing headers). Other header values never reach the trace. To spot
// a repeat, each direction keeps its last header section in memory (SectionMemo) until the
// connection ends or framing stops.
//
// Constraints of the hot path: no malloc, no locks, no stdio, no exceptions. A Framer
// is fixed-size plain data that lives in the connection table's mmap'd pages, so it
// has no constructor: call reset() before use. Not thread-safe: one thread at a time
// per Framer.
#pragma once

#include <routeheap/trace_format.h>

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace routeheap::agent::http {

// Maximum length of a request line, status line, header line, chunk-size line or
// trailer line.
// Node's default limit for the whole header section is 16 KiB (--max-http-header-size
// can raise it), so a longer single line is garbage rather than HTTP from a client.
inline constexpr uint32_t kMaxLineBytes = 64 * 1024;

// Maximum requests read but not yet responded to on one connection (HTTP pipelining). One 64 KiB
// read can hold hundreds of tiny pipelined requests; beyond this the framer stops
// rather than guess which response belongs to which request.
inline constexpr uint32_t kMaxPipelinedRequests = 64;

// Receives the framer's events. Records arrive filled (header type and size set,
// connection id included) except where a method states otherwise. Every
// request_started() is followed by exactly one request_ended() for that request.
class Events {
public:
    // The first byte of a request was read at `time_ns`.
    virtual void request_started(uint64_t connection_id, uint64_t time_ns) = 0;

    // Request line and headers are complete. `head.header.size` covers the fixed part
    // only; the method and path bytes follow it in the trace.
    virtual void request_head(const trace::RequestHead& head, std::string_view method,
                              std::string_view path) = 0;

    virtual void request_body(const trace::RequestBody& body) = 0;

    // The final (non-1xx) response's status is known; `time_ns` is the time of the
    // write that carried its first byte.
    virtual void response_started(uint64_t connection_id, uint64_t time_ns) = 0;

    virtual void response_head(const trace::ResponseHead& head) = 0;
    virtual void response_write(const trace::ResponseWrite& write) = 0;
    // NOTE: a response can end before its request body was read (a server that
    // responds without reading the upload). request_body_bytes then counts the body
    // read so far, and RequestBody events for that request index may still follow.
    // The ResponseWrite of the write that ended a response arrives after this event.
    virtual void request_ended(const trace::RequestEnd& end) = 0;

    // Framing stopped for `reason`; request_ended() follows for every open request.
    virtual void framing_stopped(uint64_t connection_id, uint64_t time_ns,
                                 std::string_view reason) = 0;

protected:
    // Not virtual: sinks are never deleted through this interface, and a virtual
    // destructor would make the agent reference operator delete.
    ~Events() = default;
};

// Header fields the framer interprets; every other field is skipped unread.
enum class HeaderField : uint8_t { Other, ContentLength, TransferEncoding, Expect, Connection };

// Parses one header section (or a chunked trailer section), a run of bytes or a
// byte at a time.
struct HeaderParser {
    enum class Step : uint8_t { More, LineDone, SectionDone, Error };

    // Values gathered from the section.
    int64_t content_length;  // -1 when absent
    bool has_transfer_encoding;
    bool chunked;            // the last transfer coding is "chunked"
    bool expect_continue;
    bool connection_close;
    bool connection_keep_alive;
    bool connection_upgrade;
    const char* error;       // reason text after Step::Error

    bool at_section_start;   // reset() and nothing fed since

    // Progress inside the current line.
    uint8_t state;
    HeaderField field;
    uint8_t name_length;
    uint8_t token_length;
    bool token_overflow;
    bool value_digits_seen;
    bool value_digits_done;
    uint32_t line_bytes;
    int64_t value_number;
    char name[20];
    char token[16];

    void reset();
    Step feed(uint8_t byte);
    // Feeds `data` until the section ends, an error, or the data runs out, and sets
    // `consumed` to the bytes taken. Returns SectionDone, Error or More. Header names
    // and plain values are scanned a run at a time, with the same checks as feed().
    Step feed_run(const uint8_t* data, size_t size, size_t& consumed);

private:
    Step fail(const char* reason);
    size_t take_name_run(const uint8_t* data, size_t size);
    size_t take_value_run(const uint8_t* data, size_t size);
    size_t take_plain_lines(const uint8_t* data, size_t size, Step& step);
    bool take_framing_value(const uint8_t* data, size_t start, size_t end, HeaderField line_field);
    Step finish_line();
    Step feed_name(uint8_t byte);
    Step feed_value(uint8_t byte);
    bool finish_token();
    void classify_name();
};

// The last header section that a HeaderParser took whole from its reset state, within one
// buffer, and the state the parser ended in. A connection's sections often repeat byte for
// byte: wrk sends the same request head each time, and node's response heads change with their
// Date line once a second. Parsing from the reset state depends on the section's bytes alone,
// so a repeat gets exactly the parse's result for the cost of one comparison.
// NOTE: a section that differs from the kept one costs that comparison up to the first
// difference and a copy, about 100 instructions more than the parse alone.
struct SectionMemo {
    static constexpr size_t kMaxBytes = 1024;  // longer sections are parsed every time

    uint16_t length;  // 0 when no section is kept
    HeaderParser parsed;
    uint8_t bytes[kMaxBytes];

    // Forgets the kept section and zeroes its bytes, which may hold cookies and credentials.
    void reset() {
        std::memset(bytes, 0, length < kMaxBytes ? length : kMaxBytes);
        length = 0;
    }
    // Feeds `data` to `parser` as parser.feed_run() would, taking the kept result when the
    // parser is at its section's start and the data begins with the kept section, and keeping
    // a section that it parsed whole from the start.
    HeaderParser::Step feed_run(HeaderParser& parser, const uint8_t* data, size_t size, size_t& consumed);
};

// Parses chunked transfer coding after the header section: sizes, extensions, data
// and the trailer section.
struct ChunkParser {
    enum class Step : uint8_t { More, Done, Error };

    uint8_t state;
    bool size_digits_seen;
    uint32_t line_bytes;
    uint64_t remaining;  // data bytes left in the current chunk, or the size being parsed
    HeaderParser trailers;
    const char* error;

    void reset();
    // Consumes bytes from `data` until the body ends or the bytes run out. Adds the
    // chunk data bytes seen to `data_bytes` and returns how many bytes it consumed.
    size_t feed(const uint8_t* data, size_t size, uint64_t& data_bytes, Step& step);
};

class Framer {
public:
    // Starts framing a new connection.
    void reset(uint64_t connection_id);

    uint64_t connection_id() const { return connection_id_; }
    // False once framing stopped (not HTTP/1.1, or protocol switched).
    bool framing() const { return !stopped_; }
    // True when the peer sent EOF and no request is waiting for its response, so the
    // connection has nothing left to frame.
    bool finished() const { return read_eof_ && count_ == 0 && !stopped_; }

    // A read returned `bytes` > 0 bytes, laid out over `iov`.
    void on_read(const iovec* iov, int iovcnt, size_t bytes, uint64_t time_ns, Events& events);
    // A read returned 0.
    void on_read_eof(uint64_t time_ns, Events& events);
    // A write call with these buffers returned `result` (-1 with `saved_errno` on error).
    void on_write(const iovec* iov, int iovcnt, ssize_t result, int saved_errno,
                  uint64_t time_ns, Events& events);
    // The connection ended (close, shutdown, descriptor reuse, process exit): a
    // close-delimited response completes unless `outcome` is ProcessExit, and every
    // other open request ends with `outcome`.
    void on_connection_end(trace::RequestOutcome outcome, uint64_t time_ns, Events& events);

    // Test helpers: one read or one fully accepted write of `bytes`.
    void feed_read(std::string_view bytes, uint64_t time_ns, Events& events);
    void feed_write(std::string_view bytes, uint64_t time_ns, Events& events);

private:
    // A request read (at least its first byte) whose response has not ended.
    struct PendingRequest {
        uint64_t first_byte_ns;
        uint64_t body_bytes;
        uint32_t index;
        uint32_t flags;  // trace::kRequest*
        bool head_complete;
        bool is_head;     // HEAD: the response has no body
        bool is_connect;  // CONNECT: a 2xx response turns the connection into a tunnel
    };

    // The response to the oldest pending request, while it is being written.
    struct ResponseProgress {
        uint8_t state;
        bool interim;
        bool final_started;
        uint16_t status;
        uint8_t status_digits;
        uint8_t version_matched;
        uint32_t line_bytes;
        uint32_t flags;  // trace::kResponse*
        uint64_t first_byte_ns;
        uint64_t head_bytes;        // bytes of the head being parsed
        uint64_t header_bytes;      // all heads of this exchange, 1xx included
        uint64_t body_bytes;
        uint64_t body_remaining;    // Content-Length bytes still to come
        uint64_t largest_write_bytes;
        uint32_t write_calls;
        uint32_t would_block_writes;
        uint32_t partial_writes;
        uint16_t final_status;
        // The parsers stay last: complete_response() clears only the fields before them.
        HeaderParser headers;
        ChunkParser chunks;
    };

    // Progress of one write call: its size, body bytes and the responses it carried.
    struct WriteProgress {
        uint64_t requested;
        uint64_t body_bytes;
        uint32_t first_index;  // request index of the first response touched
        uint32_t last_index;
        bool touched;
    };

    // Read side.
    void feed_request_bytes(const uint8_t* data, size_t size, uint64_t time_ns, Events& events);
    void feed_request_line_byte(uint8_t byte, uint64_t time_ns, Events& events);
    size_t take_request_line(const uint8_t* data, size_t size, uint64_t time_ns, Events& events);
    size_t start_taken_line(const uint8_t* data, size_t method_length, size_t target_length, size_t path_bytes,
                            bool http10, size_t taken, uint64_t time_ns, Events& events);
    void feed_target_byte(uint8_t byte);
    void feed_request_version_byte(uint8_t byte);
    void append_path_byte(uint8_t byte);
    bool start_request(uint64_t time_ns, Events& events);
    void finish_request_head(uint64_t time_ns, Events& events);
    void finish_request(uint64_t time_ns, Events& events);
    void add_request_body(uint64_t bytes, bool complete);
    void flush_request_body(uint64_t time_ns, Events& events);
    PendingRequest* reading_request();

    // Write side.
    void feed_response_bytes(const uint8_t* data, size_t size, WriteProgress& progress,
                             uint64_t time_ns, Events& events);
    void feed_status_line_byte(uint8_t byte, Events& events);
    size_t take_status_line(const uint8_t* data, size_t size, Events& events);
    void start_response_headers();
    void finish_response_head(const PendingRequest& request, uint64_t time_ns, Events& events);
    void complete_response(uint64_t time_ns, Events& events);
    void account_write(uint64_t requested);

    // Ends and stopping. fail() records the first reason; the public entry point
    // that fed the bytes calls stop() with it once the bytes are accounted.
    void fail(const char* reason);
    void stop(const char* reason, uint64_t time_ns, Events& events);
    // Zeroes both directions' kept header sections (at reset, stop and connection end).
    void forget_kept_sections();
    void end_request(uint32_t position, trace::RequestOutcome outcome, uint64_t time_ns,
                     Events& events);
    PendingRequest& pending(uint32_t position) {
        return pending_[(head_ + position) % kMaxPipelinedRequests];
    }

    uint64_t connection_id_;
    bool stopped_;
    bool read_eof_;
    bool read_closed_;  // the last request asked to close: later bytes are ignored
    const char* stop_reason_;  // set inside a feed, acted on when it returns

    // Read side: the request being parsed.
    uint8_t read_state_;
    uint8_t method_length_;
    uint16_t path_length_;
    uint8_t version_matched_;
    uint8_t target_state_;
    bool request_http10_;
    uint32_t request_flags_;
    uint32_t line_bytes_;
    uint32_t next_request_index_;
    uint32_t reading_index_;
    uint64_t request_header_bytes_;
    uint64_t body_remaining_;
    uint64_t body_total_;
    uint64_t body_in_read_;       // body bytes of the reading request in this read
    bool body_complete_in_read_;
    bool body_in_read_pending_;   // a RequestBody event is due for this read
    HeaderParser request_headers_;
    SectionMemo request_memo_;
    ChunkParser request_chunks_;
    char method_[trace::kMaxMethodBytes];
    char path_[trace::kMaxPathBytes];

    // The last request line that take_request_line() parsed, when it had no query or
    // fragment and fits. A client that repeats its request line on a connection, as wrk does,
    // then gets the parse's result after one comparison, as SectionMemo does for headers.
    static constexpr size_t kMaxLineMemoBytes = 256;
    struct LineMemo {
        uint16_t length;  // with the CR LF or LF, 0 when no line is kept
        uint8_t method_length;
        uint16_t path_length;  // the path starts after the method and one space
        bool http10;
        uint8_t bytes[kMaxLineMemoBytes];
    };
    LineMemo line_memo_;

    // Requests waiting for their response, oldest first.
    uint32_t head_;
    uint32_t count_;
    PendingRequest pending_[kMaxPipelinedRequests];

    ResponseProgress response_;
    SectionMemo response_memo_;
};

}  // namespace routeheap::agent::http
