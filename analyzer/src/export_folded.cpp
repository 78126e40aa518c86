// Collapsed-stack export of the allocation sites held at each request's peak.
#include <routeheap/analysis/export.h>

#include <map>

namespace routeheap::analysis {

namespace {

// Folded lines separate frames with ';' and end with a space and a count, so neither
// may appear raw inside a frame. Spaces inside a frame are allowed by every reader.
std::string folded_frame(const Frame& frame) {
    std::string label = frame.label();
    for (char& c : label) {
        if (c == ';') c = ':';
        if (c == '\n' || c == '\r') c = ' ';
    }
    return label;
}

}  // namespace

std::vector<const Request*> select_requests(const SessionAnalysis& analysis, const RequestSelection& selection) {
    std::vector<const Request*> selected;
    for (const Request& request : analysis.requests) {
        if (!selection.request_id.empty() && request.id.to_string() != selection.request_id) continue;
        if (!selection.route.empty() && selection.route != request.route &&
            selection.route != request.method + " " + request.route) {
            continue;
        }
        selected.push_back(&request);
    }
    return selected;
}

std::string render_folded(const std::vector<const Request*>& requests) {
    std::map<std::string, int64_t> bytes_by_stack;
    for (const Request* request : requests) {
        for (const AllocationSite& site : request->allocations.sites) {
            if (site.bytes <= 0) continue;
            std::string stack;
            for (auto frame = site.frames.rbegin(); frame != site.frames.rend(); ++frame) {
                if (!stack.empty()) stack += ';';
                stack += folded_frame(*frame);
            }
            bytes_by_stack[stack.empty() ? "[no frames]" : stack] += site.bytes;
        }
    }

    std::string text;
    for (const auto& [stack, bytes] : bytes_by_stack) text += stack + " " + std::to_string(bytes) + "\n";
    return text;
}

}  // namespace routeheap::analysis
