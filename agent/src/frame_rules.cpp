// A reader of x86_64 .eh_frame call frame information, limited to the rules a stack
// walk needs (DWARF 5 section 6.4, with the GNU .eh_frame extensions of the LSB).
#include "frame_rules.h"

#include <cstring>

namespace routeheap::agent {

namespace {

// DWARF register numbers on x86_64.
constexpr uint64_t kRegisterRbp = 6;
constexpr uint64_t kRegisterRsp = 7;
constexpr uint64_t kRegisterReturnAddress = 16;

// Pointer encodings (DW_EH_PE_*): the low four bits give the value's format.
constexpr uint8_t kEncodingOmit = 0xff;

// Call frame instructions.
enum : uint8_t {
    kAdvanceLoc = 0x40,  // high two bits; delta in the low six
    kOffset = 0x80,      // high two bits; register in the low six
    kRestore = 0xc0,     // high two bits; register in the low six
    kNop = 0x00,
    kSetLoc = 0x01,
    kAdvanceLoc1 = 0x02,
    kAdvanceLoc2 = 0x03,
    kAdvanceLoc4 = 0x04,
    kOffsetExtended = 0x05,
    kRestoreExtended = 0x06,
    kUndefined = 0x07,
    kSameValue = 0x08,
    kRegister = 0x09,
    kRememberState = 0x0a,
    kRestoreState = 0x0b,
    kDefCfa = 0x0c,
    kDefCfaRegister = 0x0d,
    kDefCfaOffset = 0x0e,
    kDefCfaExpression = 0x0f,
    kExpression = 0x10,
    kOffsetExtendedSf = 0x11,
    kDefCfaSf = 0x12,
    kDefCfaOffsetSf = 0x13,
    kValOffset = 0x14,
    kValOffsetSf = 0x15,
    kValExpression = 0x16,
    kGnuArgsSize = 0x2e,
    kGnuNegativeOffsetExtended = 0x2f,
};

// A bounded reader over CFI bytes; any read past the end sets `failed`.
class Reader {
public:
    Reader(const uint8_t* begin, const uint8_t* end) : at_(begin), end_(end) {}

    bool failed() const { return failed_; }
    bool at_end() const { return at_ >= end_; }
    const uint8_t* position() const { return at_; }

    uint8_t u8() { return static_cast<uint8_t>(fixed(1)); }
    uint64_t fixed(size_t size) {
        if (failed_ || static_cast<size_t>(end_ - at_) < size) return fail();
        uint64_t value = 0;
        std::memcpy(&value, at_, size);  // little-endian host
        at_ += size;
        return value;
    }
    uint64_t uleb() {
        uint64_t value = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            const uint8_t byte = u8();
            if (failed_) return 0;
            value |= uint64_t{byte & 0x7fu} << shift;
            if ((byte & 0x80) == 0) return value;
        }
        return fail();
    }
    int64_t sleb() {
        uint64_t value = 0;
        unsigned shift = 0;
        uint8_t byte = 0;
        do {
            byte = u8();
            if (failed_ || shift >= 64) return static_cast<int64_t>(fail());
            value |= uint64_t{byte & 0x7fu} << shift;
            shift += 7;
        } while ((byte & 0x80) != 0);
        if (shift < 64 && (byte & 0x40) != 0) value |= ~uint64_t{0} << shift;
        return static_cast<int64_t>(value);
    }
    void skip(uint64_t size) {
        if (failed_ || static_cast<uint64_t>(end_ - at_) < size) {
            fail();
            return;
        }
        at_ += size;
    }
    // Skips a value of pointer encoding `encoding`; false for formats it cannot size.
    bool skip_encoded(uint8_t encoding) {
        switch (encoding & 0x0f) {
            case 0x00: skip(8); return true;                  // absptr
            case 0x01: uleb(); return true;                   // uleb128
            case 0x02: case 0x0a: skip(2); return true;       // udata2, sdata2
            case 0x03: case 0x0b: skip(4); return true;       // udata4, sdata4
            case 0x04: case 0x0c: skip(8); return true;       // udata8, sdata8
            case 0x09: sleb(); return true;                   // sleb128
            default: return false;
        }
    }

private:
    uint64_t fail() {
        failed_ = true;
        return 0;
    }

    const uint8_t* at_;
    const uint8_t* end_;
    bool failed_ = false;
};

// What the CIE says about the FDEs that use it.
struct CommonInformation {
    const uint8_t* instructions;
    const uint8_t* end;
    uint64_t code_alignment;
    int64_t data_alignment;
    uint8_t fde_encoding;
    bool has_augmentation_data;
    bool signal_frame;
};

// The rules tracked while the instructions run.
struct RowState {
    uint64_t cfa_register;
    int64_t cfa_offset;
    bool cfa_supported;
    bool rbp_saved;
    bool rbp_supported;
    bool return_address_undefined;
    int64_t rbp_offset;
};

// Reads a length-prefixed CIE or FDE entry's bounds; false for 64-bit lengths, which
// GCC and LLVM never emit in .eh_frame.
bool entry_bounds(const uint8_t* entry, const uint8_t*& body, const uint8_t*& end) {
    uint32_t length = 0;
    std::memcpy(&length, entry, sizeof(length));
    if (length == 0 || length == 0xffffffffu) return false;
    body = entry + sizeof(length);
    end = body + length;
    return true;
}

bool read_cie(const uint8_t* cie, CommonInformation& info) {
    const uint8_t* body = nullptr;
    const uint8_t* end = nullptr;
    if (!entry_bounds(cie, body, end)) return false;
    Reader reader(body, end);
    if (reader.fixed(4) != 0) return false;  // a CIE's id is 0 in .eh_frame
    const uint8_t version = reader.u8();
    if (version != 1 && version != 3) return false;

    const auto* augmentation = reinterpret_cast<const char*>(reader.position());
    const size_t augmentation_length = strnlen(augmentation, static_cast<size_t>(end - reader.position()));
    reader.skip(augmentation_length + 1);
    info.code_alignment = reader.uleb();
    info.data_alignment = reader.sleb();
    const uint64_t return_register = version == 1 ? reader.u8() : reader.uleb();
    if (reader.failed() || return_register != kRegisterReturnAddress) return false;

    info.fde_encoding = 0;  // absptr
    info.has_augmentation_data = augmentation_length > 0 && augmentation[0] == 'z';
    info.signal_frame = false;
    if (augmentation_length > 0) {
        if (!info.has_augmentation_data) return false;  // "eh" and other old forms
        const uint64_t data_length = reader.uleb();
        const uint8_t* data_end = reader.position() + data_length;
        for (size_t i = 1; i < augmentation_length && !reader.failed(); ++i) {
            switch (augmentation[i]) {
                case 'R': info.fde_encoding = reader.u8(); break;
                case 'L': reader.u8(); break;
                case 'P': {
                    const uint8_t encoding = reader.u8();
                    if (!reader.skip_encoded(encoding)) return false;
                    break;
                }
                case 'S': info.signal_frame = true; break;
                case 'B': break;
                default: i = augmentation_length; break;  // the length below skips the rest
            }
        }
        if (reader.failed() || data_end > end) return false;
        info.instructions = data_end;
    } else {
        info.instructions = reader.position();
    }
    info.end = end;
    return !reader.failed() && info.fde_encoding != kEncodingOmit;
}

// Sets the rbp rule for a register-rule instruction; other registers do not matter
// to the walk, except an undefined return address, which marks the outermost frame.
void set_register_rule(RowState& row, uint64_t reg, bool saved, bool supported, int64_t offset) {
    if (reg == kRegisterRbp) {
        row.rbp_saved = saved;
        row.rbp_supported = supported;
        row.rbp_offset = offset;
    }
}

// Runs call frame instructions until the row that covers `address` is complete.
// `location` is the address the current row starts at. Returns false on malformed or
// unsupported input.
bool run_instructions(Reader& reader, const CommonInformation& info, uintptr_t address, uintptr_t& location,
                      RowState& row, const RowState& initial) {
    constexpr int kMaxRememberedStates = 8;
    RowState remembered[kMaxRememberedStates];
    int remembered_count = 0;

    while (!reader.at_end()) {
        const uint8_t opcode = reader.u8();
        const uint8_t high = opcode & 0xc0;
        const uint8_t low = opcode & 0x3f;
        uint64_t advance = 0;
        bool advances = false;
        if (high == kAdvanceLoc) {
            advance = low;
            advances = true;
        } else if (high == kOffset) {
            set_register_rule(row, low, true, true, static_cast<int64_t>(reader.uleb()) * info.data_alignment);
        } else if (high == kRestore) {
            if (low == kRegisterRbp) set_register_rule(row, low, initial.rbp_saved, initial.rbp_supported, initial.rbp_offset);
        } else {
            switch (opcode) {
                case kNop: break;
                case kSetLoc: return false;
                case kAdvanceLoc1: advance = reader.fixed(1); advances = true; break;
                case kAdvanceLoc2: advance = reader.fixed(2); advances = true; break;
                case kAdvanceLoc4: advance = reader.fixed(4); advances = true; break;
                case kOffsetExtended: {
                    const uint64_t reg = reader.uleb();
                    set_register_rule(row, reg, true, true, static_cast<int64_t>(reader.uleb()) * info.data_alignment);
                    break;
                }
                case kRestoreExtended:
                    if (reader.uleb() == kRegisterRbp) {
                        set_register_rule(row, kRegisterRbp, initial.rbp_saved, initial.rbp_supported, initial.rbp_offset);
                    }
                    break;
                case kUndefined: {
                    const uint64_t reg = reader.uleb();
                    if (reg == kRegisterReturnAddress) row.return_address_undefined = true;
                    set_register_rule(row, reg, false, false, 0);
                    break;
                }
                case kSameValue: set_register_rule(row, reader.uleb(), false, true, 0); break;
                case kRegister: {
                    const uint64_t reg = reader.uleb();
                    reader.uleb();
                    set_register_rule(row, reg, false, false, 0);
                    break;
                }
                case kRememberState:
                    if (remembered_count == kMaxRememberedStates) return false;
                    remembered[remembered_count++] = row;
                    break;
                case kRestoreState:
                    if (remembered_count == 0) return false;
                    row = remembered[--remembered_count];
                    break;
                case kDefCfa:
                    row.cfa_register = reader.uleb();
                    row.cfa_offset = static_cast<int64_t>(reader.uleb());
                    row.cfa_supported = true;
                    break;
                case kDefCfaRegister:
                    row.cfa_register = reader.uleb();
                    break;
                case kDefCfaOffset:
                    row.cfa_offset = static_cast<int64_t>(reader.uleb());
                    break;
                case kDefCfaExpression:
                    reader.skip(reader.uleb());
                    row.cfa_supported = false;
                    break;
                case kExpression:
                case kValExpression: {
                    const uint64_t reg = reader.uleb();
                    reader.skip(reader.uleb());
                    set_register_rule(row, reg, false, false, 0);
                    break;
                }
                case kOffsetExtendedSf: {
                    const uint64_t reg = reader.uleb();
                    set_register_rule(row, reg, true, true, reader.sleb() * info.data_alignment);
                    break;
                }
                case kDefCfaSf:
                    row.cfa_register = reader.uleb();
                    row.cfa_offset = reader.sleb() * info.data_alignment;
                    row.cfa_supported = true;
                    break;
                case kDefCfaOffsetSf:
                    row.cfa_offset = reader.sleb() * info.data_alignment;
                    break;
                case kValOffset: {
                    const uint64_t reg = reader.uleb();
                    reader.uleb();
                    set_register_rule(row, reg, false, false, 0);
                    break;
                }
                case kValOffsetSf: {
                    const uint64_t reg = reader.uleb();
                    reader.sleb();
                    set_register_rule(row, reg, false, false, 0);
                    break;
                }
                case kGnuArgsSize: reader.uleb(); break;
                case kGnuNegativeOffsetExtended: {
                    const uint64_t reg = reader.uleb();
                    set_register_rule(row, reg, true, true, -static_cast<int64_t>(reader.uleb()) * info.data_alignment);
                    break;
                }
                default: return false;
            }
        }
        if (reader.failed()) return false;
        if (advances) {
            const uintptr_t next = location + advance * info.code_alignment;
            if (next > address) return true;  // the current row covers `address`
            location = next;
        }
    }
    return true;
}

}  // namespace

RuleResult read_frame_rule(const uint8_t* fde, uintptr_t function_start, uintptr_t address, FrameRule& rule) {
    const uint8_t* body = nullptr;
    const uint8_t* end = nullptr;
    if (!entry_bounds(fde, body, end)) return RuleResult::Unsupported;
    Reader reader(body, end);
    const uint32_t cie_pointer = static_cast<uint32_t>(reader.fixed(4));
    if (cie_pointer == 0) return RuleResult::Malformed;  // a CIE, not an FDE
    CommonInformation info{};
    if (!read_cie(body - cie_pointer, info)) return RuleResult::Unsupported;
    if (info.signal_frame) return RuleResult::SignalFrame;

    // pc_begin and pc_range: the caller already knows the start; the range was checked
    // by the FDE lookup.
    if (!reader.skip_encoded(info.fde_encoding) || !reader.skip_encoded(info.fde_encoding & 0x0f)) {
        return RuleResult::Unsupported;
    }
    if (info.has_augmentation_data) reader.skip(reader.uleb());
    if (reader.failed()) return RuleResult::Malformed;

    // x86_64 psABI: at a function's entry the CFA is rsp + 8 and rbp is unchanged.
    RowState row{kRegisterRsp, 8, true, false, true, false, 0};
    uintptr_t location = function_start;
    Reader initial_reader(info.instructions, info.end);
    if (!run_instructions(initial_reader, info, UINTPTR_MAX, location, row, row)) return RuleResult::Unsupported;
    const RowState initial = row;
    location = function_start;
    Reader fde_reader(reader.position(), end);
    if (!run_instructions(fde_reader, info, address, location, row, initial)) return RuleResult::Unsupported;

    if (row.return_address_undefined) return RuleResult::Outermost;
    if (!row.cfa_supported || !row.rbp_supported) return RuleResult::Unsupported;
    if (row.cfa_register != kRegisterRsp && row.cfa_register != kRegisterRbp) return RuleResult::Unsupported;
    rule.cfa_is_rbp = row.cfa_register == kRegisterRbp;
    rule.cfa_offset = row.cfa_offset;
    rule.rbp_saved = row.rbp_saved;
    rule.rbp_offset = row.rbp_offset;
    return RuleResult::Found;
}

}  // namespace routeheap::agent
