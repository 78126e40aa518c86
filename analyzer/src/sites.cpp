// Allocation sites: frame labels, allocator frame removal, and the merge of the stacks
// live at a request's peak into sites.
#include <routeheap/analysis/site_builder.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string_view>

namespace routeheap::analysis {

namespace {

std::string hex(uint64_t value) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "0x%llx", static_cast<unsigned long long>(value));
    return buffer;
}

// Functions that only obtain memory for their caller. Matched against the demangled
// name without parameters.
constexpr std::string_view kAllocatorFunctions[] = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc", "memalign",
    "valloc", "pvalloc", "operator new", "operator new[]", "__libc_malloc", "__libc_calloc", "__libc_realloc",
    "__libc_memalign", "mmap", "mmap64", "__mmap", "mprotect", "__mprotect", "strdup", "strndup",
};

// Name prefixes of allocator wrappers in libstdc++, Node and V8.
constexpr std::string_view kAllocatorPrefixes[] = {
    "std::allocator", "std::__new_allocator", "__gnu_cxx::new_allocator", "std::allocator_traits",
    "std::_Vector_base", "std::__cxx11::basic_string<", "node::UncheckedMalloc", "node::UncheckedCalloc",
    "node::UncheckedRealloc", "node::Malloc", "node::Calloc", "node::Realloc",
    "node::NodeArrayBufferAllocator::", "node::DebuggingArrayBufferAllocator::",
    "v8::internal::AlignedAllocWithRetry", "v8::internal::AllocWithRetry", "v8::internal::Malloced::operator new",
    "v8::base::OS::Allocate", "v8::base::OS::SetPermissions", "v8::base::PageAllocator::",
    "v8::internal::AllocatePages", "v8::internal::SetPermissions", "v8::internal::AllocAtLeastWithRetry",
    "v8::internal::AccountingAllocator::AllocateSegment", "v8::internal::Heap::AllocateExternalBackingStore",
    "v8::internal::BackingStore::Allocate", "v8::ArrayBuffer::NewBackingStore",
    // V8's page allocator, under every commit of a heap page: the site starts at the space
    // that grew (NewLargeObjectSpace::AllocateRaw, SemiSpace::GrowTo, ...).
    "v8::internal::MemoryAllocator::",
};

bool is_agent_module(const std::string& path) {
    const size_t slash = path.rfind('/');
    const std::string_view name = slash == std::string::npos ? std::string_view(path) : std::string_view(path).substr(slash + 1);
    return name.starts_with("librouteheap");
}

std::string site_key(const std::vector<Frame>& frames) {
    std::string key;
    for (const Frame& frame : frames) {
        key += frame.label();
        key += '\n';
    }
    return key;
}

}  // namespace

const char* frame_kind_name(FrameKind kind) {
    switch (kind) {
        case FrameKind::Js: return "js";
        case FrameKind::Builtin: return "builtin";
        case FrameKind::Native: return "native";
        case FrameKind::Jit: return "jit";
    }
    return "unknown";
}

std::string Frame::label() const {
    if (function.empty()) {
        if (location.empty()) return "[jit " + hex(address) + "]";
        // A module without a symbol at the address: "[libfoo.so+0x1a2b]".
        return symbolized ? location : "[" + location + "]";
    }
    if (location.empty() || kind == FrameKind::Builtin) return function;
    return function + " " + location;
}

bool is_allocator_frame(const Frame& frame) {
    if (is_agent_module(frame.module)) return true;
    if (frame.kind != FrameKind::Native || frame.function.empty()) return false;
    for (std::string_view name : kAllocatorFunctions) {
        if (frame.function == name) return true;
    }
    for (std::string_view prefix : kAllocatorPrefixes) {
        if (std::string_view(frame.function).starts_with(prefix)) return true;
    }
    return false;
}

SiteBuilder::SiteBuilder(const StackModel& model, Symbolizer& symbolizer, const PerfMap* perf_map)
    : model_(model), symbolizer_(symbolizer), perf_map_(perf_map) {}

const std::vector<Frame>& SiteBuilder::user_frames(StackId stack, uint64_t time_ns) {
    auto [it, inserted] = stacks_.try_emplace(stack.value);
    if (!inserted) return it->second;
    std::vector<Frame>& frames = it->second;

    const std::vector<uint64_t>* addresses = model_.frames(stack);
    if (addresses == nullptr) {
        Frame missing;
        missing.function = "[stack not recorded]";
        frames.push_back(missing);
        return frames;
    }
    for (uint64_t address : *addresses) {
        frames.push_back(symbolizer_.symbolize(address, model_.modules().find(address, time_ns), perf_map_));
    }

    // Only the innermost run of allocator frames goes: an allocator function deeper in
    // the stack (a callback from inside malloc) is part of the story.
    const auto first_user = std::find_if(frames.begin(), frames.end(),
                                         [](const Frame& frame) { return !is_allocator_frame(frame); });
    if (first_user != frames.end()) frames.erase(frames.begin(), first_user);
    return frames;
}

AllocationProfile SiteBuilder::profile(uint64_t start_ns, uint64_t end_ns) {
    AllocationProfile profile;
    profile.recorded = model_.allocation_count() > 0;
    const WindowPeak peak = model_.peak_in(start_ns, end_ns);
    profile.sampled = peak.sampled;
    if (peak.stacks.empty()) return profile;
    profile.peak_ns = peak.time_ns;
    profile.peak_bytes = std::llround(peak.bytes);
    profile.estimate = peak.estimate;

    // Stacks that differ only in addresses symbolize alike (the same line reached
    // through different JIT code), so sites are merged by their frames' labels.
    std::map<std::string, size_t> by_key;
    std::vector<double> bytes;
    std::vector<double> allocations;
    for (const StackBytes& stack : peak.stacks) {
        const std::vector<Frame>& frames = user_frames(stack.stack, stack.time_ns);
        auto [it, inserted] = by_key.try_emplace(site_key(frames), profile.sites.size());
        if (inserted) {
            AllocationSite site;
            site.frames = frames;
            profile.sites.push_back(std::move(site));
            bytes.push_back(0);
            allocations.push_back(0);
        }
        AllocationSite& site = profile.sites[it->second];
        bytes[it->second] += stack.bytes;
        allocations[it->second] += stack.allocations;
        site.estimate = site.estimate || stack.estimate;
    }

    for (size_t i = 0; i < profile.sites.size(); ++i) {
        AllocationSite& site = profile.sites[i];
        site.bytes = std::llround(bytes[i]);
        site.allocations = static_cast<uint64_t>(std::llround(allocations[i]));
        site.share = peak.bytes > 0 ? std::min(1.0, bytes[i] / peak.bytes) : 0.0;
    }
    std::stable_sort(profile.sites.begin(), profile.sites.end(),
                     [](const AllocationSite& a, const AllocationSite& b) { return a.bytes > b.bytes; });
    return profile;
}

}  // namespace routeheap::analysis
