// Session folder creation and session.json writing for `routeheap record`.
#include "session_folder.h"

#include <routeheap/analysis/session.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

namespace routeheap::cli {

namespace fs = std::filesystem;

namespace {

// create_default_session_folder tries NAME, NAME-2, ... up to this suffix.
constexpr int kMaxDefaultNameSuffix = 1000;

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

}  // namespace routeheap::cli
