// The unwind rule of one code address, read from its DWARF call frame information
// (.eh_frame), so the stack walk steps through functions without frame pointers
// without calling libunwind. Only the registers a walk needs are tracked: the CFA,
// the return address and rbp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// How to find a frame's caller from its stack pointer (sp) and rbp at `address`:
// CFA = (cfa_is_rbp ? rbp : sp) + cfa_offset; the return address is at CFA - 8; the
// caller's rbp is at CFA + rbp_offset when `rbp_saved`, else rbp is unchanged.
struct FrameRule {
    bool cfa_is_rbp;
    bool rbp_saved;
    int64_t cfa_offset;
    int64_t rbp_offset;
};

enum class RuleResult : uint8_t {
    Found,        // `rule` holds the rule
    Outermost,    // the return address is undefined here: the first frame of a thread (_start)
    SignalFrame,  // a signal return trampoline: its caller resumes at an exact address
    Unsupported,  // CFI this reader does not follow (expressions, other registers)
    Malformed,    // the CFI bytes are inconsistent
};

// Reads the rule at `address` from the FDE at `fde` (as returned by libgcc's
// _Unwind_Find_FDE, whose `func` gives `function_start`). Runs the CIE's initial
// instructions and the FDE's instructions up to `address`. Reads only inside the
// CIE's and FDE's own lengths; never allocates.
RuleResult read_frame_rule(const uint8_t* fde, uintptr_t function_start, uintptr_t address, FrameRule& rule);

}  // namespace routeheap::agent
