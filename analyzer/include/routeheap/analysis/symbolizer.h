// Offline symbolization of return addresses: ELF symbols and DWARF file:line through
// elfutils libdwfl for native frames, V8 perf maps for JS and builtin frames.
#pragma once

#include <routeheap/analysis/sites.h>
#include <routeheap/analysis/stacks.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace routeheap::analysis {

// A V8 perf map (/tmp/perf-<pid>.map copied into the session folder): one
// "START SIZE NAME" line per code object, hexadecimal without 0x. V8 reuses code
// addresses, so for an address the last line that covers it wins.
class PerfMap {
public:
    // Reads `path`; lines that do not parse are counted and skipped, so a map cut off
    // mid-line still yields every whole entry. Throws std::runtime_error when the file
    // cannot be opened.
    static PerfMap read(const std::filesystem::path& path);

    // Adds one entry; it overrides earlier entries where they overlap.
    void add(uint64_t start, uint64_t size, std::string name);

    // The name of the code covering `address`, or nullptr.
    const std::string* find(uint64_t address) const;

    size_t entries() const { return entries_; }
    size_t malformed_lines() const { return malformed_lines_; }

private:
    struct Range {
        uint64_t end = 0;
        size_t name = 0;  // index into names_
    };
    std::map<uint64_t, Range> ranges_;  // disjoint, by start
    std::vector<std::string> names_;
    size_t entries_ = 0;
    size_t malformed_lines_ = 0;
};

// The demangled form of a C++ symbol, or the symbol itself when it is not mangled.
std::string demangle(std::string_view symbol);

// A demangled name without its parameter list, qualifiers and clone suffix:
// "node::StreamBase::Writev(v8::FunctionCallbackInfo<v8::Value> const&)" ->
// "node::StreamBase::Writev".
std::string function_name(std::string_view demangled);

// A V8 builtin name in JavaScript terms where the mapping is plain: "JsonStringify" ->
// "JSON.stringify", "ArrayPrototypePush" -> "Array.prototype.push"; others unchanged.
std::string builtin_display_name(std::string_view builtin);

// A frame for a perf map name such as "JS:*handler /srv/app/server.js:41:20" or
// "Builtin:JsonStringify". JS file paths are made relative to `working_folder` when
// they lie inside it (an empty folder leaves them as they are).
Frame perf_map_frame(std::string_view name, const std::filesystem::path& working_folder);

struct SymbolizerCounts {
    uint64_t frames = 0;             // distinct addresses symbolized
    uint64_t unknown_frames = 0;     // shown as [jit 0x...] or module+0xoffset
    std::vector<std::string> unreadable_modules;  // each with the reason, once
};

// Symbolizes addresses, with one libdwfl session and one address cache per module file.
// Not thread-safe.
class Symbolizer {
public:
    explicit Symbolizer(std::filesystem::path working_folder = {});
    ~Symbolizer();
    Symbolizer(const Symbolizer&) = delete;
    Symbolizer& operator=(const Symbolizer&) = delete;

    // Symbolizes a return address (looked up at address - 1 so a call at the end of a
    // function is not attributed to the next one): the perf map first, then the module
    // covering it, else "[jit 0x...]".
    Frame symbolize(uint64_t return_address, const LoadedModule* module, const PerfMap* perf_map);

    const SymbolizerCounts& counts() const { return counts_; }

private:
    class ElfFile;
    ElfFile& elf_file(const LoadedModule& module);
    Frame native_frame(uint64_t return_address, const LoadedModule& module);

    std::filesystem::path working_folder_;
    std::map<std::string, std::unique_ptr<ElfFile>> files_;  // by path and build-id
    SymbolizerCounts counts_;
};

}  // namespace routeheap::analysis
