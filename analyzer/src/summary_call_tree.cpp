// Call trees of sampled allocations and the per-session store of allocation stacks
// that builds them for requests, routes and time ranges.
#include <routeheap/analysis/call_tree.h>

#include <algorithm>
#include <map>
#include <unordered_map>

namespace routeheap::analysis {

namespace {

constexpr const char* kRootLabel = "(all allocations)";
constexpr const char* kNoFramesLabel = "(no frames)";

void add_weight(CallTreeNode& node, const StackWeight& stack) {
    node.peak_bytes += stack.peak_bytes;
    node.allocated_bytes += stack.allocated_bytes;
    node.allocations += stack.allocations;
}

}  // namespace

CallTree CallTree::build(const std::vector<StackWeight>& stacks, CallTreeOrder order) {
    CallTree tree;
    tree.nodes_.push_back(CallTreeNode{kRootLabel, 0, 0, 0, 0, {}});
    std::map<std::pair<size_t, std::string>, size_t> child_of;

    for (const StackWeight& stack : stacks) {
        add_weight(tree.nodes_[0], stack);
        std::vector<std::string> labels;
        for (const Frame& frame : stack.frames) labels.push_back(frame.label());
        if (labels.empty()) labels.emplace_back(kNoFramesLabel);
        // Frames are innermost first, so top-down walks them backwards.
        if (order == CallTreeOrder::TopDown) std::reverse(labels.begin(), labels.end());

        size_t node = 0;
        for (std::string& label : labels) {
            const auto [found, inserted] = child_of.try_emplace({node, label}, tree.nodes_.size());
            if (inserted) {
                tree.nodes_.push_back(CallTreeNode{std::move(label), 0, 0, 0, node, {}});
                tree.nodes_[node].children.push_back(found->second);
            }
            node = found->second;
            add_weight(tree.nodes_[node], stack);
        }
    }

    for (CallTreeNode& node : tree.nodes_) {
        std::stable_sort(node.children.begin(), node.children.end(), [&](size_t a, size_t b) {
            const CallTreeNode& left = tree.nodes_[a];
            const CallTreeNode& right = tree.nodes_[b];
            if (left.peak_bytes != right.peak_bytes) return left.peak_bytes > right.peak_bytes;
            return left.allocated_bytes > right.allocated_bytes;
        });
    }
    return tree;
}

// One process image's finished allocation model and what symbolizes it.
struct SessionAllocations::Process {
    ProcessId pid;
    uint32_t image = 0;
    std::unique_ptr<StackModel> model;
    std::optional<PerfMap> perf_map;
    std::unique_ptr<SiteBuilder> sites;
    std::vector<ProcessCollector::Allocated> allocated;  // by time
};

SessionAllocations::SessionAllocations() : symbolizer_(std::make_unique<Symbolizer>()) {}
SessionAllocations::~SessionAllocations() = default;

void SessionAllocations::set_working_folder(const std::filesystem::path& folder) {
    symbolizer_ = std::make_unique<Symbolizer>(folder);
}

void SessionAllocations::ProcessCollector::on_event(const TraceEvent& event) {
    // The StackModel would keep every allocation and free for peak replays; the analysis
    // already has each request's peak, so only the stacks and modules go to it.
    if (const auto* allocation = std::get_if<trace::Allocation>(&event)) {
        allocated_.push_back({allocation->time_ns, allocation->stack_id, allocation->size, allocation->flags});
        return;
    }
    if (std::holds_alternative<trace::Free>(event)) return;
    model_->on_event(event);
}

SessionAllocations::ProcessCollector& SessionAllocations::begin_process(ProcessId pid, uint32_t image,
                                                                        const std::filesystem::path& trace) {
    auto collector = std::make_unique<ProcessCollector>();
    collector->pid_ = pid;
    collector->image_ = image;
    collector->trace_ = trace;
    collectors_.push_back(std::move(collector));
    return *collectors_.back();
}

void SessionAllocations::finish_process(ProcessCollector& collector) {
    auto process = std::make_unique<Process>();
    process->pid = collector.pid_;
    process->image = collector.image_;
    process->model = std::move(collector.model_);
    process->model->finish();
    process->allocated = std::move(collector.allocated_);
    std::stable_sort(process->allocated.begin(), process->allocated.end(),
                     [](const auto& a, const auto& b) { return a.time_ns < b.time_ns; });

    // `record` copies each process's perf map beside its trace; without it JS frames
    // stay addresses, as in the report.
    const auto perf_path = collector.trace_.parent_path() / ("perf-" + std::to_string(process->pid.value) + ".map");
    std::error_code error;
    if (std::filesystem::is_regular_file(perf_path, error)) {
        try {
            process->perf_map = PerfMap::read(perf_path);
        } catch (const std::runtime_error&) {
            process->perf_map.reset();
        }
    }
    process->sites = std::make_unique<SiteBuilder>(*process->model, *symbolizer_,
                                                   process->perf_map ? &*process->perf_map : nullptr);
    processes_.push_back(std::move(process));
    std::erase_if(collectors_, [&](const auto& owned) { return owned.get() == &collector; });
}

bool SessionAllocations::recorded() const {
    return std::any_of(processes_.begin(), processes_.end(),
                       [](const auto& process) { return !process->allocated.empty(); });
}

std::vector<StackWeight> peak_weights(const std::vector<AllocationSite>& sites) {
    std::vector<StackWeight> weights;
    for (const AllocationSite& site : sites) {
        StackWeight weight;
        weight.frames = site.frames;
        weight.peak_bytes = static_cast<double>(site.bytes);
        weights.push_back(std::move(weight));
    }
    return weights;
}

SessionAllocations::Process* SessionAllocations::find(ProcessId pid, uint32_t image) {
    for (auto& process : processes_) {
        if (process->pid == pid && process->image == image) return process.get();
    }
    return nullptr;
}

std::vector<StackWeight> SessionAllocations::allocated_in(const std::vector<ProcessWindow>& windows) {
    std::vector<StackWeight> result;
    for (const ProcessWindow& window : windows) {
        Process* process = find(window.pid, window.image);
        if (process == nullptr || process->allocated.empty()) continue;

        // Allocated bytes per stack, with the time of the stack's first allocation in the
        // window so its frames are symbolized against the modules loaded then.
        struct Sum {
            double bytes = 0;
            double count = 0;
            uint64_t time_ns = 0;
        };
        std::unordered_map<uint64_t, Sum> sums;
        auto it = std::lower_bound(process->allocated.begin(), process->allocated.end(), window.start_ns,
                                   [](const auto& allocation, uint64_t time) { return allocation.time_ns < time; });
        const SamplingParameters& sampling = process->model->sampling();
        for (; it != process->allocated.end() && it->time_ns <= window.end_ns; ++it) {
            const double scale = sampling.scale(it->size, it->flags);
            Sum& sum = sums[it->stack];
            if (sum.count == 0) sum.time_ns = it->time_ns;
            sum.bytes += static_cast<double>(it->size) * scale;
            sum.count += scale;
        }
        for (const auto& [stack, sum] : sums) {
            StackWeight weight;
            weight.frames = process->sites->user_frames(StackId{stack}, sum.time_ns);
            weight.allocated_bytes = sum.bytes;
            weight.allocations = sum.count;
            result.push_back(std::move(weight));
        }
    }
    return result;
}

}  // namespace routeheap::analysis
