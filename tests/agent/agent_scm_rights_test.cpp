// The recvmsg hook: a connected TCP socket received with SCM_RIGHTS is framed like an
// accepted one, other received descriptors are not, and the call's result and errno
// are unchanged.
#include "trace_file.h"

#include <gtest/gtest.h>

namespace routeheap::testing {
namespace {

TEST(AgentHooks, ReceivedSocketIsFramed) {
    TempDir dir;
    const RunResult run = run_program({ROUTEHEAP_SCM_RIGHTS_SERVER}, agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0) << "the program failed at step " << run.exit_status << ": " << run.err;

    // The receiving process is the one whose trace is not a forked child's.
    const TraceFile* receiver = nullptr;
    std::vector<TraceFile> files;
    for (const std::string& path : dir.traces()) files.push_back(read_trace(path));
    for (const TraceFile& file : files) {
        if ((file.header.flags & trace::kFileForkedChild) == 0) receiver = &file;
    }
    ASSERT_NE(receiver, nullptr) << "no trace of the receiving process";

    const std::vector<TraceRecord> opens = receiver->of_type(trace::RecordType::ConnectionOpen);
    ASSERT_EQ(opens.size(), 1u) << "only the connected TCP socket is framed, not the pipe or the listener";
    EXPECT_EQ(opens.front().as<trace::ConnectionOpen>().listen_fd, -1);

    const std::vector<TraceRecord> heads = receiver->of_type(trace::RecordType::RequestHead);
    ASSERT_EQ(heads.size(), 1u);
    const auto head = heads.front().as<trace::RequestHead>();
    EXPECT_EQ(heads.front().tail(sizeof(trace::RequestHead)), "GET/scm");
    EXPECT_EQ(head.connection_id, opens.front().as<trace::ConnectionOpen>().connection_id);

    const std::vector<TraceRecord> ends = receiver->of_type(trace::RecordType::RequestEnd);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends.front().as<trace::RequestEnd>().status, 200);
    EXPECT_EQ(ends.front().as<trace::RequestEnd>().response_body_bytes, 2u);
}

}  // namespace
}  // namespace routeheap::testing
