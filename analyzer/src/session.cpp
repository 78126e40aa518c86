// Session discovery: trace files, session.json and perf maps in a recording folder.
#include <routeheap/analysis/session.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <tuple>

namespace routeheap::analysis {

namespace {

namespace fs = std::filesystem;

// Sort key from "<pid>.rhtrace" or "<pid>.<N>.rhtrace"; other names sort after them.
std::tuple<bool, uint64_t, uint64_t, std::string> trace_order(const fs::path& path) {
    const std::string stem = path.stem().string();
    uint64_t pid = 0;
    uint64_t image = 0;
    const char* begin = stem.data();
    const char* end = stem.data() + stem.size();
    auto [after_pid, error] = std::from_chars(begin, end, pid);
    bool named_by_pid = error == std::errc() && after_pid != begin;
    if (named_by_pid && after_pid != end) {
        auto [after_image, image_error] = std::from_chars(after_pid + 1, end, image);
        named_by_pid = *after_pid == '.' && image_error == std::errc() && after_image == end;
    }
    return {!named_by_pid, pid, image, stem};
}

std::optional<nlohmann::json> read_metadata(const fs::path& folder, std::vector<std::string>& warnings) {
    const fs::path file = folder / kSessionMetadataFile;
    std::error_code error;
    if (!fs::exists(file, error)) return std::nullopt;
    std::ifstream in(file);
    auto parsed = nlohmann::json::parse(in, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        warnings.push_back(file.string() + ": not valid JSON, session metadata ignored");
        return std::nullopt;
    }
    return parsed;
}

}  // namespace

std::vector<fs::path> find_traces(const fs::path& folder) {
    std::vector<fs::path> traces;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(folder, error)) {
        if (entry.path().extension() == kTraceExtension && entry.is_regular_file(error)) traces.push_back(entry.path());
    }
    std::sort(traces.begin(), traces.end(),
              [](const fs::path& a, const fs::path& b) { return trace_order(a) < trace_order(b); });
    return traces;
}

Session open_session(const fs::path& path) {
    std::error_code error;
    const fs::file_status status = fs::status(path, error);
    if (!fs::exists(status)) {
        throw SessionError(path.string() + ": no such file or folder; give a session folder written by "
                           "`routeheap record` or a .rhtrace file");
    }

    Session session;
    session.path = path;
    if (!fs::is_directory(status)) {
        session.traces.push_back(path);
        return session;
    }

    session.traces = find_traces(path);
    if (session.traces.empty()) {
        throw SessionError(path.string() + ": the folder holds no .rhtrace files; expected the output of "
                           "`routeheap record`");
    }
    session.metadata = read_metadata(path, session.warnings);
    for (const auto& entry : fs::directory_iterator(path, error)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("perf-") && name.ends_with(".map")) session.perf_maps.push_back(entry.path());
    }
    std::sort(session.perf_maps.begin(), session.perf_maps.end());
    return session;
}

}  // namespace routeheap::analysis
