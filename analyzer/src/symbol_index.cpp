// Symbol lookup by address that reproduces dwfl_module_addrinfo's choice from a sorted
// table, with addrinfo itself as the fallback for the cases the table does not model.
#include <routeheap/analysis/symbol_index.h>

#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <algorithm>

namespace routeheap::analysis {

namespace {

int binding_preference(const GElf_Sym& symbol) {
    switch (GELF_ST_BIND(symbol.st_info)) {
        case STB_GLOBAL: return 3;
        case STB_WEAK: return 2;
        case STB_LOCAL: return 1;
        default: return 0;
    }
}

// The symbols addrinfo considers at all: named, defined, and not a section, file or TLS symbol.
bool considered(const char* name, const GElf_Sym& symbol) {
    const int type = GELF_ST_TYPE(symbol.st_info);
    return name != nullptr && name[0] != '\0' && symbol.st_shndx != SHN_UNDEF && type != STT_SECTION &&
           type != STT_FILE && type != STT_TLS;
}

}  // namespace

SymbolIndex::SymbolIndex(Dwfl_Module* module) : module_(module) {}

void SymbolIndex::load() {
    loaded_ = true;
    Dwarf_Addr module_start = 0;
    Dwarf_Addr module_end = 0;
    dwfl_module_info(module_, nullptr, &module_start, &module_end, nullptr, nullptr, nullptr, nullptr);
    boundaries_.push_back(module_start);
    boundaries_.push_back(module_end);

    const int count = dwfl_module_getsymtab(module_);
    first_global_ = dwfl_module_getsymtab_first_global(module_);
    if (count < 0 || first_global_ < 0) {
        table_usable_ = false;
        return;
    }

    // Extra boundaries only cost extra addrinfo calls, so both the value addrinfo compares
    // and the raw and biased st_value go in, and section bounds with and without bias.
    std::vector<std::pair<Elf*, Dwarf_Addr>> files;
    for (int i = 0; i < count; ++i) {
        GElf_Sym symbol{};
        GElf_Addr value = 0;
        GElf_Word section = 0;
        Elf* elf = nullptr;
        Dwarf_Addr bias = 0;
        const char* name = dwfl_module_getsym_info(module_, i, &symbol, &value, &section, &elf, &bias);
        if (name == nullptr) continue;
        const uint64_t biased = symbol.st_value + bias;
        boundaries_.insert(boundaries_.end(), {value, value + symbol.st_size, symbol.st_value,
                                               symbol.st_value + symbol.st_size, biased, biased + symbol.st_size});
        if (elf != nullptr && std::find(files.begin(), files.end(), std::make_pair(elf, bias)) == files.end()) {
            files.emplace_back(elf, bias);
        }
        if (i == 0 || !considered(name, symbol)) continue;

        const int type = GELF_ST_TYPE(symbol.st_info);
        if ((type == STT_FUNC || type == STT_GNU_IFUNC) && value != biased) table_usable_ = false;
        if (symbol.st_size != 0) {
            sized_.push_back(SizedSymbol{value, symbol.st_size, i, binding_preference(symbol), name});
        }
    }
    GElf_Addr main_bias = 0;
    if (Elf* main = dwfl_module_getelf(module_, &main_bias)) {
        if (std::find(files.begin(), files.end(), std::make_pair(main, main_bias)) == files.end()) {
            files.emplace_back(main, main_bias);
        }
    }
    for (const auto& [elf, bias] : files) {
        Elf_Scn* section = nullptr;
        while ((section = elf_nextscn(elf, section)) != nullptr) {
            GElf_Shdr header{};
            if (gelf_getshdr(section, &header) == nullptr) continue;
            const uint64_t end = header.sh_addr + header.sh_size;
            boundaries_.insert(boundaries_.end(), {header.sh_addr, end, header.sh_addr + bias, end + bias});
        }
    }
    std::sort(boundaries_.begin(), boundaries_.end());
    boundaries_.erase(std::unique(boundaries_.begin(), boundaries_.end()), boundaries_.end());

    std::sort(sized_.begin(), sized_.end(), [](const SizedSymbol& a, const SizedSymbol& b) {
        return a.value != b.value ? a.value < b.value : a.index < b.index;
    });
    max_end_.resize(sized_.size());
    uint64_t max_end = 0;
    for (size_t i = 0; i < sized_.size(); ++i) {
        max_end = std::max(max_end, sized_[i].value + sized_[i].size);
        max_end_[i] = max_end;
    }
}

// Replays addrinfo's choice among the sized symbols that cover `address`, in symbol
// table order, within the globals or within the locals.
const char* SymbolIndex::nearest_covering(uint64_t address, bool globals) const {
    const int first_global = std::max(first_global_, 1);
    std::vector<const SizedSymbol*> covering;
    auto above = std::upper_bound(sized_.begin(), sized_.end(), address,
                                  [](uint64_t value, const SizedSymbol& symbol) { return value < symbol.value; });
    for (auto i = static_cast<size_t>(above - sized_.begin()); i-- > 0 && max_end_[i] > address;) {
        const SizedSymbol& symbol = sized_[i];
        if (address - symbol.value >= symbol.size) continue;
        if ((symbol.index >= first_global) == globals) covering.push_back(&symbol);
    }
    std::sort(covering.begin(), covering.end(),
              [](const SizedSymbol* a, const SizedSymbol* b) { return a->index < b->index; });

    const SizedSymbol* closest = nullptr;
    for (const SizedSymbol* symbol : covering) {
        if (closest == nullptr || closest->value < symbol->value || closest->binding < symbol->binding) {
            closest = symbol;
        } else if (closest->value == symbol->value &&
                   ((closest->size > symbol->size && closest->binding <= symbol->binding) ||
                    (closest->size >= symbol->size && closest->binding < symbol->binding))) {
            closest = symbol;
        }
    }
    return closest != nullptr ? closest->name : nullptr;
}

const char* SymbolIndex::find_with_addrinfo(uint64_t address, uint64_t key) {
    auto [it, inserted] = addrinfo_names_.try_emplace(key, nullptr);
    if (!inserted) return it->second;
    ++addrinfo_calls_;
    GElf_Off offset = 0;
    GElf_Sym symbol{};
    it->second = dwfl_module_addrinfo(module_, address, &offset, &symbol, nullptr, nullptr, nullptr);
    return it->second;
}

const char* SymbolIndex::find(uint64_t address) {
    if (!loaded_) load();

    // addrinfo compares the address with symbol values and ends, section bounds and
    // exact values only, so its result is the same everywhere strictly between two
    // boundaries. Odd keys name a boundary address, even keys the interval below
    // boundaries_[key / 2].
    const auto above = std::upper_bound(boundaries_.begin(), boundaries_.end(), address);
    const auto index = static_cast<uint64_t>(above - boundaries_.begin());
    const bool on_boundary = index > 0 && boundaries_[index - 1] == address;
    const uint64_t key = on_boundary ? 2 * (index - 1) + 1 : 2 * index;

    // Off a boundary no symbol starts at the address, so addrinfo searches the locals
    // whenever no sized global covers it, and a covering sized symbol beats any sizeless one.
    if (table_usable_ && !on_boundary) {
        if (const char* name = nearest_covering(address, true)) return name;
        if (const char* name = nearest_covering(address, false)) return name;
    }
    return find_with_addrinfo(address, key);
}

}  // namespace routeheap::analysis
