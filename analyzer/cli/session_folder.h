// The session folder that `routeheap record` creates, and its session.json.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

namespace routeheap::cli {

class SessionFolderError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// "routeheap-YYYYMMDD-HHMMSS" in local time.
std::string default_session_name();

// Creates `folder` with mode 0700, or accepts it when it exists, is a folder and is
// empty, and sets its mode to 0700. Returns its absolute path; throws
// SessionFolderError otherwise.
std::filesystem::path prepare_session_folder(const std::filesystem::path& folder);

// Creates default_session_name() in the current folder, or NAME-2, NAME-3, ... when
// that exists, and returns its absolute path. Throws SessionFolderError.
std::filesystem::path create_default_session_folder();

// Writes session.json atomically (a temporary file renamed over it).
void write_session_metadata(const std::filesystem::path& folder, const nlohmann::json& metadata);

// The current time as ISO 8601 UTC, e.g. "2024-12-04T19:35:12Z".
std::string utc_timestamp();

// Copies /tmp/perf-PID.map of each traced process into `session` with mode 0600, skipping
// maps older than the process (keys: pid, values: its start as CLOCK_REALTIME ns). A map
// that cannot be copied gets a warning on stderr, prefixed with `subcommand`.
void copy_perf_maps(const std::map<uint32_t, uint64_t>& process_starts, const std::filesystem::path& session,
                    const std::string& subcommand);

}  // namespace routeheap::cli
