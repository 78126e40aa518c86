// SymbolIndex against dwfl_module_addrinfo itself, on real ELF files: the test binary
// (C++ with local and global symbols), libc (aliases, weak and IFUNC symbols) and libstdc++.
#include <routeheap/analysis/symbol_index.h>

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <exception>
#include <filesystem>
#include <string>
#include <vector>

namespace routeheap::testing {
namespace {

using routeheap::analysis::SymbolIndex;

// One ELF file reported at bias 0, as the symbolizer opens it.
class OfflineModule {
public:
    explicit OfflineModule(const std::string& path) {
        dwfl_ = dwfl_begin(&callbacks_);
        if (dwfl_ == nullptr) return;
        dwfl_report_begin(dwfl_);
        module_ = dwfl_report_elf(dwfl_, "module", path.c_str(), -1, 0, true);
        dwfl_report_end(dwfl_, nullptr, nullptr);
    }
    ~OfflineModule() {
        if (dwfl_ != nullptr) dwfl_end(dwfl_);
    }
    OfflineModule(const OfflineModule&) = delete;
    OfflineModule& operator=(const OfflineModule&) = delete;

    Dwfl_Module* module() const { return module_; }

private:
    static inline char* debuginfo_path_ = nullptr;
    static inline const Dwfl_Callbacks callbacks_ = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = dwfl_offline_section_address,
        .debuginfo_path = &debuginfo_path_,
    };
    Dwfl* dwfl_ = nullptr;
    Dwfl_Module* module_ = nullptr;
};

std::string path_of(const void* address) {
    Dl_info info{};
    if (::dladdr(address, &info) == 0 || info.dli_fname == nullptr) return {};
    return info.dli_fname;
}

std::string addrinfo_name(Dwfl_Module* module, uint64_t address) {
    GElf_Off offset = 0;
    GElf_Sym symbol{};
    const char* name = dwfl_module_addrinfo(module, address, &offset, &symbol, nullptr, nullptr, nullptr);
    return name != nullptr ? name : "(none)";
}

// Addresses at and around about `symbol_count` symbols spread over the table (both ends,
// just inside, the middle), and addresses spread evenly over the whole module.
std::vector<uint64_t> probe_addresses(Dwfl_Module* module, int symbol_count) {
    std::vector<uint64_t> addresses;
    const int count = dwfl_module_getsymtab(module);
    const int stride = std::max(1, count / symbol_count);
    for (int i = 1; i < count; i += stride) {
        GElf_Sym symbol{};
        GElf_Addr value = 0;
        if (dwfl_module_getsym_info(module, i, &symbol, &value, nullptr, nullptr, nullptr) == nullptr) continue;
        const uint64_t size = symbol.st_size;
        addresses.insert(addresses.end(), {value - 1, value, value + 1, value + size / 2, value + size - 1, value + size});
    }
    Dwarf_Addr start = 0;
    Dwarf_Addr end = 0;
    dwfl_module_info(module, nullptr, &start, &end, nullptr, nullptr, nullptr, nullptr);
    for (uint64_t step = 0; step < 256 && end > start; ++step) addresses.push_back(start + (end - start) / 256 * step);
    return addresses;
}

void expect_same_as_addrinfo(const std::string& path) {
    ASSERT_FALSE(path.empty());
    OfflineModule file(path);
    ASSERT_NE(file.module(), nullptr) << path << ": " << dwfl_errmsg(-1);
    ASSERT_GT(dwfl_module_getsymtab(file.module()), 100) << path;

    SymbolIndex index(file.module());
    const std::vector<uint64_t> addresses = probe_addresses(file.module(), 400);
    for (uint64_t address : addresses) {
        const char* found = index.find(address);
        EXPECT_EQ(found != nullptr ? std::string(found) : "(none)", addrinfo_name(file.module(), address))
            << path << " at 0x" << std::hex << address;
    }
    // Most probes fall inside sized symbols, which the table resolves without addrinfo. A
    // table that always fell back would pass the comparison above without being used.
    EXPECT_LT(index.addrinfo_calls(), addresses.size() * 2 / 3) << path;
}

TEST(SymbolIndex, SameAsAddrinfoOnTestBinary) {
    expect_same_as_addrinfo(std::filesystem::read_symlink("/proc/self/exe").string());
}

TEST(SymbolIndex, SameAsAddrinfoOnLibc) { expect_same_as_addrinfo(path_of(reinterpret_cast<void*>(&::dladdr))); }

TEST(SymbolIndex, SameAsAddrinfoOnLibstdcxx) {
    expect_same_as_addrinfo(path_of(reinterpret_cast<void*>(&std::terminate)));
}

TEST(SymbolIndex, RepeatedIntervalCallsAddrinfoOnce) {
    OfflineModule file(std::filesystem::read_symlink("/proc/self/exe").string());
    ASSERT_NE(file.module(), nullptr);
    SymbolIndex index(file.module());
    // Near address 0 no sized symbol covers the address, so addrinfo resolves it once for
    // the whole interval between the first two boundaries.
    const char* first = index.find(1);
    EXPECT_EQ(index.find(2), first);
    EXPECT_EQ(index.addrinfo_calls(), 1u);
}

}  // namespace
}  // namespace routeheap::testing
