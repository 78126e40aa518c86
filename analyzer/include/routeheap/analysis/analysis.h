// Analysis of a whole session: every process's requests with their findings, the
// per-route summary and the warnings a report prints. The reports render this.
#pragma once

#include <routeheap/analysis/model.h>
#include <routeheap/analysis/reader.h>
#include <routeheap/analysis/routes.h>
#include <routeheap/analysis/session.h>
#include <routeheap/analysis/stacks.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace routeheap::analysis {

// The end of a traced process image, as far as its trace and session.json show it.
enum class ProcessEnd {
    Exit,     // a ProcessExit record: exit() or a return from main
    Exec,     // the last record is a successful exec; the process continues in the next image
    Signal,   // no ProcessExit, but session.json names the signal that ended the command
    Unknown,  // no ProcessExit: killed, or still running when the trace was read
};

struct ProcessReport {
    ProcessId pid;
    uint32_t image = 0;
    std::string exe;
    std::filesystem::path trace;
    uint64_t start_monotonic_ns = 0;
    bool complete = false;  // ended by TraceEnd with no damaged block
    bool exited = false;
    int32_t exit_status = 0;  // -1: the agent saw the exit but not its status (return from main)
    ProcessEnd end = ProcessEnd::Unknown;
    std::string end_signal;  // "SIGINT" when `end` is Signal
    uint32_t requests = 0;
    uint64_t sampled_allocations = 0;  // Allocation records with a stack
    std::optional<SamplingParameters> sampling;  // from the trace's SamplingConfig
    std::filesystem::path perf_map;    // empty when the process left none
    ReadSummary read;
    std::vector<std::string> warnings;
};

struct SessionAnalysis {
    std::filesystem::path path;
    std::optional<nlohmann::json> metadata;
    // CLOCK_MONOTONIC time when the earliest trace was opened; reports give request
    // times relative to it so they compare across processes.
    uint64_t origin_ns = 0;
    std::vector<ProcessReport> processes;
    std::vector<Request> requests;  // by start time
    std::vector<RouteSummary> routes;
    std::vector<std::string> warnings;  // session-wide, including each process's
};

// Reads every trace of the session and analyses it. A trace whose header cannot be
// read becomes a warning; throws TraceError when no trace at all can be read.
SessionAnalysis analyze_session(const Session& session);

// Finishes the analysis of requests already taken from process models: runs the
// detectors and groups routes. Used by analyze_session and by tests.
void finish_analysis(SessionAnalysis& analysis);

}  // namespace routeheap::analysis
