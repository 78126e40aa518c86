// The ELF symbol at an address, the same one elfutils' dwfl_module_addrinfo returns but
// without its scan of the whole symbol table on every call.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

struct Dwfl_Module;

namespace routeheap::analysis {

// Finds the symbol name dwfl_module_addrinfo returns, for one libdwfl module. That call
// reads every symbol of the module each time (elfutils 0.188), which for the 180,000
// symbols of Debian's node 20 took about 1 ms per call on a 2 vCPU KVM guest. Here an
// address inside sized symbols is resolved from a table sorted by address, choosing among
// the symbols that cover it by the rules addrinfo applies (globals before locals, then
// nearest start, then binding and size). Addresses that need addrinfo's other rules (no
// sized symbol covers them, or they equal a symbol boundary) still go to addrinfo, once
// per interval between two boundaries, where its result cannot change.
// Not thread-safe, and the module must outlive the index.
class SymbolIndex {
public:
    explicit SymbolIndex(Dwfl_Module* module);

    // The name dwfl_module_addrinfo returns for `address` (a module address, as addrinfo
    // takes it), or nullptr when it finds no symbol. The text belongs to the module.
    const char* find(uint64_t address);

    // Calls that went to dwfl_module_addrinfo so far, for tests.
    uint64_t addrinfo_calls() const { return addrinfo_calls_; }

private:
    struct SizedSymbol {
        uint64_t value = 0;  // the address addrinfo compares, as dwfl_module_getsym_info returns it
        uint64_t size = 0;
        int index = 0;       // position in the module's symbol table, the order addrinfo reads
        int binding = 0;     // addrinfo's preference: global 3, weak 2, local 1, others 0
        const char* name = nullptr;
    };

    void load();
    const char* nearest_covering(uint64_t address, bool globals) const;
    const char* find_with_addrinfo(uint64_t address, uint64_t key);

    Dwfl_Module* module_;
    bool loaded_ = false;
    // False when some symbol's value differs from its st_value plus bias (function
    // descriptors, as on ppc64): addrinfo then also tries a second value per symbol,
    // which the sorted table does not model, so every address goes to addrinfo.
    bool table_usable_ = true;
    int first_global_ = 0;
    std::vector<SizedSymbol> sized_;          // by value
    std::vector<uint64_t> max_end_;           // max_end_[i]: largest value + size in sized_[0..i]
    std::vector<uint64_t> boundaries_;        // sorted, unique addresses where addrinfo's result may change
    std::unordered_map<uint64_t, const char*> addrinfo_names_;  // by interval key
    uint64_t addrinfo_calls_ = 0;
};

}  // namespace routeheap::analysis
