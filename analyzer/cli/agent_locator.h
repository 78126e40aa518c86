// Finds librouteheap.so for `routeheap record`: ROUTEHEAP_AGENT, else next to the
// routeheap executable in the build tree or the install tree.
#pragma once

#include <filesystem>
#include <stdexcept>

namespace routeheap::cli {

class AgentNotFound : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Returns the absolute agent path. Throws AgentNotFound naming the places searched,
// or when the path contains a space or colon (LD_PRELOAD splits on both).
std::filesystem::path locate_agent();

// Throws AgentNotFound when `path` cannot go into LD_PRELOAD unchanged.
void check_preload_path(const std::filesystem::path& path);

}  // namespace routeheap::cli
