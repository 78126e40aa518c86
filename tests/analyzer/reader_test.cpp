// Trace reader: round trip of every record type, truncation, corruption and resync,
// newer versions, unknown record types.
#include "trace_builder.h"

#include <routeheap/analysis/reader.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <fstream>

namespace routeheap::testing {
namespace {

using namespace routeheap::analysis;

class CollectingSink : public TraceSink {
public:
    void on_event(const TraceEvent& event) override { events.push_back(event); }
    std::vector<TraceEvent> events;
};

void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

bool any_warning_contains(const ReadSummary& summary, const std::string& text) {
    for (const auto& warning : summary.warnings) {
        if (warning.find(text) != std::string::npos) return true;
    }
    return false;
}

// One block per 10 requests' worth of records, so truncation and corruption have
// several blocks to work on.
TraceBuilder several_blocks(int blocks) {
    TraceBuilder builder;
    for (int block = 0; block < blocks; ++block) {
        for (int i = 0; i < 10; ++i) {
            const uint64_t t = builder.start_ns() + static_cast<uint64_t>(block * 10 + i) * 1000;
            builder.sample(t, trace::SampleReason::Periodic, 0, MemoryState{block * 10 + i, 0, 0});
        }
        builder.end_block();
    }
    return builder;
}

TEST(Reader, RoundTripEveryRecordType) {
    const auto folder = fresh_folder("reader");
    TraceBuilder builder(777, 5'000);
    builder.sample(5'100, trace::SampleReason::RequestStart, 3, MemoryState{10, 20, 30, 11, 21});
    builder.connection_open(3, 5'050);
    builder.request_head(3, 1, 5'100, "POST", "/upload/42", 1234);
    builder.request_body(3, 1, 5'200, 1000, 1000, false);
    builder.end_block();
    builder.request_body(3, 1, 5'300, 234, 1234, true);
    builder.response_head(3, 1, 5'400, 201, trace::kResponseChunked);
    builder.response_write(3, 1, 5'500, 4096, 2048, 1900, trace::kWritePartial);
    trace::RequestEnd end{};
    end.status = 201;
    end.time_ns = 5'600;
    end.connection_id = 3;
    end.request_index = 1;
    end.write_calls = 2;
    end.largest_write_bytes = 4096;
    builder.request_end(end);
    builder.connection_close(3, 5'700, trace::CloseReason::PeerEof);
    builder.framing_stopped(4, 5'750, "TLS handshake");
    builder.process_fork(778, 5'800);
    builder.process_exec(5'850, "/bin/sh");
    builder.agent_log(5'870, "buffer full", false);
    builder.process_exit(3, 5'900);
    builder.trace_end(5'950, 7);
    const auto path = builder.write(folder / "777.rhtrace");

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);

    EXPECT_EQ(result.header.pid.value, 777u);
    EXPECT_EQ(result.header.exe, "/usr/bin/node");
    ASSERT_EQ(result.header.arguments.size(), 2u);
    EXPECT_EQ(result.header.arguments[1], "server.js");
    EXPECT_EQ(result.summary.stop, StopReason::TraceEnd);
    EXPECT_TRUE(result.summary.complete());
    EXPECT_EQ(result.summary.blocks_read, 2u);
    EXPECT_EQ(result.summary.dropped_records, 7u);
    ASSERT_EQ(sink.events.size(), 15u);

    const auto& sample = std::get<trace::CounterSample>(sink.events[0]);
    EXPECT_EQ(sample.current.v8_committed_bytes, 20);
    EXPECT_EQ(sample.native_live_peak_bytes, 11);
    EXPECT_EQ(std::get<trace::ConnectionOpen>(sink.events[1]).connection_id, 3u);
    const auto& head = std::get<RequestHeadEvent>(sink.events[2]);
    EXPECT_EQ(head.method, "POST");
    EXPECT_EQ(head.path, "/upload/42");
    EXPECT_EQ(head.head.content_length, 1234);
    EXPECT_EQ(std::get<trace::RequestBody>(sink.events[4]).complete, 1u);
    EXPECT_EQ(std::get<trace::ResponseHead>(sink.events[5]).status, 201);
    EXPECT_EQ(std::get<trace::ResponseWrite>(sink.events[6]).result, 2048);
    EXPECT_EQ(std::get<trace::RequestEnd>(sink.events[7]).largest_write_bytes, 4096u);
    EXPECT_EQ(std::get<trace::ConnectionClose>(sink.events[8]).reason, static_cast<uint16_t>(trace::CloseReason::PeerEof));
    EXPECT_EQ(std::get<FramingStoppedEvent>(sink.events[9]).text, "TLS handshake");
    EXPECT_EQ(std::get<trace::ProcessFork>(sink.events[10]).child_pid, 778u);
    EXPECT_EQ(std::get<ProcessExecEvent>(sink.events[11]).path, "/bin/sh");
    EXPECT_EQ(std::get<AgentLogEvent>(sink.events[12]).text, "buffer full");
    EXPECT_EQ(std::get<trace::ProcessExit>(sink.events[13]).status, 3);
    EXPECT_EQ(std::get<trace::TraceEnd>(sink.events[14]).dropped_records, 7u);
}

// The agent writes a small request as two compact records. The reader hands out the six
// records they stand for, in the agent's order, and counts a damaged one as malformed.
TEST(Reader, CompactRecordsReadAsTheRecordsTheyReplace) {
    const auto folder = fresh_folder("reader");
    TraceBuilder builder(778, 5'000);
    builder.connection_open(9, 5'050);
    trace::CompactRequestHead head{};
    head.time_ns = 5'100;
    head.connection_id = 9;
    head.request_index = 2;
    head.method_length = 3;
    head.path_length = 7;
    head.content_length = -1;
    head.header_bytes = 46;
    head.current.native_live_bytes = 1000;
    head.native_live_peak_bytes = 1500;
    builder.append(static_cast<uint16_t>(trace::RecordType::CompactRequestHead), &head, sizeof(head), "GET/health");
    trace::CompactResponse response{};
    response.status = 200;
    response.time_ns = 5'300;
    response.connection_id = 9;
    response.request_index = 2;
    response.iov_count = 2;
    response.content_length = 11;
    response.header_bytes = 140;
    response.body_bytes = 11;
    response.write_bytes = 151;
    response.current.native_live_bytes = 1200;
    response.native_live_peak_bytes = 1900;
    builder.append(static_cast<uint16_t>(trace::RecordType::CompactResponse), &response, sizeof(response));
    // A compact record whose path runs past its end.
    head.path_length = 200;
    builder.append(static_cast<uint16_t>(trace::RecordType::CompactRequestHead), &head, sizeof(head), "GET/x");
    builder.trace_end(5'400);
    const auto path = builder.write(folder / "778.rhtrace");

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_TRUE(result.summary.complete());
    EXPECT_EQ(result.summary.malformed_records, 1u);
    EXPECT_EQ(result.summary.records_read, 4u);
    ASSERT_EQ(sink.events.size(), 8u);

    const auto& start = std::get<trace::CounterSample>(sink.events[1]);
    EXPECT_EQ(start.reason, static_cast<uint16_t>(trace::SampleReason::RequestStart));
    EXPECT_EQ(start.time_ns, 5'100u);
    EXPECT_EQ(start.connection_id, 9u);
    EXPECT_EQ(start.native_live_peak_bytes, 1500);
    const auto& request = std::get<RequestHeadEvent>(sink.events[2]);
    EXPECT_EQ(request.method, "GET");
    EXPECT_EQ(request.path, "/health");
    EXPECT_EQ(request.head.first_byte_ns, 5'100u);
    EXPECT_EQ(request.head.headers_done_ns, 5'100u);
    EXPECT_EQ(request.head.request_index, 2u);
    EXPECT_EQ(request.head.header_bytes, 46u);

    const auto& response_head = std::get<trace::ResponseHead>(sink.events[3]);
    EXPECT_EQ(response_head.status, 200);
    EXPECT_EQ(response_head.content_length, 11);
    EXPECT_EQ(response_head.header_bytes, 140u);
    const auto& end = std::get<trace::RequestEnd>(sink.events[4]);
    EXPECT_EQ(end.outcome, static_cast<uint16_t>(trace::RequestOutcome::Complete));
    EXPECT_EQ(end.write_calls, 1u);
    EXPECT_EQ(end.response_body_bytes, 11u);
    EXPECT_EQ(end.largest_write_bytes, 151u);
    const auto& end_sample = std::get<trace::CounterSample>(sink.events[5]);
    EXPECT_EQ(end_sample.reason, static_cast<uint16_t>(trace::SampleReason::RequestEnd));
    EXPECT_EQ(end_sample.current.native_live_bytes, 1200);
    const auto& write = std::get<trace::ResponseWrite>(sink.events[6]);
    EXPECT_EQ(write.result, 151);
    EXPECT_EQ(write.body_bytes, 11u);
    EXPECT_EQ(write.iov_count, 2u);
    EXPECT_TRUE(std::holds_alternative<trace::TraceEnd>(sink.events[7]));
}

TEST(Reader, MissingTraceEndIsReported) {
    const auto folder = fresh_folder("reader");
    auto builder = several_blocks(2);
    const auto path = builder.write(folder / "1.rhtrace");

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_EQ(result.summary.stop, StopReason::EndOfFile);
    EXPECT_FALSE(result.summary.complete());
    EXPECT_EQ(sink.events.size(), 20u);
    EXPECT_NE(result.summary.describe_stop().find("no TraceEnd"), std::string::npos);
}

TEST(Reader, TruncatedAtEvery97thByte) {
    const auto folder = fresh_folder("reader");
    auto builder = several_blocks(4);
    builder.trace_end(builder.start_ns() + 1'000'000);
    const std::vector<uint8_t> whole = builder.bytes();
    const auto& offsets = builder.block_offsets();
    const auto path = folder / "1.rhtrace";

    for (size_t cut = 0; cut < whole.size(); cut += 97) {
        SCOPED_TRACE("cut at byte " + std::to_string(cut));
        write_bytes(path, std::vector<uint8_t>(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut)));
        CollectingSink sink;
        if (cut < offsets.front()) {
            EXPECT_THROW(read_trace(path, sink), TraceError);
            continue;
        }
        const TraceReadResult result = read_trace(path, sink);
        // Every block that ends at or before the cut is read, none after it.
        uint64_t whole_blocks = 0;
        for (size_t i = 0; i < offsets.size(); ++i) {
            const size_t block_end = i + 1 < offsets.size() ? offsets[i + 1] : whole.size();
            if (block_end <= cut) ++whole_blocks;
        }
        EXPECT_EQ(result.summary.blocks_read, whole_blocks);
        EXPECT_EQ(sink.events.size(), std::min<uint64_t>(whole_blocks, 4) * 10);
        EXPECT_FALSE(result.summary.complete());
        const bool at_boundary = std::find(offsets.begin(), offsets.end(), cut) != offsets.end();
        EXPECT_EQ(result.summary.stop, at_boundary ? StopReason::EndOfFile : StopReason::Truncated);
        if (!at_boundary) {
            const std::string stop = result.summary.describe_stop();
            EXPECT_NE(stop.find(whole_blocks == 0 ? "truncated before the first block" : "truncated after block " +
                                                                                           std::to_string(whole_blocks - 1)),
                      std::string::npos)
                << stop;
            // describe_stop() carries the truncation, so no warning repeats it.
            EXPECT_FALSE(any_warning_contains(result.summary, "truncated"));
        }
    }
}

TEST(Reader, TruncatedHeaderMessage) {
    const auto folder = fresh_folder("reader");
    const auto whole = several_blocks(1).bytes();
    const auto path = folder / "1.rhtrace";
    write_bytes(path, std::vector<uint8_t>(whole.begin(), whole.begin() + 30));
    CollectingSink sink;
    try {
        read_trace(path, sink);
        FAIL() << "expected TraceError";
    } catch (const TraceError& error) {
        EXPECT_NE(std::string(error.what()).find("truncated trace header"), std::string::npos) << error.what();
    }
}

TEST(Reader, CorruptBlockInTheMiddleIsSkipped) {
    const auto folder = fresh_folder("reader");
    auto builder = several_blocks(5);
    builder.trace_end(builder.start_ns() + 1'000'000);
    std::vector<uint8_t> bytes = builder.bytes();
    const size_t damaged = builder.block_offsets()[2];
    bytes[damaged + sizeof(trace::BlockHeader) + 5] ^= 0x40;  // inside block 2's payload
    const auto path = folder / "1.rhtrace";
    write_bytes(path, bytes);

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_EQ(result.summary.corrupt_blocks, 1u);
    EXPECT_EQ(result.summary.blocks_read, 5u);  // blocks 0, 1, 3, 4 and the TraceEnd block
    EXPECT_EQ(sink.events.size(), 41u);
    EXPECT_EQ(result.summary.stop, StopReason::TraceEnd);
    EXPECT_FALSE(result.summary.complete());
    EXPECT_EQ(result.summary.skipped_bytes, builder.block_offsets()[3] - damaged);
    EXPECT_TRUE(any_warning_contains(result.summary, "corrupt block 2 at byte " + std::to_string(damaged)));
    EXPECT_TRUE(any_warning_contains(result.summary, "payload checksum"));
    // Samples of block 1 and block 3 are both present: the reader resumed after the damage.
    EXPECT_EQ(std::get<trace::CounterSample>(sink.events[19]).current.native_live_bytes, 19);
    EXPECT_EQ(std::get<trace::CounterSample>(sink.events[20]).current.native_live_bytes, 30);
}

TEST(Reader, CorruptBlockHeaderResyncs) {
    const auto folder = fresh_folder("reader");
    auto builder = several_blocks(3);
    std::vector<uint8_t> bytes = builder.bytes();
    bytes[builder.block_offsets()[1] + 9] ^= 0xff;  // block 1's raw_size field
    const auto path = folder / "1.rhtrace";
    write_bytes(path, bytes);

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_EQ(result.summary.blocks_read, 2u);
    EXPECT_EQ(sink.events.size(), 20u);
    EXPECT_TRUE(any_warning_contains(result.summary, "corrupt block 1"));
    EXPECT_TRUE(any_warning_contains(result.summary, "header checksum"));
}

TEST(Reader, CorruptLastBlockStops) {
    const auto folder = fresh_folder("reader");
    auto builder = several_blocks(3);
    std::vector<uint8_t> bytes = builder.bytes();
    bytes.back() ^= 0x01;
    const auto path = folder / "1.rhtrace";
    write_bytes(path, bytes);

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_EQ(result.summary.stop, StopReason::Corrupt);
    EXPECT_EQ(result.summary.blocks_read, 2u);
    EXPECT_TRUE(any_warning_contains(result.summary, "no valid block follows"));
}

TEST(Reader, NewerVersionIsRejected) {
    const auto folder = fresh_folder("reader");
    TraceBuilder builder(1, 1000, trace::kFormatVersion + 1);
    const auto path = builder.write(folder / "1.rhtrace");
    CollectingSink sink;
    try {
        read_trace(path, sink);
        FAIL() << "expected TraceError";
    } catch (const TraceError& error) {
        const std::string message = error.what();
        const std::string newer = "version " + std::to_string(trace::kFormatVersion + 1) + " is newer";
        EXPECT_NE(message.find(newer), std::string::npos) << message;
        EXPECT_NE(message.find("supports (" + std::to_string(trace::kFormatVersion) + ")"), std::string::npos)
            << message;
        EXPECT_NE(message.find("upgrade routeheap"), std::string::npos) << message;
    }
}

// Traces of agents before the compact records are still read.
TEST(Reader, VersionOneTraceIsRead) {
    const auto folder = fresh_folder("reader");
    TraceBuilder builder(1, 1000, 1);
    builder.sample(1'100, trace::SampleReason::Periodic, 0, MemoryState{5, 0, 0});
    builder.trace_end(1'200);
    CollectingSink sink;
    const TraceReadResult result = read_trace(builder.write(folder / "1.rhtrace"), sink);
    EXPECT_TRUE(result.summary.complete());
    EXPECT_EQ(sink.events.size(), 2u);
}

TEST(Reader, NotATraceIsRejected) {
    const auto folder = fresh_folder("reader");
    const auto path = folder / "notes.rhtrace";
    write_bytes(path, std::vector<uint8_t>(200, 'x'));
    CollectingSink sink;
    try {
        read_trace(path, sink);
        FAIL() << "expected TraceError";
    } catch (const TraceError& error) {
        EXPECT_NE(std::string(error.what()).find("not a routeheap trace"), std::string::npos) << error.what();
    }
}

// The message of the TraceError that reading `path` throws, or "" when none is thrown.
std::string read_error(const std::filesystem::path& path) {
    CollectingSink sink;
    try {
        read_trace(path, sink);
    } catch (const TraceError& error) {
        return error.what();
    }
    return "";
}

TEST(Reader, ShortTextFileIsNotATrace) {
    const auto folder = fresh_folder("reader");
    const auto path = folder / "notes.rhtrace";
    write_bytes(path, {'a', 'b', '\n'});
    const std::string message = read_error(path);
    EXPECT_NE(message.find("not a routeheap trace (no RHTRACE1 magic)"), std::string::npos) << message;
}

TEST(Reader, RandomHeaderIsDamagedNotNewer) {
    const auto folder = fresh_folder("reader");
    std::vector<uint8_t> bytes = several_blocks(1).bytes();
    for (size_t i = sizeof(trace::kFileMagic); i < sizeof(trace::FileHeader); ++i) {
        bytes[i] = static_cast<uint8_t>(i * 37 + 11);
    }
    const auto path = folder / "1.rhtrace";
    write_bytes(path, bytes);
    const std::string message = read_error(path);
    EXPECT_NE(message.find("damaged trace header"), std::string::npos) << message;
    EXPECT_EQ(message.find("version"), std::string::npos) << message;
    EXPECT_NE(message.find("record the session again"), std::string::npos) << message;
}

TEST(Reader, FlippedHeaderByteNamesChecksum) {
    const auto folder = fresh_folder("reader");
    std::vector<uint8_t> bytes = several_blocks(1).bytes();
    bytes[offsetof(trace::FileHeader, pid)] ^= 0x01;
    const auto path = folder / "1.rhtrace";
    write_bytes(path, bytes);
    const std::string message = read_error(path);
    EXPECT_NE(message.find("damaged trace header: checksum mismatch (stored 0x"), std::string::npos) << message;
    EXPECT_NE(message.find("the file is not usable, record the session again"), std::string::npos) << message;
}

TEST(Reader, ExecAsLastRecordIsComplete) {
    const auto folder = fresh_folder("reader");
    TraceBuilder builder(77, 1000);
    builder.sample(2000, trace::SampleReason::Periodic, 0, MemoryState{1, 2, 3});
    builder.process_exec(3000, "/usr/bin/node");
    const auto path = builder.write(folder / "77.rhtrace");

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_EQ(result.summary.stop, StopReason::Exec);
    EXPECT_TRUE(result.summary.complete());
    EXPECT_EQ(result.summary.exec_path, "/usr/bin/node");
    EXPECT_NE(result.summary.describe_stop().find("replaced by exec of /usr/bin/node"), std::string::npos);
}

TEST(Reader, FailedExecIsNotTheEnd) {
    const auto folder = fresh_folder("reader");
    TraceBuilder builder(78, 1000);
    builder.process_exec(2000, "/no/such/program");
    builder.sample(3000, trace::SampleReason::Periodic, 0, MemoryState{1, 2, 3});
    const auto path = builder.write(folder / "78.rhtrace");

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_EQ(result.summary.stop, StopReason::EndOfFile);
    EXPECT_FALSE(result.summary.complete());
}

TEST(Reader, TraceEndAfterDamageIsNotClean) {
    const auto folder = fresh_folder("reader");
    auto builder = several_blocks(3);
    builder.trace_end(builder.start_ns() + 1'000'000);
    std::vector<uint8_t> bytes = builder.bytes();
    bytes[builder.block_offsets()[1] + sizeof(trace::BlockHeader) + 5] ^= 0x40;
    const auto path = folder / "1.rhtrace";
    write_bytes(path, bytes);

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    const std::string stop = result.summary.describe_stop();
    EXPECT_EQ(stop.find("complete"), std::string::npos) << stop;
    EXPECT_NE(stop.find("skipped 1 damaged block ("), std::string::npos) << stop;
}

TEST(Reader, UnknownRecordTypesAreSkipped) {
    const auto folder = fresh_folder("reader");
    TraceBuilder builder;
    builder.sample(builder.start_ns() + 1, trace::SampleReason::Periodic, 0, MemoryState{1, 2, 3});
    struct FutureRecord {
        trace::RecordHeader header;
        uint32_t payload[5];
    } future{};
    builder.append(900, &future, sizeof(future), "extra text");
    builder.append(static_cast<uint16_t>(trace::RecordType::SamplingConfig) + 1, &future, sizeof(future));
    builder.sample(builder.start_ns() + 2, trace::SampleReason::Periodic, 0, MemoryState{4, 5, 6});
    builder.trace_end(builder.start_ns() + 3);
    const auto path = builder.write(folder / "1.rhtrace");

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_EQ(result.summary.unknown_records, 2u);
    EXPECT_EQ(sink.events.size(), 3u);
    EXPECT_EQ(std::get<trace::CounterSample>(sink.events[1]).current.native_live_bytes, 4);
    EXPECT_TRUE(result.summary.complete());
}

TEST(Reader, ShortKnownRecordIsSkipped) {
    const auto folder = fresh_folder("reader");
    TraceBuilder builder;
    trace::RecordHeader stub{};
    builder.append(static_cast<uint16_t>(trace::RecordType::RequestEnd), &stub, sizeof(stub));
    builder.trace_end(builder.start_ns() + 3);
    const auto path = builder.write(folder / "1.rhtrace");

    CollectingSink sink;
    const TraceReadResult result = read_trace(path, sink);
    EXPECT_EQ(result.summary.malformed_records, 1u);
    EXPECT_EQ(sink.events.size(), 1u);
}

TEST(Reader, IncrementalReadFollowsAGrowingFile) {
    const auto folder = fresh_folder("reader");
    auto builder = several_blocks(3);
    builder.trace_end(builder.start_ns() + 1'000'000);
    const std::vector<uint8_t> whole = builder.bytes();
    const auto& offsets = builder.block_offsets();
    const auto path = folder / "1.rhtrace";

    write_bytes(path, std::vector<uint8_t>(whole.begin(), whole.begin() + 20));  // half a header
    TraceReader reader(path);
    CollectingSink sink;
    EXPECT_EQ(reader.read_available(sink, false), 0u);
    EXPECT_FALSE(reader.header().has_value());

    write_bytes(path, std::vector<uint8_t>(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(offsets[1] + 30)));
    EXPECT_EQ(reader.read_available(sink, false), 10u);  // block 0; block 1 is still incomplete
    EXPECT_TRUE(reader.summary().warnings.empty());
    EXPECT_FALSE(reader.finished());

    write_bytes(path, whole);
    EXPECT_EQ(reader.read_available(sink, false), 21u);
    EXPECT_TRUE(reader.finished());
    EXPECT_EQ(reader.summary().stop, StopReason::TraceEnd);
}

}  // namespace
}  // namespace routeheap::testing
