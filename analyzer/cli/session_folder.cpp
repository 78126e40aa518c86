// Session folder creation, session.json writing and perf map copies for `routeheap record`
// and `routeheap gate`.
#include "session_folder.h"

#include <routeheap/analysis/session.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>

namespace routeheap::cli {

namespace fs = std::filesystem;

namespace {

// create_default_session_folder tries NAME, NAME-2, ... up to this suffix.
constexpr int kMaxDefaultNameSuffix = 1000;
// Slack when comparing a file's modification time with a trace's start time: file times
// use a clock that lags CLOCK_REALTIME by at most one scheduler tick (10 ms at HZ=100).
constexpr uint64_t kFileTimeToleranceNs = 20'000'000;

std::tm now_parts(bool utc) {
    const std::time_t now = std::time(nullptr);
    std::tm parts{};
    if (utc) {
        gmtime_r(&now, &parts);
    } else {
        localtime_r(&now, &parts);
    }
    return parts;
}

// Copies /tmp/perf-PID.map into the session with mode 0600, like the traces, when this
// user wrote it at or after `not_before_ns` (CLOCK_REALTIME). An older map belongs to an
// earlier process that had the same pid. Returns an error message, or "" on success or
// when there is nothing to copy.
std::string copy_perf_map(const fs::path& source, const fs::path& target, uint64_t not_before_ns) {
    const int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) return errno == ENOENT ? "" : "cannot open " + source.string() + ": " + std::strerror(errno);
    struct stat info {};
    const bool usable = ::fstat(in, &info) == 0 && S_ISREG(info.st_mode) && info.st_uid == ::getuid();
    const uint64_t modified_ns = uint64_t(info.st_mtim.tv_sec) * 1'000'000'000 + uint64_t(info.st_mtim.tv_nsec);
    // File times come from the kernel's coarse clock, up to one tick behind CLOCK_REALTIME.
    if (!usable || modified_ns + kFileTimeToleranceNs < not_before_ns) {
        ::close(in);
        return "";
    }

    std::string error;
    const int out = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) error = "cannot create " + target.string() + ": " + std::strerror(errno);
    char buffer[64 * 1024];
    while (error.empty()) {
        const ssize_t got = ::read(in, buffer, sizeof(buffer));
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            error = "cannot read " + source.string() + ": " + std::strerror(errno);
            break;
        }
        for (ssize_t done = 0; done < got && error.empty();) {
            const ssize_t put = ::write(out, buffer + done, size_t(got - done));
            if (put < 0 && errno == EINTR) continue;
            if (put < 0) error = "cannot write " + target.string() + ": " + std::strerror(errno);
            done += put > 0 ? put : 0;
        }
    }
    ::close(in);
    if (out >= 0) ::close(out);
    return error;
}

}  // namespace

std::string default_session_name() {
    const std::tm parts = now_parts(false);
    char buffer[64];
    std::strftime(buffer, sizeof(buffer), "routeheap-%Y%m%d-%H%M%S", &parts);
    return buffer;
}

std::string utc_timestamp() {
    const std::tm parts = now_parts(true);
    char buffer[64];
    std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &parts);
    return buffer;
}

fs::path prepare_session_folder(const fs::path& folder) {
    std::error_code error;
    const fs::path absolute = fs::absolute(folder, error).lexically_normal();
    if (error) throw SessionFolderError("invalid output folder '" + folder.string() + "': " + error.message());

    if (fs::exists(absolute, error)) {
        if (!fs::is_directory(absolute, error)) {
            throw SessionFolderError("the output path '" + absolute.string() +
                                     "' exists and is not a folder; choose another --output");
        }
        if (!fs::is_empty(absolute, error)) {
            throw SessionFolderError("the output folder '" + absolute.string() +
                                     "' exists and is not empty; choose another --output or remove it");
        }
        // The traces may hold command lines and paths: the folder is private like them.
        if (::chmod(absolute.c_str(), 0700) != 0) {
            throw SessionFolderError("cannot set mode 0700 on the output folder '" + absolute.string() +
                                     "': " + std::strerror(errno) + "; choose another --output");
        }
        return absolute;
    }
    if (::mkdir(absolute.c_str(), 0700) != 0) {
        throw SessionFolderError("cannot create the output folder '" + absolute.string() + "': " + std::strerror(errno));
    }
    // mkdir applies the umask, which may only remove bits; state the mode explicitly.
    ::chmod(absolute.c_str(), 0700);
    return absolute;
}

fs::path create_default_session_folder() {
    const std::string base = default_session_name();
    std::error_code error;
    const fs::path folder = fs::current_path(error);
    if (error) throw SessionFolderError("cannot read the current folder: " + error.message());

    for (int suffix = 1; suffix <= kMaxDefaultNameSuffix; ++suffix) {
        const fs::path candidate = folder / (suffix == 1 ? base : base + "-" + std::to_string(suffix));
        // mkdir is the exclusive test: another record started in the same second gets EEXIST.
        if (::mkdir(candidate.c_str(), 0700) == 0) {
            ::chmod(candidate.c_str(), 0700);
            return candidate;
        }
        if (errno != EEXIST) {
            throw SessionFolderError("cannot create the session folder '" + candidate.string() +
                                     "': " + std::strerror(errno) + "; choose a folder with --output");
        }
    }
    throw SessionFolderError("the folders " + base + " to " + base + "-" + std::to_string(kMaxDefaultNameSuffix) +
                             " all exist in " + folder.string() + "; choose a folder with --output");
}

void write_session_metadata(const fs::path& folder, const nlohmann::json& metadata) {
    const fs::path target = folder / analysis::kSessionMetadataFile;
    const fs::path temporary = folder / (std::string(analysis::kSessionMetadataFile) + ".tmp");
    {
        // The command line may carry secrets, so the file is private like the traces.
        const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
        std::ofstream out(temporary, std::ios::trunc);
        // Command arguments and folder names need not be UTF-8: replace invalid bytes.
        out << metadata.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        if (!out) throw SessionFolderError("cannot write " + temporary.string() + ": " + std::strerror(errno));
    }
    std::error_code error;
    fs::rename(temporary, target, error);
    if (error) throw SessionFolderError("cannot write " + target.string() + ": " + error.message());
}

void copy_perf_maps(const std::map<uint32_t, uint64_t>& process_starts, const fs::path& session,
                    const std::string& subcommand) {
    for (const auto& [pid, start_ns] : process_starts) {
        const std::string name = "perf-" + std::to_string(pid) + ".map";
        const std::string error = copy_perf_map(fs::path("/tmp") / name, session / name, start_ns);
        if (!error.empty()) std::cerr << subcommand << ": warning: " << error << std::endl;
    }
}


}  // namespace routeheap::cli
