// Native symbolization through elfutils libdwfl (one session and SymbolIndex per module
// file, frames cached per address), demangling, and the lookup order perf map -> module -> [jit].
#include <routeheap/analysis/symbolizer.h>
#include <routeheap/analysis/symbol_index.h>

#include <cxxabi.h>
#include <elfutils/libdwfl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace routeheap::analysis {

namespace {

std::string hex(uint64_t value) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "0x%llx", static_cast<unsigned long long>(value));
    return buffer;
}

std::string base_name(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Removes the trailing "(...)" group whose parentheses balance, and anything after it.
std::string_view strip_parameters(std::string_view name) {
    const size_t close = name.rfind(')');
    if (close == std::string_view::npos) return name;
    int depth = 0;
    for (size_t i = close + 1; i-- > 0;) {
        if (name[i] == ')') ++depth;
        if (name[i] == '(' && --depth == 0) {
            // "operator()" keeps its own parentheses: only the parameter list goes.
            return i == 0 ? name : name.substr(0, i);
        }
    }
    return name;
}

// Drops the return type that demangled function templates start with:
// "void node::StreamBase::JSMethod<...>" -> "node::StreamBase::JSMethod<...>". Spaces
// inside <>, () or after "operator" are part of the name.
std::string_view strip_return_type(std::string_view name) {
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if (c == '<' || c == '(') ++depth;
        if (c == '>' || c == ')') --depth;
        if (c == ' ' && depth == 0 && !name.substr(0, i).ends_with("operator")) start = i + 1;
    }
    return name.substr(start);
}

}  // namespace

std::string demangle(std::string_view symbol) {
    const std::string text(symbol);
    int status = 0;
    char* demangled = abi::__cxa_demangle(text.c_str(), nullptr, nullptr, &status);
    if (status != 0 || demangled == nullptr) return text;
    std::string result(demangled);
    std::free(demangled);
    return result;
}

std::string function_name(std::string_view demangled) {
    if (const size_t clone = demangled.find(" [clone "); clone != std::string_view::npos) {
        demangled = demangled.substr(0, clone);
    }
    return std::string(strip_return_type(strip_parameters(demangled)));
}

// One ELF file opened through libdwfl at bias 0, so lookups take ELF virtual addresses
// (runtime address minus the module's load bias) and one session serves every process
// that loaded the file.
class Symbolizer::ElfFile {
public:
    explicit ElfFile(const LoadedModule& module) : name_(base_name(module.path)) {
        std::error_code missing;
        if (!std::filesystem::exists(module.path, missing)) {
            error_ = "the file no longer exists (deleted or moved after the process loaded it)";
            return;
        }
        static char* debuginfo_path = nullptr;
        static const Dwfl_Callbacks callbacks = {
            .find_elf = dwfl_build_id_find_elf,
            .find_debuginfo = dwfl_standard_find_debuginfo,
            .section_address = dwfl_offline_section_address,
            .debuginfo_path = &debuginfo_path,
        };
        dwfl_ = dwfl_begin(&callbacks);
        if (dwfl_ == nullptr) {
            error_ = dwfl_errmsg(-1);
            return;
        }
        dwfl_report_begin(dwfl_);
        module_ = dwfl_report_elf(dwfl_, name_.c_str(), module.path.c_str(), -1, 0, true);
        dwfl_report_end(dwfl_, nullptr, nullptr);
        if (module_ == nullptr) {
            error_ = dwfl_errmsg(-1);
            return;
        }
        check_build_id(module.build_id);
        symbols_ = std::make_unique<SymbolIndex>(module_);
    }
    ~ElfFile() {
        if (dwfl_ != nullptr) dwfl_end(dwfl_);
    }
    ElfFile(const ElfFile&) = delete;
    ElfFile& operator=(const ElfFile&) = delete;

    bool readable() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    const std::string& name() const { return name_; }

    // The function and file:line at an ELF virtual address; a frame without a function
    // when the file has no symbol there (stripped or a gap between symbols).
    const Frame& lookup(uint64_t vaddr) {
        auto [it, inserted] = cache_.try_emplace(vaddr);
        if (!inserted) return it->second;
        Frame& frame = it->second;
        frame.kind = FrameKind::Native;

        const char* name = symbols_->find(vaddr);
        if (name != nullptr && name[0] != '\0') {
            frame.symbolized = true;
            if (std::strncmp(name, "Builtins_", 9) == 0) {
                // V8 builtins embedded in the node binary.
                frame.kind = FrameKind::Builtin;
                frame.function = builtin_display_name(name + 9);
                return frame;
            }
            frame.function = function_name(demangle(name));
        }

        if (Dwfl_Line* line = dwfl_module_getsrc(module_, vaddr)) {
            int line_number = 0;
            Dwarf_Addr line_address = 0;
            const char* file = dwfl_lineinfo(line, &line_address, &line_number, nullptr, nullptr, nullptr);
            if (file != nullptr && line_number > 0) frame.location = std::string(file) + ":" + std::to_string(line_number);
        }
        return frame;
    }

private:
    void check_build_id(const std::string& expected) {
        if (expected.empty()) return;
        const unsigned char* bits = nullptr;
        GElf_Addr vaddr = 0;
        const int length = dwfl_module_build_id(module_, &bits, &vaddr);
        if (length <= 0) return;
        if (std::string(reinterpret_cast<const char*>(bits), static_cast<size_t>(length)) != expected) {
            error_ = "its build-id differs from the one the process loaded, so the file was replaced since";
        }
    }

    std::string name_;
    std::string error_;
    Dwfl* dwfl_ = nullptr;
    Dwfl_Module* module_ = nullptr;
    std::unique_ptr<SymbolIndex> symbols_;  // set when module_ is
    std::unordered_map<uint64_t, Frame> cache_;
};

Symbolizer::Symbolizer(std::filesystem::path working_folder) : working_folder_(std::move(working_folder)) {}

Symbolizer::~Symbolizer() = default;

Symbolizer::ElfFile& Symbolizer::elf_file(const LoadedModule& module) {
    const std::string key = module.path + '\0' + module.build_id;
    auto it = files_.find(key);
    if (it == files_.end()) {
        it = files_.emplace(key, std::make_unique<ElfFile>(module)).first;
        if (!it->second->readable()) {
            counts_.unreadable_modules.push_back(module.path + ": " + it->second->error());
        }
    }
    return *it->second;
}

Frame Symbolizer::native_frame(uint64_t return_address, const LoadedModule& module) {
    ElfFile& file = elf_file(module);
    const uint64_t vaddr = return_address - 1 - module.load_bias;

    Frame frame;
    if (file.readable()) frame = file.lookup(vaddr);
    frame.address = return_address;
    frame.module = module.path;
    if (!frame.symbolized) {
        // Shown as the file offset plus one, so it names the return address itself.
        frame.kind = FrameKind::Native;
        frame.location = file.name() + "+" + hex(vaddr + 1);
    }
    return frame;
}

Frame Symbolizer::symbolize(uint64_t return_address, const LoadedModule* module, const PerfMap* perf_map) {
    ++counts_.frames;
    const uint64_t address = return_address - 1;
    if (perf_map != nullptr) {
        if (const std::string* name = perf_map->find(address)) {
            Frame frame = perf_map_frame(*name, working_folder_);
            frame.address = return_address;
            return frame;
        }
    }
    if (module != nullptr) {
        Frame frame = native_frame(return_address, *module);
        if (!frame.symbolized) ++counts_.unknown_frames;
        return frame;
    }
    ++counts_.unknown_frames;
    Frame frame;
    frame.address = return_address;
    frame.kind = FrameKind::Jit;
    return frame;
}

}  // namespace routeheap::analysis
