// Unit tests of the HTTP/1.1 framer: each test is one edge case of real traffic fed
// as reads and writes, with assertions on the events the framer reports.
#include "http_framer.h"
#include "recording_events.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace routeheap::agent::http {
namespace {

using testing::RecordingEvents;
using trace::RequestOutcome;

constexpr uint16_t kComplete = static_cast<uint16_t>(RequestOutcome::Complete);
constexpr uint16_t kConnectionClosed = static_cast<uint16_t>(RequestOutcome::ConnectionClosed);
constexpr uint16_t kFramingStopped = static_cast<uint16_t>(RequestOutcome::FramingStopped);
constexpr uint16_t kProcessExit = static_cast<uint16_t>(RequestOutcome::ProcessExit);

// One connection: a framer and the events it reported. The framer lives on the heap
// because it is a few KiB of fixed buffers.
struct Connection {
    std::unique_ptr<Framer> framer = std::make_unique<Framer>();
    RecordingEvents events;
    uint64_t time_ns = 1000;

    Connection() { framer->reset(1); }

    void read(std::string_view bytes) { framer->feed_read(bytes, time_ns++, events); }
    void eof() { framer->on_read_eof(time_ns++, events); }
    void write(std::string_view bytes) { framer->feed_write(bytes, time_ns++, events); }

    // One writev of `parts` of which the kernel accepted `result` bytes.
    void writev(const std::vector<std::string>& parts, ssize_t result, int saved_errno = 0) {
        std::vector<iovec> iov;
        for (const std::string& part : parts) iov.push_back({const_cast<char*>(part.data()), part.size()});
        framer->on_write(iov.data(), static_cast<int>(iov.size()), result, saved_errno, time_ns++, events);
    }

    void end(RequestOutcome outcome) { framer->on_connection_end(outcome, time_ns++, events); }

    std::string dump() const {
        std::string text;
        for (const std::string& line : events.log) text += line + "\n";
        return text;
    }
};

// A step of an exchange: bytes read from the client or written to it.
struct Step {
    bool is_read;
    std::string bytes;
};

Step in(std::string bytes) { return {true, std::move(bytes)}; }
Step out(std::string bytes) { return {false, std::move(bytes)}; }

// Feeds `steps`, splitting step `split_step` into pieces of the given sizes, then
// ends the connection. Returns the events.
RecordingEvents run(const std::vector<Step>& steps, size_t split_step, const std::vector<size_t>& cuts) {
    Connection connection;
    for (size_t i = 0; i < steps.size(); ++i) {
        const std::string& bytes = steps[i].bytes;
        std::vector<size_t> bounds{0};
        if (i == split_step) bounds.insert(bounds.end(), cuts.begin(), cuts.end());
        bounds.push_back(bytes.size());
        for (size_t piece = 0; piece + 1 < bounds.size(); ++piece) {
            std::string_view part = std::string_view(bytes).substr(bounds[piece], bounds[piece + 1] - bounds[piece]);
            if (part.empty()) continue;
            if (steps[i].is_read) {
                connection.read(part);
            } else {
                connection.write(part);
            }
        }
    }
    connection.end(RequestOutcome::ConnectionClosed);
    return std::move(connection.events);
}

// Asserts that every single split point, and byte-by-byte feeding, of each step
// gives the same semantic events as feeding each step whole.
void expect_split_invariant(const std::vector<Step>& steps) {
    RecordingEvents whole = run(steps, steps.size(), {});
    ASSERT_TRUE(whole.violations.empty()) << whole.violations.front();
    for (size_t step = 0; step < steps.size(); ++step) {
        size_t size = steps[step].bytes.size();
        for (size_t cut = 1; cut < size; ++cut) {
            RecordingEvents split = run(steps, step, {cut});
            ASSERT_TRUE(split.violations.empty()) << "step " << step << " cut " << cut << ": " << split.violations.front();
            ASSERT_EQ(split.semantic, whole.semantic) << "step " << step << " split at byte " << cut;
        }
        std::vector<size_t> every_byte;
        for (size_t cut = 1; cut < size; ++cut) every_byte.push_back(cut);
        RecordingEvents bytewise = run(steps, step, every_byte);
        ASSERT_EQ(bytewise.semantic, whole.semantic) << "step " << step << " fed one byte at a time";
    }
}

const char kSimpleGet[] = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/7.88.1\r\n\r\n";
const char kOkHi[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi";

// HeaderParser::feed_run against feed(): the same step, the same bytes consumed and
// the same values, for header sections fed in pieces of several sizes.
struct HeaderOutcome {
    HeaderParser::Step step = HeaderParser::Step::More;
    size_t consumed = 0;
    int64_t content_length = -1;
    bool has_transfer_encoding = false;
    bool chunked = false;
    bool expect_continue = false;
    bool connection_close = false;
    bool connection_keep_alive = false;
    bool connection_upgrade = false;
    std::string error;

    bool operator==(const HeaderOutcome&) const = default;
};

HeaderOutcome outcome_of(const HeaderParser& parser, HeaderParser::Step step, size_t consumed) {
    return {step,
            consumed,
            parser.content_length,
            parser.has_transfer_encoding,
            parser.chunked,
            parser.expect_continue,
            parser.connection_close,
            parser.connection_keep_alive,
            parser.connection_upgrade,
            parser.error == nullptr ? "" : parser.error};
}

HeaderOutcome feed_bytewise(std::string_view text) {
    HeaderParser parser;
    parser.reset();
    for (size_t i = 0; i < text.size(); ++i) {
        const HeaderParser::Step step = parser.feed(static_cast<uint8_t>(text[i]));
        if (step == HeaderParser::Step::Error || step == HeaderParser::Step::SectionDone) {
            return outcome_of(parser, step, i + 1);
        }
    }
    return outcome_of(parser, HeaderParser::Step::More, text.size());
}

// Feeds `parts` in order with feed_run(), as consecutive reads of one section.
HeaderOutcome feed_parts(const std::vector<std::string_view>& parts) {
    HeaderParser parser;
    parser.reset();
    size_t total = 0;
    for (const std::string_view part : parts) {
        size_t consumed = 0;
        const HeaderParser::Step step =
            parser.feed_run(reinterpret_cast<const uint8_t*>(part.data()), part.size(), consumed);
        total += consumed;
        if (step == HeaderParser::Step::Error || step == HeaderParser::Step::SectionDone) {
            return outcome_of(parser, step, total);
        }
        if (consumed != part.size()) return outcome_of(parser, HeaderParser::Step::Error, total);
    }
    return outcome_of(parser, HeaderParser::Step::More, total);
}

HeaderOutcome feed_in_runs(std::string_view text, size_t piece) {
    std::vector<std::string_view> parts;
    for (size_t at = 0; at < text.size(); at += piece) parts.push_back(text.substr(at, piece));
    return feed_parts(parts);
}

HeaderOutcome feed_in_two_runs(std::string_view text, size_t cut) {
    return feed_parts({text.substr(0, cut), text.substr(cut)});
}

// Texts up to this size are also cut at every byte; longer ones only into fixed pieces.
constexpr size_t kCutEveryByteBelow = 600;

void expect_runs_match_bytes(const std::string& text) {
    const HeaderOutcome expected = feed_bytewise(text);
    for (size_t piece : {size_t{1}, size_t{3}, size_t{16}, size_t{17}, text.size()}) {
        const HeaderOutcome got = feed_in_runs(text, piece);
        EXPECT_EQ(got.step, expected.step) << "pieces of " << piece << ": " << text;
        EXPECT_EQ(got.consumed, expected.consumed) << "pieces of " << piece << ": " << text;
        EXPECT_EQ(got.error, expected.error) << "pieces of " << piece << ": " << text;
        EXPECT_TRUE(got == expected) << "pieces of " << piece << ": " << text;
    }
    if (text.size() >= kCutEveryByteBelow) return;
    for (size_t cut = 1; cut < text.size(); ++cut) {
        const HeaderOutcome got = feed_in_two_runs(text, cut);
        ASSERT_EQ(got.error, expected.error) << "cut at " << cut << ": " << text;
        ASSERT_TRUE(got == expected) << "cut at " << cut << ": " << text;
    }
}

TEST(HeaderRuns, TypicalSectionsMatchBytewise) {
    expect_runs_match_bytes("Host: 127.0.0.1:3000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\nGET");
    expect_runs_match_bytes("Content-Length: 42\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n");
    expect_runs_match_bytes("Transfer-Encoding: gzip, chunked\r\nX-A:\tvalue with\ttabs \r\n\n");
    expect_runs_match_bytes("X-High: \xc3\xa9t\xc3\xa9 \xff\x80 bytes\r\n\r\n");
    expect_runs_match_bytes("Host: a\nBare: line feeds\n\n");
}

// Whole lines of ignored headers are taken in one step (HeaderParser::take_whole_line);
// names next to the framing ones must still reach feed().
TEST(HeaderRuns, WholeLinesMatchBytewise) {
    expect_runs_match_bytes("Keep-Alive: timeout=5\r\nCONTENT-LENGTH: 7\r\nDate: x\r\n\r\n");
    expect_runs_match_bytes("Content-Lengthy: 7\r\nContent-Length: 8\r\n\r\n");
    expect_runs_match_bytes("Expects: 100-continue\r\nEXPECT: 100-continue\r\n\r\n");
    expect_runs_match_bytes("User-Agent: wrk\r\nconnection: CLOSE\r\n\r\n");
    expect_runs_match_bytes("Transfer-Encodinx: chunked\r\ntransfer-encoding: chunked\r\n\r\n");
    expect_runs_match_bytes("Content-Length: 3\r\nContent-Length: 4\r\n\r\n");
    expect_runs_match_bytes("X-Empty:\r\nX-Space: \r\nX-Bare:\n\r\n");
    expect_runs_match_bytes("X-Cr: v\r\r\n\r\n");
    expect_runs_match_bytes("X-A: v\r\n\r\r\n");
    expect_runs_match_bytes("X-A: v\r\n\n");
    expect_runs_match_bytes(std::string(300, 'n') + ": long name\r\n\r\n");
}

// Content-Length and Connection lines in their plain forms are taken whole too; every other
// form must still give feed()'s values and errors.
TEST(HeaderRuns, FramingLinesMatchBytewise) {
    const std::string lengths[] = {"42", " 42 ", "\t42\t", "", " ", "4 2", "0042", "+5", "-1", "4x",
                                   std::string(18, '9'), std::string(19, '9'), std::string(20, '1')};
    for (const std::string& value : lengths) {
        SCOPED_TRACE(value);
        expect_runs_match_bytes("Content-Length:" + value + "\r\n\r\n");
        expect_runs_match_bytes("Content-Length: 42\r\ncontent-length:" + value + "\r\n\r\n");
    }
    const std::string tokens[] = {"close", " Keep-Alive ", "UPGRADE", "close, upgrade", "keep-alive,close",
                                  "clo se", "", std::string(16, 'k'), std::string(17, 'k'), "\tclose\t"};
    for (const std::string& value : tokens) {
        SCOPED_TRACE(value);
        expect_runs_match_bytes("Connection:" + value + "\r\n\r\n");
    }
}

// Transfer-Encoding and Expect lines with one token are taken whole; lists, empty values
// and long tokens go to feed().
TEST(HeaderRuns, TokenFieldsMatchBytewise) {
    const std::string tokens[] = {"chunked", " CHUNKED ", "gzip", "gzip, chunked", "chunked, gzip", "chunked,",
                                  ",chunked", "", " ", "chun ked", "100-continue", "100-Continue\t",
                                  "100-continue, x", std::string(16, 'c'), std::string(17, 'c')};
    for (const std::string& value : tokens) {
        SCOPED_TRACE(value);
        expect_runs_match_bytes("Transfer-Encoding:" + value + "\r\n\r\n");
        expect_runs_match_bytes("Transfer-Encoding: chunked\r\ntransfer-encoding:" + value + "\r\n\r\n");
        expect_runs_match_bytes("Expect:" + value + "\r\n\r\n");
        expect_runs_match_bytes("Connection: keep-alive\r\nConnection:" + value + "\r\n\r\n");
    }
    expect_runs_match_bytes("TRANSFER-ENCODING: chunked\r\nExpect: 100-continue\r\nConnection: Upgrade\r\n\r\n");
}

// A typical response head, with one malformed line put at each line position: the lines
// before it are taken whole, the malformed one byte by byte, and the parser must reach
// feed()'s result and error.
TEST(HeaderRuns, MalformedLineAmongPlainLines) {
    const std::vector<std::string> plain = {
        "Content-Type: application/json; charset=utf-8\r\n", "Content-Length: 44\r\n",
        "Date: Sat, 05 Dec 2026 06:12:02 GMT\r\n", "Connection: keep-alive\r\n", "Keep-Alive: timeout=5\r\n"};
    const std::string malformed[] = {
        " folded continuation\r\n",      "\tfolded: tab\r\n",        "No-Colon\r\n",
        "No colon at all\r\n",           ": empty name\r\n",          "X-Bad\x01Name: v\r\n",
        "X-Value: a\x01b\r\n",           "X-Value: a\x7f\r\n",        "X-Value: a\0b\r\n",
        "X-Lone: cr\rhere\r\n",          "X-Cr: v\r\r\n",             "X-Lf-Cr: v\n\r",
        "Content-Length: 45\r\n",        "Content-Length: 44, 44\r\n", "Content-Length: 4 4\r\n",
        "Content-Length: -1\r\n",        "Content-Length:\r\n",        "Connection: close, upgrade\r\n",
        "Transfer-Encoding: chunked\r\n", "Expect: 100-continue\r\n",   "X(Paren): v\r\n",
        "Bare: lf\n",                     "\n",                          "\r\r\n",
    };
    for (const std::string& odd : malformed) {
        for (size_t at = 0; at <= plain.size(); ++at) {
            std::string text = "Host: 127.0.0.1:3000\r\n";
            for (size_t i = 0; i < plain.size(); ++i) {
                if (i == at) text += odd;
                text += plain[i];
            }
            if (at == plain.size()) text += odd;
            text += "\r\nbody";
            SCOPED_TRACE(text);
            expect_runs_match_bytes(text);
        }
    }
}

// The scanner loads 16-byte blocks and takes the last block of the data from its end, so a
// control byte must be found at every offset of sections of every length up to two blocks.
TEST(HeaderRuns, ShortSectionsMatchBytewise) {
    for (size_t length = 0; length <= 40; ++length) {
        const std::string value(length, 'v');
        expect_runs_match_bytes("A:" + value + "\r\n\r\n");
        expect_runs_match_bytes("A:" + value + "\n\n");
        expect_runs_match_bytes("A:" + value + "\r\n");
        for (size_t at = 0; at < length; ++at) {
            std::string odd = value;
            odd[at] = '\r';
            expect_runs_match_bytes("A:" + odd + "\r\n\r\n");
            odd[at] = '\x1f';
            expect_runs_match_bytes("A:" + odd + "\r\n\r\n");
        }
    }
}

TEST(HeaderRuns, ControlByteAtEveryOffset) {
    // A control byte at each position of a long value, across the 16-byte blocks.
    for (const char control : {'\x01', '\x1f', '\x7f', '\0'}) {
        for (size_t at = 0; at < 40; ++at) {
            std::string value(40, 'v');
            value[at] = control;
            expect_runs_match_bytes("X-Value: " + value + "\r\n\r\n");
        }
    }
}

// Names of letters, digits and '-' are checked 16 bytes at a time (token_end()), so every
// byte value must be tried at every position of a short name.
TEST(HeaderRuns, EveryByteInNameMatchesBytewise) {
    for (const std::string name : {"X-Header-Name", "Accept"}) {
        for (int value = 0; value < 256; ++value) {
            for (size_t at = 0; at < name.size(); ++at) {
                std::string odd = name;
                odd[at] = static_cast<char>(value);
                SCOPED_TRACE(::testing::Message() << "byte " << value << " at " << at << " of " << name);
                expect_runs_match_bytes("Host: x\r\n" + odd + ": v\r\nKeep-Alive: timeout=5\r\n\r\n");
            }
        }
    }
}

TEST(HeaderRuns, InvalidNameByteMatchesBytewise) {
    expect_runs_match_bytes("X-Na(me: v\r\n\r\n");
    expect_runs_match_bytes("X-Name : v\r\n\r\n");
    expect_runs_match_bytes(" folded: v\r\n\r\n");
    expect_runs_match_bytes("X-Name: v\rx\r\n\r\n");
}

TEST(HeaderRuns, LineLimitMatchesBytewise) {
    // "X-Big: " and CR LF add 9 bytes, so the lines are kMaxLineBytes - 3 to + 14 bytes long.
    for (size_t length : {kMaxLineBytes - 12, kMaxLineBytes - 11, kMaxLineBytes - 10, kMaxLineBytes - 9,
                          kMaxLineBytes - 8, kMaxLineBytes - 7, kMaxLineBytes + 5}) {
        SCOPED_TRACE(length);
        expect_runs_match_bytes("X-Big: " + std::string(length, 'a') + "\r\n\r\n");
        expect_runs_match_bytes("X-Big: " + std::string(length, 'a') + "\n\n");
        expect_runs_match_bytes("X-" + std::string(length, 'n') + ": v\r\n\r\n");
        // The limit counts from the start of each line, not of the section.
        expect_runs_match_bytes("Host: x\r\nX-Big: " + std::string(length, 'a') + "\r\n\r\n");
    }
}

TEST(HttpFramer, SimpleGet) {
    Connection c;
    c.read(kSimpleGet);
    c.write(kOkHi);

    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.started, 1u);
    ASSERT_EQ(c.events.request_heads.size(), 1u);
    EXPECT_EQ(c.events.methods[0], "GET");
    EXPECT_EQ(c.events.paths[0], "/hello");
    EXPECT_EQ(c.events.request_heads[0].flags, 0u);
    EXPECT_EQ(c.events.request_heads[0].content_length, -1);
    EXPECT_EQ(c.events.request_heads[0].header_bytes, sizeof(kSimpleGet) - 1);
    EXPECT_TRUE(c.events.bodies.empty());
    EXPECT_EQ(c.events.response_starts, 1u);
    ASSERT_EQ(c.events.response_heads.size(), 1u);
    EXPECT_EQ(c.events.response_heads[0].status, 200);
    EXPECT_EQ(c.events.response_heads[0].content_length, 2);
    EXPECT_EQ(c.events.response_heads[0].header_bytes, sizeof(kOkHi) - 1 - 2);
    ASSERT_EQ(c.events.ends.size(), 1u);
    const trace::RequestEnd& end = c.events.ends[0];
    EXPECT_EQ(end.outcome, kComplete);
    EXPECT_EQ(end.status, 200);
    EXPECT_EQ(end.response_body_bytes, 2u);
    EXPECT_EQ(end.write_calls, 1u);
    EXPECT_EQ(end.largest_write_bytes, sizeof(kOkHi) - 1);
    ASSERT_EQ(c.events.writes.size(), 1u);
    EXPECT_EQ(c.events.writes[0].body_bytes, 2u);
    EXPECT_TRUE(c.framer->framing());
}

TEST(HttpFramer, PostWithContentLength) {
    Connection c;
    c.read("POST /upload HTTP/1.1\r\nContent-Length: 10\r\nContent-Type: text/csv\r\n\r\nabc");
    c.read("defg");
    c.read("hij");
    c.write("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");

    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.request_heads.size(), 1u);
    EXPECT_EQ(c.events.request_heads[0].content_length, 10);
    ASSERT_EQ(c.events.bodies.size(), 3u);
    EXPECT_EQ(c.events.bodies[0].bytes, 3u);
    EXPECT_EQ(c.events.bodies[1].bytes, 4u);
    EXPECT_EQ(c.events.bodies[2].bytes, 3u);
    EXPECT_EQ(c.events.bodies[2].body_total, 10u);
    EXPECT_EQ(c.events.bodies[0].complete, 0u);
    EXPECT_EQ(c.events.bodies[2].complete, 1u);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].request_body_bytes, 10u);
    EXPECT_EQ(c.events.ends[0].status, 201);
    EXPECT_EQ(c.events.ends[0].outcome, kComplete);
}

TEST(HttpFramer, RequestSplitAtEveryPosition) {
    expect_split_invariant({
        in("POST /api/items?id=7 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n\r\n"),
        out("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
        out("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    });
}

TEST(HttpFramer, ChunkedRequestSplitAtEveryPosition) {
    expect_split_invariant({
        in("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           "4;name=value\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n"),
        out(kOkHi),
    });
}

TEST(HttpFramer, ResponseSplitAtEveryPosition) {
    expect_split_invariant({
        in(kSimpleGet),
        out("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
            "7;ext=1\r\nchunk 1\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: done\r\n\r\n"),
        in(kSimpleGet),
        out(kOkHi),
    });
}

// A request line that arrives whole is parsed in one step (Framer::take_request_line);
// split at any byte it goes through the byte-by-byte path. Both must agree on the
// path, flags and byte counts of valid lines and on the error of invalid ones.
TEST(HttpFramer, RequestLineFastPathMatchesBytePath) {
    const std::string long_path = "/" + std::string(trace::kMaxPathBytes + 10, 'p');
    const std::string long_method(trace::kMaxMethodBytes + 1, 'A');
    const std::string lines[] = {
        "GET /health HTTP/1.1\r\n",
        "GET / HTTP/1.0\r\n",
        "POST /api/items?id=7 HTTP/1.1\n",
        "GET /a#frag?x HTTP/1.1\r\n",
        "GET /a?x#y?z HTTP/1.1\r\n",
        "GET /?only HTTP/1.1\r\n",
        "M-SEARCH_X /x HTTP/1.1\r\n",
        "GET " + long_path + " HTTP/1.1\r\n",
        "GET " + long_path + "?q=1 HTTP/1.1\r\n",
        "GET http://host/abs?x HTTP/1.1\r\n",
        "OPTIONS * HTTP/1.1\r\n",
        "GET /x HTTP/1.2\r\n",
        "GET /x HTTP/2.0\r\n",
        "GET /x HTTX/1.1\r\n",
        "GET /x HTTP/1.1\r\r\n",
        "GET /x HTTP/1.1 \r\n",
        "GET  /x HTTP/1.1\r\n",
        "GET /x y HTTP/1.1\r\n",
        "GET /x\ty HTTP/1.1\r\n",
        "GET /x\x01 HTTP/1.1\r\n",
        "GET /x\rHTTP/1.1\r\n",
        "GET\r\n",
        "GET /x\r\n",
        "get /x HTTP/1.1\r\n",
        long_method + " /x HTTP/1.1\r\n",
        "GET HTTP/1.1\r\n",
    };
    for (const std::string& line : lines) {
        SCOPED_TRACE(line);
        expect_split_invariant({in(line + "Host: x\r\n\r\n"), out(kOkHi)});
    }
}

// A request line that repeats on its connection gets the first parse's result from the
// framer's line memo. Each line comes four times with another line before the last, so the
// memo is kept, hit and replaced. Split reads parse the line without the memo.
TEST(HttpFramer, RepeatedRequestLineMatchesBytePath) {
    const std::string lines[] = {
        "GET /health HTTP/1.1\r\n",
        "GET / HTTP/1.0\r\n",
        "POST /api/items?id=7 HTTP/1.1\n",
        "DELETE /items/7 HTTP/1.1\n",
        "GET /a#frag HTTP/1.1\r\n",
        "GET /" + std::string(300, 'p') + " HTTP/1.1\r\n",
    };
    for (const std::string& line : lines) {
        SCOPED_TRACE(line);
        const std::string request = line + "Host: x\r\n\r\n";
        expect_split_invariant({in(request), out(kOkHi), in(request + request), out(std::string(kOkHi) + kOkHi),
                                in(kSimpleGet), out(kOkHi), in(request), out(kOkHi)});
    }
}

// The same for status lines (Framer::take_status_line).
TEST(HttpFramer, StatusLineFastPathMatchesBytePath) {
    const std::string lines[] = {
        "HTTP/1.1 200 OK\r\n",
        "HTTP/1.0 200 OK\n",
        "HTTP/1.1 200\r\n",
        "HTTP/1.1 200 \r\n",
        "HTTP/1.1 404 Not\tFound\r\n",
        "HTTP/1.1 500 Internal \xc3\xa9rror\r\n",
        "HTTP/1.1 099 Low\r\n",
        "HTTP/1.1 2000 OK\r\n",
        "HTTP/1.1 20 OK\r\n",
        "HTTP/1.1 2x0 OK\r\n",
        "HTTP/1.2 200 OK\r\n",
        "HTTP/2.0 200 OK\r\n",
        "HTTP/1.1  200 OK\r\n",
        "HTTP/1.1 200 O\x01K\r\n",
        "HTTP/1.1 200 OK\r\r\n",
        "HTTP/1.1 200 O\rK\r\n",
        "http/1.1 200 OK\r\n",
    };
    for (const std::string& line : lines) {
        SCOPED_TRACE(line);
        expect_split_invariant({in(kSimpleGet), out(line + "Content-Length: 2\r\n\r\nhi")});
    }
    // An interim response, then the final one in the same write.
    expect_split_invariant({in("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
                            out("HTTP/1.1 100 Continue\r\n\r\n"), in("data"),
                            out("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")});
}

TEST(HttpFramer, PipelinedRequestsInOneRead) {
    Connection c;
    c.read("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
    ASSERT_EQ(c.events.request_heads.size(), 3u);
    EXPECT_EQ(c.events.paths[0], "/a");
    EXPECT_EQ(c.events.paths[1], "/b");
    EXPECT_EQ(c.events.paths[2], "/c");
    EXPECT_EQ(c.events.request_heads[2].request_index, 2u);
    ASSERT_EQ(c.events.bodies.size(), 1u);
    EXPECT_EQ(c.events.bodies[0].request_index, 2u);
    EXPECT_EQ(c.events.bodies[0].complete, 1u);

    // Node responds in order; here two responses leave in one write, the third alone.
    c.write(std::string(kOkHi) + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    c.write("HTTP/1.1 204 No Content\r\n\r\n");

    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.ends.size(), 3u);
    for (uint32_t i = 0; i < 3; ++i) {
        EXPECT_EQ(c.events.ends[i].request_index, i);
        EXPECT_EQ(c.events.ends[i].outcome, kComplete);
    }
    EXPECT_EQ(c.events.ends[0].response_body_bytes, 2u);
    EXPECT_EQ(c.events.ends[1].response_body_bytes, 3u);
    EXPECT_EQ(c.events.ends[2].status, 204);
    EXPECT_EQ(c.events.ends[2].request_body_bytes, 3u);
    ASSERT_EQ(c.events.writes.size(), 2u);
    EXPECT_EQ(c.events.writes[0].request_index, 0u);
    EXPECT_EQ(c.events.writes[0].body_bytes, 5u);
    EXPECT_EQ(c.events.writes[1].request_index, 2u);
}

TEST(HttpFramer, ChunkedRequestBody) {
    Connection c;
    c.read("POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;a=b\r\nWiki\r\n");
    c.read("5 ; ext\r\npedia\r\n0\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n");
    ASSERT_EQ(c.events.request_heads.size(), 1u);
    EXPECT_EQ(c.events.request_heads[0].flags & trace::kRequestChunked, trace::kRequestChunked);
    EXPECT_EQ(c.events.request_heads[0].content_length, -1);
    ASSERT_EQ(c.events.bodies.size(), 2u);
    EXPECT_EQ(c.events.bodies[0].bytes, 4u);
    EXPECT_EQ(c.events.bodies[0].complete, 0u);
    EXPECT_EQ(c.events.bodies[1].bytes, 5u);
    EXPECT_EQ(c.events.bodies[1].body_total, 9u);
    EXPECT_EQ(c.events.bodies[1].complete, 1u);

    // The next request on the connection parses after the trailers.
    c.write(kOkHi);
    c.read(kSimpleGet);
    ASSERT_EQ(c.events.request_heads.size(), 2u);
    EXPECT_TRUE(c.events.stop_reasons.empty());
    EXPECT_EQ(c.events.ends[0].request_body_bytes, 9u);
}

TEST(HttpFramer, ChunkedResponse) {
    Connection c;
    c.read(kSimpleGet);
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.write("a;x=y\r\n0123456789\r\n");
    EXPECT_TRUE(c.events.ends.empty());
    c.write("3\r\nabc\r\n");
    c.write("0\r\nServer-Timing: db;dur=53\r\n\r\n");

    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.response_heads.size(), 1u);
    EXPECT_EQ(c.events.response_heads[0].flags, trace::kResponseChunked);
    EXPECT_EQ(c.events.response_heads[0].content_length, -1);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].response_body_bytes, 13u);
    EXPECT_EQ(c.events.ends[0].write_calls, 4u);
    EXPECT_EQ(c.events.ends[0].outcome, kComplete);
    ASSERT_EQ(c.events.writes.size(), 4u);
    EXPECT_EQ(c.events.writes[1].body_bytes, 10u);
    EXPECT_EQ(c.events.writes[3].body_bytes, 0u);
}

TEST(HttpFramer, ExpectContinue) {
    Connection c;
    c.read("PUT /file HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    c.write("HTTP/1.1 100 Continue\r\n\r\n");
    EXPECT_EQ(c.events.response_starts, 0u);  // interim responses are not the response start
    c.read("data");
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.request_heads.size(), 1u);
    EXPECT_EQ(c.events.request_heads[0].flags & trace::kRequestExpectContinue, trace::kRequestExpectContinue);
    ASSERT_EQ(c.events.response_heads.size(), 2u);
    EXPECT_EQ(c.events.response_heads[0].status, 100);
    EXPECT_EQ(c.events.response_heads[0].flags, trace::kResponseInterim);
    EXPECT_EQ(c.events.response_heads[1].status, 200);
    EXPECT_EQ(c.events.response_heads[1].flags, 0u);
    EXPECT_EQ(c.events.response_starts, 1u);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].status, 200);
    EXPECT_EQ(c.events.ends[0].request_body_bytes, 4u);
    EXPECT_EQ(c.events.ends[0].response_header_bytes,
              std::string("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n").size());
    EXPECT_EQ(c.events.ends[0].write_calls, 2u);
}

TEST(HttpFramer, CloseDelimitedResponseEndsAtClose) {
    Connection c;
    c.read("GET /old HTTP/1.0\r\n\r\n");
    c.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    c.write("first part, ");
    c.write("second part");
    EXPECT_TRUE(c.events.ends.empty());
    c.end(RequestOutcome::ConnectionClosed);

    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    EXPECT_EQ(c.events.request_heads[0].flags,
              trace::kRequestHttp10 | trace::kRequestConnectionClose);
    EXPECT_EQ(c.events.response_heads[0].flags, trace::kResponseCloseDelimited);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kComplete);
    EXPECT_EQ(c.events.ends[0].response_body_bytes, 23u);
}

TEST(HttpFramer, CloseDelimitedAtProcessExit) {
    Connection c;
    c.read("GET /old HTTP/1.0\r\n\r\n");
    c.write("HTTP/1.0 200 OK\r\n\r\npartial");
    c.end(RequestOutcome::ProcessExit);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kProcessExit);
}

TEST(HttpFramer, HeadResponseHasNoBody) {
    Connection c;
    c.read("HEAD /big HTTP/1.1\r\n\r\n");
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kComplete);
    EXPECT_EQ(c.events.ends[0].response_body_bytes, 0u);

    // The next exchange frames normally.
    c.read(kSimpleGet);
    c.write(kOkHi);
    ASSERT_EQ(c.events.ends.size(), 2u);
    EXPECT_EQ(c.events.ends[1].response_body_bytes, 2u);
    EXPECT_TRUE(c.events.violations.empty());
}

TEST(HttpFramer, NoContentAndNotModifiedHaveNoBody) {
    Connection c;
    c.read("DELETE /item/1 HTTP/1.1\r\n\r\nGET /page HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n");
    c.write("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.write("HTTP/1.1 304 Not Modified\r\nContent-Length: 512\r\n\r\n");
    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.ends.size(), 2u);
    EXPECT_EQ(c.events.ends[0].status, 204);
    EXPECT_EQ(c.events.ends[1].status, 304);
    EXPECT_EQ(c.events.ends[1].outcome, kComplete);
    EXPECT_EQ(c.framer->finished(), false);
}

TEST(HttpFramer, KeepAliveSeveralExchanges) {
    Connection c;
    for (int i = 0; i < 5; ++i) {
        c.read("GET /n/" + std::to_string(i) + " HTTP/1.1\r\nConnection: keep-alive\r\n\r\n");
        c.write(kOkHi);
    }
    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.ends.size(), 5u);
    for (uint32_t i = 0; i < 5; ++i) {
        EXPECT_EQ(c.events.ends[i].request_index, i);
        EXPECT_EQ(c.events.paths[i], "/n/" + std::to_string(i));
        EXPECT_EQ(c.events.ends[i].outcome, kComplete);
    }
}

TEST(HttpFramer, Http10KeepAlive) {
    Connection c;
    c.read("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi");
    c.read("GET /b HTTP/1.0\r\n\r\n");
    ASSERT_EQ(c.events.request_heads.size(), 2u);
    EXPECT_EQ(c.events.request_heads[0].flags, trace::kRequestHttp10);
    EXPECT_EQ(c.events.request_heads[1].flags, trace::kRequestHttp10 | trace::kRequestConnectionClose);

    // Bytes after a request that asked to close are not parsed as a request.
    c.read("GET /c HTTP/1.1\r\n\r\n");
    EXPECT_EQ(c.events.request_heads.size(), 2u);
    EXPECT_TRUE(c.events.stop_reasons.empty());
}

TEST(HttpFramer, QueryStringRemoved) {
    Connection c;
    c.read("GET /search?token=SECRET123&q=1 HTTP/1.1\r\n\r\n");
    c.write(kOkHi);
    c.read("GET http://example.com:8080/proxy/path?key=SECRET456 HTTP/1.1\r\n\r\n");
    c.write(kOkHi);
    c.read("GET http://example.com?SECRET789 HTTP/1.1\r\n\r\n");
    c.write(kOkHi);
    c.read("GET /frag#SECRET000 HTTP/1.1\r\n\r\n");

    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.paths.size(), 4u);
    EXPECT_EQ(c.events.paths[0], "/search");
    EXPECT_EQ(c.events.paths[1], "/proxy/path");
    EXPECT_EQ(c.events.paths[2], "/");
    EXPECT_EQ(c.events.paths[3], "/frag");
    EXPECT_EQ(c.events.request_heads[0].flags, trace::kRequestHadQuery);
    EXPECT_EQ(c.events.request_heads[1].flags, trace::kRequestHadQuery);
    EXPECT_EQ(c.events.request_heads[2].flags, trace::kRequestHadQuery);
    EXPECT_EQ(c.events.request_heads[3].flags, 0u);
    for (const std::string& line : c.events.log) {
        EXPECT_EQ(line.find("SECRET"), std::string::npos) << line;
        EXPECT_EQ(line.find("example.com"), std::string::npos) << line;
    }
}

TEST(HttpFramer, ConnectTargetKeptAsAuthority) {
    Connection c;
    c.read("CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n");
    ASSERT_EQ(c.events.paths.size(), 1u);
    EXPECT_EQ(c.events.paths[0], "db.internal:5432");
    c.write("HTTP/1.1 200 Connection Established\r\n\r\n\x05\x01\x00");
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "CONNECT tunnel established");
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kComplete);
    EXPECT_FALSE(c.framer->framing());
}

TEST(HttpFramer, LongPathTruncated) {
    Connection c;
    std::string path = "/" + std::string(3000, 'p');
    c.read("GET " + path + "?q=1 HTTP/1.1\r\n\r\n");
    ASSERT_EQ(c.events.paths.size(), 1u);
    EXPECT_EQ(c.events.paths[0], path.substr(0, trace::kMaxPathBytes));
    EXPECT_EQ(c.events.request_heads[0].flags, trace::kRequestPathTruncated | trace::kRequestHadQuery);
    EXPECT_EQ(c.events.request_heads[0].path_length, trace::kMaxPathBytes);
}

TEST(HttpFramer, TlsClientHelloStops) {
    Connection c;
    const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    c.read(std::string_view(hello, sizeof(hello) - 1));
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "TLS handshake");
    EXPECT_EQ(c.events.started, 0u);
    EXPECT_FALSE(c.framer->framing());

    // Split after the first byte: the same reason.
    Connection split;
    split.read(std::string_view(hello, 1));
    EXPECT_TRUE(split.events.stop_reasons.empty());
    split.read(std::string_view(hello + 1, sizeof(hello) - 2));
    ASSERT_EQ(split.events.stop_reasons.size(), 1u);
    EXPECT_EQ(split.events.stop_reasons[0], "TLS handshake");
}

TEST(HttpFramer, Http2PrefaceStops) {
    Connection c;
    c.read(std::string_view("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", 28));
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "HTTP/2 preface");
    ASSERT_EQ(c.events.ends.size(), 1u);  // the request started at 'P' ends with the stop
    EXPECT_EQ(c.events.ends[0].outcome, kFramingStopped);
    EXPECT_EQ(c.events.open_requests(), 0u);
    EXPECT_TRUE(c.events.violations.empty());
}

TEST(HttpFramer, GarbageStops) {
    std::mt19937 random(12345);
    for (int round = 0; round < 200; ++round) {
        std::string garbage(64, '\0');
        for (char& byte : garbage) byte = static_cast<char>(random() & 0xff);
        Connection c;
        c.read(garbage);
        c.write(garbage);
        c.end(RequestOutcome::ConnectionClosed);
        ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
        ASSERT_EQ(c.events.stop_reasons.size(), 1u) << "round " << round << "\n" << c.dump();
        EXPECT_EQ(c.events.open_requests(), 0u);
        EXPECT_TRUE(c.events.request_heads.empty());
    }
}

TEST(HttpFramer, InvalidMethodAndRequestLineStop) {
    struct Case {
        const char* bytes;
        const char* reason;
    };
    const Case cases[] = {
        {"get / HTTP/1.1\r\n\r\n", "invalid method"},
        {"GET\t/ HTTP/1.1\r\n\r\n", "invalid method"},
        {"GET /\r\n", "invalid request line"},
        {"GET / HTTP/1.1 extra\r\n\r\n", "invalid request line"},
        {"GET / HTTP/3.0\r\n\r\n", "unsupported HTTP version"},
        {"GET  HTTP/1.1\r\n\r\n", "invalid request target"},
        {"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", "invalid header name"},
        {"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", "obsolete header line folding"},
        {"POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", "invalid Content-Length"},
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting Content-Length headers"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "request Transfer-Encoding does not end in chunked"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", "missing CRLF after chunk data"},
    };
    for (const Case& test : cases) {
        Connection c;
        c.read(test.bytes);
        ASSERT_EQ(c.events.stop_reasons.size(), 1u) << test.bytes;
        EXPECT_EQ(c.events.stop_reasons[0], test.reason) << test.bytes;
        EXPECT_EQ(c.events.open_requests(), 0u) << test.bytes;
        EXPECT_TRUE(c.events.violations.empty()) << test.bytes;
    }
}

TEST(HttpFramer, HeaderLineTooLongStops) {
    Connection c;
    c.read("GET / HTTP/1.1\r\nX-Big: " + std::string(kMaxLineBytes, 'a') + "\r\n\r\n");
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "header line too long");
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kFramingStopped);
}

TEST(HttpFramer, ResponseWithoutRequestStops) {
    Connection c;
    c.write("HTTP/1.1 200 OK\r\n\r\n");
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "response without a preceding request");
    EXPECT_EQ(c.events.writes.size(), 1u);
}

TEST(HttpFramer, ResponseBeforeRequestHeadersCompleteStops) {
    Connection c;
    c.read("GET / HTTP/1.1\r\nX-Long: aaaa");
    c.write("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "response before the request headers were complete");
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kFramingStopped);
}

TEST(HttpFramer, InvalidStatusLineStops) {
    Connection c;
    c.read(kSimpleGet);
    c.write("HTTP/1.1 2x0 OK\r\n\r\n");
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "invalid status line");
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kFramingStopped);
}

TEST(HttpFramer, SwitchingProtocolsStops) {
    Connection c;
    c.read("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello");
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kComplete);
    EXPECT_EQ(c.events.ends[0].status, 101);
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "protocol switched (101 Switching Protocols)");
    EXPECT_EQ(c.events.response_starts, 1u);
}

TEST(HttpFramer, PartialWriteAccounted) {
    Connection c;
    c.read(kSimpleGet);
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    std::string body = "0123456789";
    c.writev({head, body}, static_cast<ssize_t>(head.size() + 4));
    ASSERT_EQ(c.events.writes.size(), 1u);
    EXPECT_EQ(c.events.writes[0].flags, trace::kWritePartial);
    EXPECT_EQ(c.events.writes[0].bytes_requested, head.size() + body.size());
    EXPECT_EQ(c.events.writes[0].result, static_cast<int64_t>(head.size() + 4));
    EXPECT_EQ(c.events.writes[0].body_bytes, 4u);
    EXPECT_EQ(c.events.writes[0].iov_count, 2u);
    EXPECT_TRUE(c.events.ends.empty());

    // libuv writes the rest later.
    c.writev({body.substr(4)}, 6);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].partial_writes, 1u);
    EXPECT_EQ(c.events.ends[0].write_calls, 2u);
    EXPECT_EQ(c.events.ends[0].response_body_bytes, 10u);
    EXPECT_EQ(c.events.ends[0].largest_write_bytes, head.size() + body.size());
}

TEST(HttpFramer, WouldBlockWriteAccounted) {
    Connection c;
    c.read(kSimpleGet);
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
    c.writev({head}, static_cast<ssize_t>(head.size()));
    c.writev({"body"}, -1, EAGAIN);
    ASSERT_EQ(c.events.writes.size(), 2u);
    EXPECT_EQ(c.events.writes[1].flags, trace::kWriteWouldBlock);
    EXPECT_EQ(c.events.writes[1].result, -EAGAIN);
    EXPECT_EQ(c.events.writes[1].body_bytes, 0u);
    c.writev({"body"}, 4);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].would_block_writes, 1u);
    EXPECT_EQ(c.events.ends[0].write_calls, 3u);
    EXPECT_EQ(c.events.ends[0].partial_writes, 0u);

    // Any other error is flagged as an error, not as would-block.
    c.read(kSimpleGet);
    c.writev({"x"}, -1, EPIPE);
    EXPECT_EQ(c.events.writes.back().flags, trace::kWriteError);
    EXPECT_EQ(c.events.writes.back().result, -EPIPE);
}

TEST(HttpFramer, ResponseSplitAcrossIovecs) {
    Connection c;
    c.read(kSimpleGet);
    std::vector<std::string> parts{"HTTP/1.1 200 OK\r\nContent-", "Length: 6\r\n\r", "\nabc", "def"};
    size_t total = 0;
    for (const std::string& part : parts) total += part.size();
    c.writev(parts, static_cast<ssize_t>(total));
    ASSERT_TRUE(c.events.violations.empty()) << c.events.violations.front();
    ASSERT_EQ(c.events.ends.size(), 1u) << c.dump();
    EXPECT_EQ(c.events.ends[0].response_body_bytes, 6u);
    EXPECT_EQ(c.events.ends[0].write_calls, 1u);
    EXPECT_EQ(c.events.writes[0].iov_count, 4u);
    EXPECT_EQ(c.events.writes[0].body_bytes, 6u);
}

TEST(HttpFramer, EarlyResponseBeforeBodyRead) {
    Connection c;
    c.read("POST /big HTTP/1.1\r\nContent-Length: 8\r\n\r\nab");
    c.write("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].status, 413);
    c.read("cdefgh");  // the rest of the body is still framed, not taken as a request
    c.read(kSimpleGet);
    ASSERT_EQ(c.events.request_heads.size(), 2u);
    EXPECT_TRUE(c.events.stop_reasons.empty());
    EXPECT_TRUE(c.events.violations.empty()) << c.events.violations.front();
}

TEST(HttpFramer, PeerEofMidHeadersEndsRequest) {
    Connection c;
    c.read("GET /slow HTTP/1.1\r\nHost: x");
    c.eof();
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kConnectionClosed);
    EXPECT_TRUE(c.framer->finished());

    // Node may still write its 400 response; it is not taken as a framing error.
    c.write("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(c.events.stop_reasons.empty());
}

TEST(HttpFramer, PeerEofWaitsForPendingResponse) {
    Connection c;
    c.read(kSimpleGet);
    c.eof();
    EXPECT_FALSE(c.framer->finished());
    c.write(kOkHi);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kComplete);
    EXPECT_TRUE(c.framer->finished());
}

TEST(HttpFramer, ConnectionEndEndsOpenRequests) {
    Connection c;
    c.read("POST /a HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial");
    c.end(RequestOutcome::ConnectionClosed);
    ASSERT_EQ(c.events.ends.size(), 1u);
    EXPECT_EQ(c.events.ends[0].outcome, kConnectionClosed);
    EXPECT_EQ(c.events.ends[0].request_body_bytes, 7u);
    EXPECT_EQ(c.events.ends[0].status, 0);

    Connection exiting;
    exiting.read("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    exiting.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
    exiting.end(RequestOutcome::ProcessExit);
    ASSERT_EQ(exiting.events.ends.size(), 2u);
    EXPECT_EQ(exiting.events.ends[0].outcome, kProcessExit);
    EXPECT_EQ(exiting.events.ends[0].status, 200);
    EXPECT_EQ(exiting.events.ends[0].response_body_bytes, 3u);
    EXPECT_EQ(exiting.events.ends[1].outcome, kProcessExit);
    EXPECT_EQ(exiting.events.ends[1].status, 0);
}

// The response counters are cleared between responses; a request that ends without
// one must not report the previous response's status or bytes.
TEST(HttpFramer, UnansweredRequestAfterResponse) {
    Connection c;
    c.read(kSimpleGet);
    c.write(kOkHi);
    c.read(kSimpleGet);
    c.end(RequestOutcome::ConnectionClosed);
    ASSERT_EQ(c.events.ends.size(), 2u);
    EXPECT_EQ(c.events.ends[1].outcome, kConnectionClosed);
    EXPECT_EQ(c.events.ends[1].status, 0);
    EXPECT_EQ(c.events.ends[1].write_calls, 0u);
    EXPECT_EQ(c.events.ends[1].response_header_bytes, 0u);
    EXPECT_EQ(c.events.ends[1].response_body_bytes, 0u);
    EXPECT_EQ(c.events.ends[1].largest_write_bytes, 0u);
}

TEST(HttpFramer, TooManyPipelinedRequestsStops) {
    Connection c;
    std::string burst;
    for (uint32_t i = 0; i <= kMaxPipelinedRequests; ++i) burst += "GET /p HTTP/1.1\r\n\r\n";
    c.read(burst);
    ASSERT_EQ(c.events.stop_reasons.size(), 1u);
    EXPECT_EQ(c.events.stop_reasons[0], "too many pipelined requests");
    EXPECT_EQ(c.events.request_heads.size(), kMaxPipelinedRequests);
    EXPECT_EQ(c.events.open_requests(), 0u);
    EXPECT_TRUE(c.events.violations.empty());
}

TEST(HttpFramer, LeadingEmptyLinesIgnored) {
    Connection c;
    c.read("\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    ASSERT_EQ(c.events.request_heads.size(), 1u);
    EXPECT_EQ(c.events.request_heads[0].header_bytes, 18u);
}

// SectionMemo: a header section that repeats gets the kept parse's result, and only sections
// parsed whole from the parser's reset state are kept.
HeaderOutcome feed_with_memo(SectionMemo& memo, std::string_view text) {
    HeaderParser parser;
    parser.reset();
    size_t consumed = 0;
    const HeaderParser::Step step =
        memo.feed_run(parser, reinterpret_cast<const uint8_t*>(text.data()), text.size(), consumed);
    return outcome_of(parser, step, consumed);
}

TEST(SectionMemo, RepeatGivesParsedValues) {
    auto memo = std::make_unique<SectionMemo>();
    memo->reset();
    const std::string sections[] = {
        "Content-Length: 42\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n",
        "Transfer-Encoding: gzip, chunked\r\nConnection: Upgrade\r\n\r\n",
        "Host: a\nBare: line feeds\n\n",
        "X-Cr: v\r\r\n\r\n",
    };
    for (const std::string& section : sections) {
        SCOPED_TRACE(section);
        const HeaderOutcome expected = feed_bytewise(section + "GET");
        const HeaderOutcome first = feed_with_memo(*memo, section + "GET");
        EXPECT_TRUE(first == expected);
        if (expected.step == HeaderParser::Step::SectionDone) {
            EXPECT_EQ(memo->length, expected.consumed);
        }
        const HeaderOutcome repeat = feed_with_memo(*memo, section + "POST");
        EXPECT_TRUE(repeat == expected);
    }
}

TEST(SectionMemo, ResetZeroesKeptBytes) {
    auto memo = std::make_unique<SectionMemo>();
    memo->reset();
    const std::string section = "Cookie: session=secret\r\n\r\n";
    feed_with_memo(*memo, section);
    ASSERT_EQ(memo->length, section.size());
    memo->reset();
    EXPECT_EQ(memo->length, 0u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(memo->bytes), section.size()), std::string(section.size(), '\0'));
}

// A shorter section that replaces a kept one leaves none of the longer one's bytes behind, so
// no cookie the framer kept survives the connection's end.
TEST(SectionMemo, ShorterSectionLeavesNoOldBytes) {
    Connection connection;
    connection.read("GET /a HTTP/1.1\r\nHost: x\r\nCookie: session=s3cr3t-token\r\n\r\n");
    connection.write(kOkHi);
    connection.read("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    connection.write(kOkHi);
    connection.end(RequestOutcome::ConnectionClosed);
    const std::string_view memory(reinterpret_cast<const char*>(connection.framer.get()), sizeof(Framer));
    EXPECT_EQ(memory.find("s3cr3t"), std::string_view::npos);
}

TEST(SectionMemo, KeepsOnlyWholeSections) {
    auto memo = std::make_unique<SectionMemo>();
    memo->reset();
    feed_with_memo(*memo, "Host: a\r\n");  // not ended
    EXPECT_EQ(memo->length, 0u);
    feed_with_memo(*memo, "Content-Length: 1\r\nContent-Length: 2\r\n\r\n");  // an error
    EXPECT_EQ(memo->length, 0u);
    const std::string long_section = "X-Long: " + std::string(SectionMemo::kMaxBytes, 'v') + "\r\n\r\n";
    EXPECT_EQ(feed_with_memo(*memo, long_section).step, HeaderParser::Step::SectionDone);
    EXPECT_EQ(memo->length, 0u);

    // A parser past its section's start never takes the kept result.
    const std::string section = "Content-Length: 5\r\n\r\n";
    feed_with_memo(*memo, section);
    ASSERT_EQ(memo->length, section.size());
    HeaderParser parser;
    parser.reset();
    size_t consumed = 0;
    const std::string first_line = "Content-Length: 7\r\n";
    memo->feed_run(parser, reinterpret_cast<const uint8_t*>(first_line.data()), first_line.size(), consumed);
    const HeaderParser::Step step =
        memo->feed_run(parser, reinterpret_cast<const uint8_t*>(section.data()), section.size(), consumed);
    EXPECT_EQ(step, HeaderParser::Step::Error);  // two different lengths
}

// Repeated exchanges on one connection, as a load generator sends them, with a section that
// changes between repeats. Whole reads and writes take the kept sections, and must report the
// same events as reads and writes split at every byte.
TEST(SectionMemo, RepeatedExchangesMatchBytePath) {
    const std::string request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n";
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                                 "Date: Sat, 05 Dec 2026 18:09:47 GMT\r\nConnection: keep-alive\r\n\r\nok";
    const std::string later = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n"
                              "Date: Sat, 05 Dec 2026 18:09:48 GMT\r\nConnection: keep-alive\r\n\r\nyes";
    const std::string upload = "POST /u HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nContent-Length: 4\r\n\r\nbody";
    expect_split_invariant({in(request), out(response), in(request), out(response), in(request), out(later),
                            in(upload), out(later), in(request + request), out(response + response)});
}

TEST(SectionMemo, RepeatedSectionsCountTheirBytes) {
    Connection c;
    const std::string request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 3; ++i) {
        c.read(request);
        c.write(kOkHi);
    }
    ASSERT_EQ(c.events.request_heads.size(), 3u);
    ASSERT_EQ(c.events.response_heads.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(c.events.request_heads[i].header_bytes, request.size());
        EXPECT_EQ(c.events.response_heads[i].header_bytes, sizeof(kOkHi) - 1 - 2);
        EXPECT_EQ(c.events.response_heads[i].content_length, 2);
    }
    EXPECT_TRUE(c.events.violations.empty());
}

// A section that matches the kept one in every byte but the last must be parsed. With bare LF
// line ends, the kept "Host: x\n\n" and the next "Host: x\nContent-Length: 2\n\n" share all
// bytes up to the kept section's final LF.
TEST(SectionMemo, LastByteDifferenceIsParsed) {
    Connection c;
    c.read("GET /a HTTP/1.1\r\nHost: x\n\n");
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\n\nhi");
    c.read("POST /a HTTP/1.1\r\nHost: x\nContent-Length: 2\n\nhi");
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\nConnection: close\n\nhi");

    EXPECT_TRUE(c.events.stop_reasons.empty()) << c.dump();
    ASSERT_EQ(c.events.request_heads.size(), 2u) << c.dump();
    EXPECT_EQ(c.events.request_heads[1].content_length, 2);
    ASSERT_EQ(c.events.bodies.size(), 1u) << c.dump();
    EXPECT_EQ(c.events.bodies[0].bytes, 2u);
    ASSERT_EQ(c.events.response_heads.size(), 2u) << c.dump();
    EXPECT_EQ(c.events.response_heads[1].flags, trace::kResponseConnectionClose);
    EXPECT_EQ(c.events.response_heads[1].header_bytes, 54u);
    EXPECT_TRUE(c.events.violations.empty());
}

}  // namespace
}  // namespace routeheap::agent::http
