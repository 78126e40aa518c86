// `routeheap record` with the real agent around a small node server that sends itself
// one request: the live line, the session folder and the JSON report must agree.
#include "trace_builder.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

namespace routeheap::testing {
namespace {

// Serves GET /big with a 4 MiB JSON body built in memory after a short delay, requests
// it once over 127.0.0.1, then closes the server so node exits.
constexpr const char* kServerScript = R"JS(
const http = require('node:http');
const server = http.createServer((req, res) => {
  setTimeout(() => {
    const body = JSON.stringify({ rows: 'x'.repeat(4 * 1024 * 1024) });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }, 50);
});
server.listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/big?x=1' }, (res) => {
    let received = 0;
    res.on('data', (chunk) => { received += chunk.length; });
    res.on('end', () => { console.log('received ' + received); server.close(); });
  });
});
)JS";

std::string run_capture(const std::string& command, int& exit_code) {
    std::string output;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return output;
    std::array<char, 4096> buffer{};
    size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), got);
    const int status = ::pclose(pipe);
    exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return output;
}

TEST(RecordWithAgent, NodeServerRoundTrip) {
    const auto folder = fresh_folder("record-agent");
    const auto script = folder / "server.js";
    std::ofstream(script) << kServerScript;
    const auto session = folder / "session";

    int exit_code = -1;
    const std::string output = run_capture("ROUTEHEAP_AGENT=" + std::string(ROUTEHEAP_AGENT_PATH) + " " +
                                               ROUTEHEAP_BIN + " record --output " + session.string() + " -- " +
                                               NODE_BIN + " " + script.string(),
                                           exit_code);
    ASSERT_EQ(exit_code, 0) << output;
    const uint64_t body_bytes = 4 * 1024 * 1024 + 11;  // {"rows":"..."}
    EXPECT_NE(output.find("received " + std::to_string(body_bytes)), std::string::npos) << output;
    EXPECT_NE(output.find("GET /big 200  in 0 B  out 4.0 MiB  peak +"), std::string::npos) << output;
    EXPECT_NE(output.find("session: " + session.string() + "  (1 process, 1 request)"), std::string::npos) << output;

    const std::string report_path = (folder / "report.json").string();
    run_capture(std::string(ROUTEHEAP_BIN) + " report " + session.string() + " --format json --output " + report_path,
                exit_code);
    ASSERT_EQ(exit_code, 0);
    std::ifstream in(report_path);
    const auto report = nlohmann::json::parse(in);
    ASSERT_EQ(report["requests"].size(), 1u);
    const auto& request = report["requests"][0];
    EXPECT_EQ(request["method"], "GET");
    EXPECT_EQ(request["path"], "/big");
    EXPECT_EQ(request["status"], 200);
    EXPECT_EQ(request["response_bytes"], body_bytes);
    EXPECT_EQ(request["outcome"], "complete");
    EXPECT_GE(request["first_response_byte_ns"].get<uint64_t>(), request["start_ns"].get<uint64_t>() + 50'000'000);
    EXPECT_GT(request["peak_growth_bytes"]["heap"].get<int64_t>(), 0);
    ASSERT_EQ(report["session"]["processes"].size(), 1u);
    EXPECT_EQ(report["session"]["processes"][0]["complete"], true) << report["warnings"].dump();
}

}  // namespace
}  // namespace routeheap::testing
