// A recording session: a folder written by `routeheap record` with one trace per
// process image, an optional session.json and the perf maps; or a single trace file.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace routeheap::analysis {

class SessionError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

inline constexpr const char* kTraceExtension = ".rhtrace";
inline constexpr const char* kSessionMetadataFile = "session.json";

struct Session {
    std::filesystem::path path;  // the folder, or the trace file when given one
    std::vector<std::filesystem::path> traces;  // by pid, then exec sequence
    std::optional<nlohmann::json> metadata;     // session.json when present and valid
    std::vector<std::filesystem::path> perf_maps;  // perf-<pid>.map files (not read yet)
    std::vector<std::string> warnings;
};

// Opens a session folder or a single trace file. Throws SessionError naming the path
// when it does not exist or holds no traces.
Session open_session(const std::filesystem::path& path);

// The *.rhtrace files directly inside `folder`, ordered by pid then exec sequence.
std::vector<std::filesystem::path> find_traces(const std::filesystem::path& folder);

}  // namespace routeheap::analysis
