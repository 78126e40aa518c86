// Agent lookup relative to /proc/self/exe, so a build tree works without installing.
#include "agent_locator.h"

#include <cstdlib>
#include <string>
#include <vector>

namespace routeheap::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kAgentName = "librouteheap.so";

std::vector<fs::path> candidate_paths() {
    std::error_code error;
    const fs::path exe = fs::read_symlink("/proc/self/exe", error);
    if (error) return {};
    const fs::path bindir = exe.parent_path();
    // The build tree puts the agent in <build>/lib beside <build>/bin; an install puts
    // it in <prefix>/<libdir> beside <prefix>/bin.
    std::vector<fs::path> candidates{bindir / ".." / "lib" / kAgentName};
    const fs::path installed = bindir / ".." / ROUTEHEAP_INSTALL_LIBDIR / kAgentName;
    if (installed != candidates.front()) candidates.push_back(installed);
    return candidates;
}

}  // namespace

void check_preload_path(const fs::path& path) {
    const std::string text = path.string();
    if (text.find_first_of(" :") != std::string::npos) {
        throw AgentNotFound("the agent path '" + text +
                            "' contains a space or colon, which LD_PRELOAD treats as a separator; "
                            "install routeheap under a path without them");
    }
}

fs::path locate_agent() {
    std::error_code error;
    if (const char* override_path = std::getenv("ROUTEHEAP_AGENT"); override_path != nullptr && *override_path != 0) {
        const fs::path agent = fs::absolute(override_path, error);
        if (!fs::is_regular_file(agent, error)) {
            throw AgentNotFound(std::string("ROUTEHEAP_AGENT is set to '") + override_path +
                                "', which is not a file; point it at librouteheap.so or unset it");
        }
        check_preload_path(agent);
        return agent;
    }

    std::string searched;
    for (const fs::path& candidate : candidate_paths()) {
        const fs::path agent = fs::weakly_canonical(candidate, error);
        if (fs::is_regular_file(agent, error)) {
            check_preload_path(agent);
            return agent;
        }
        searched += (searched.empty() ? "" : ", ") + candidate.lexically_normal().string();
    }
    throw AgentNotFound("the agent " + std::string(kAgentName) + " was not found (searched: " + searched +
                        "); build the routeheap_agent target or set ROUTEHEAP_AGENT to its path");
}

}  // namespace routeheap::cli
