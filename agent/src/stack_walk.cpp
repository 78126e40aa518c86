// Stack capture: rules from the call frame information, frame records for JIT code,
// libunwind for signal frames, and the per-thread stack bounds every step is
// checked against.
#include "stack_walk.h"

#include "frame_rules.h"
#include "thread_state.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

// libgcc's lookup of the DWARF frame description entry (FDE) that covers a code
// address (unwind-dw2-fde.h, exported by libgcc_s.so.1 since GCC 3.0). `func`
// receives the start of the function the FDE describes. Since GCC 12 on glibc 2.35
// or later it runs on _dl_find_object: no lock, no allocation.
// NOTE: libgcc takes its object mutex first when some code registered frames with
// __register_frame_info (JIT engines may; V8 does not by default).
extern "C" {
struct dwarf_eh_bases {
    void* tbase;
    void* dbase;
    void* func;
};
const void* _Unwind_Find_FDE(void* pc, struct dwarf_eh_bases* bases);
}

namespace routeheap::agent {

namespace {

// Frames larger than this end the walk. V8 and node frames stay far below it; a
// frame pointer that jumps further is more likely junk than a frame.
constexpr size_t kMaxFrameBytes = 1 << 20;

// Used for the main thread when RLIMIT_STACK is unlimited or larger: how far below
// the top of the [stack] mapping a stack pointer may be and still count as on it.
constexpr uintptr_t kMaxMainStackBytes = uintptr_t{1} << 30;

uintptr_t g_agent_begin = 0;
uintptr_t g_agent_end = 0;

int find_agent_code(struct dl_phdr_info* info, size_t, void* data) {
    const auto own_address = *static_cast<uintptr_t*>(data);
    uintptr_t begin = UINTPTR_MAX;
    uintptr_t end = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
        if (segment.p_type != PT_LOAD) continue;
        const uintptr_t start = info->dlpi_addr + segment.p_vaddr;
        if (start < begin) begin = start;
        if (start + segment.p_memsz > end) end = start + segment.p_memsz;
    }
    if (own_address < begin || own_address >= end) return 0;
    g_agent_begin = begin;
    g_agent_end = end;
    return 1;
}

long raw_syscall_result(long result) { return result < 0 ? -1 : result; }

int open_maps() {
    return static_cast<int>(
        raw_syscall_result(syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC)));
}

// Parses "start-end " at the beginning of a maps line; false on anything else.
bool parse_range(const char* line, size_t length, uintptr_t& start, uintptr_t& end) {
    uintptr_t* target = &start;
    start = 0;
    end = 0;
    size_t digits = 0;
    for (size_t i = 0; i < length; ++i) {
        const char c = line[i];
        int value;
        if (c >= '0' && c <= '9') {
            value = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            value = c - 'a' + 10;
        } else if (c == '-' && target == &start && digits > 0) {
            target = &end;
            digits = 0;
            continue;
        } else {
            return c == ' ' && target == &end && digits > 0;
        }
        *target = (*target << 4) | static_cast<uintptr_t>(value);
        ++digits;
    }
    return false;
}

bool ends_with_stack_name(const char* line, size_t length) {
    static constexpr char kName[] = "[stack]";
    constexpr size_t kNameLength = sizeof(kName) - 1;
    return length >= kNameLength && std::memcmp(line + length - kNameLength, kName, kNameLength) == 0;
}

// The main thread's stack grows down to RLIMIT_STACK below its top.
uintptr_t main_stack_span() {
    struct rlimit limit {};
    if (syscall(SYS_prlimit64, 0, RLIMIT_STACK, nullptr, &limit) != 0) return kMaxMainStackBytes;
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > kMaxMainStackBytes) return kMaxMainStackBytes;
    return static_cast<uintptr_t>(limit.rlim_cur);
}

void read_stack_bounds(ThreadState& thread, uintptr_t address) {
    uintptr_t start = 0;
    uintptr_t end = 0;
    bool is_main_stack = false;
    if (!find_mapping(address, start, end, is_main_stack)) {
        thread.stack_state = 2;
        return;
    }
    if (is_main_stack) {
        const uintptr_t span = main_stack_span();
        start = end > span ? end - span : 0;
    }
    thread.stack_low = start;
    thread.stack_high = end;
    thread.stack_state = 1;
}

}  // namespace

StepMethod step_method(uintptr_t address, FrameRule& rule) {
#if !defined(__x86_64__)
    // The rule reader and the register set below are x86_64's: elsewhere the walk
    // follows frame records only.
    (void)address;
    (void)rule;
    return StepMethod::FrameRecord;
#endif
    dwarf_eh_bases bases{};
    const void* fde = _Unwind_Find_FDE(reinterpret_cast<void*>(address), &bases);
    if (fde == nullptr) return StepMethod::FrameRecord;
    switch (read_frame_rule(static_cast<const uint8_t*>(fde), reinterpret_cast<uintptr_t>(bases.func), address, rule)) {
        case RuleResult::Found: return StepMethod::Rule;
        case RuleResult::Outermost: return StepMethod::Outermost;
        case RuleResult::SignalFrame: return StepMethod::SignalFrame;
        case RuleResult::Unsupported:
        case RuleResult::Malformed: break;
    }
    return StepMethod::Libunwind;
}

namespace {

// The libunwind functions the walk uses, from libunwind.so.8 loaded with RTLD_LOCAL
// (see agent/CMakeLists.txt). All null when it could not be loaded: signal frames
// and CFA expressions then end the walk.
struct Libunwind {
    int (*init_local)(unw_cursor_t*, unw_context_t*);
    int (*step)(unw_cursor_t*);
    int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*);
    int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t);
    unw_addr_space_t* local_addr_space;
};
Libunwind g_libunwind{};

template <typename Function>
bool resolve(void* library, const char* name, Function& function) {
    function = reinterpret_cast<Function>(dlsym(library, name));
    return function != nullptr;
}

bool load_libunwind() {
    void* library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) return false;
    Libunwind loaded{};
    // The names behind unw_init_local and friends under UNW_LOCAL_ONLY on x86_64.
    if (!resolve(library, "_ULx86_64_init_local", loaded.init_local) ||
        !resolve(library, "_ULx86_64_step", loaded.step) || !resolve(library, "_ULx86_64_get_reg", loaded.get_reg) ||
        !resolve(library, "_ULx86_64_set_caching_policy", loaded.set_caching_policy) ||
        !resolve(library, "_ULx86_64_local_addr_space", loaded.local_addr_space)) {
        return false;
    }
    g_libunwind = loaded;
    return true;
}

// Step methods of return addresses, direct-mapped: `key` is the address and `value`
// packs the method, the rule and a tag of the address. A reader accepts an entry
// only when both match, so a race between two writers of one slot costs a lookup,
// not a wrong rule.
struct CachedStep {
    std::atomic<uint64_t> key;
    std::atomic<uint64_t> value;
};
constexpr size_t kStepCacheBits = 12;
CachedStep g_step_cache[size_t{1} << kStepCacheBits];

uint64_t address_hash(uintptr_t address) { return address * 0x9e3779b97f4a7c15ull; }

// Layout of a value: method in bits 0-2, cfa_is_rbp in bit 3, rbp_saved in bit 4,
// cfa_offset in bits 8-31, rbp_offset (signed) in bits 32-47, tag in bits 48-63.
bool pack_step(StepMethod method, const FrameRule& rule, uint64_t tag, uint64_t& value) {
    value = static_cast<uint64_t>(method) | (tag << 48);
    if (method != StepMethod::Rule) return true;
    if (rule.cfa_offset <= 0 || rule.cfa_offset >= (int64_t{1} << 24)) return false;
    if (rule.rbp_offset < -(int64_t{1} << 15) || rule.rbp_offset >= (int64_t{1} << 15)) return false;
    value |= (rule.cfa_is_rbp ? uint64_t{1} << 3 : 0) | (rule.rbp_saved ? uint64_t{1} << 4 : 0);
    value |= static_cast<uint64_t>(rule.cfa_offset) << 8;
    value |= (static_cast<uint64_t>(rule.rbp_offset) & 0xffff) << 32;
    return true;
}

StepMethod unpack_step(uint64_t value, FrameRule& rule) {
    rule.cfa_is_rbp = (value & (uint64_t{1} << 3)) != 0;
    rule.rbp_saved = (value & (uint64_t{1} << 4)) != 0;
    rule.cfa_offset = static_cast<int64_t>((value >> 8) & 0xffffff);
    rule.rbp_offset = static_cast<int16_t>((value >> 32) & 0xffff);
    return static_cast<StepMethod>(value & 7);
}

// Returns the step method for the frame at `ip`. A return address is looked up at
// ip - 1, because the call may be the function's last instruction. The frame a
// signal interrupted resumes exactly at ip, so it is looked up there and not cached.
StepMethod cached_step_method(uintptr_t ip, bool exact, FrameRule& rule) {
    if (exact) return step_method(ip, rule);
    const uint64_t hash = address_hash(ip);
    CachedStep& slot = g_step_cache[hash >> (64 - kStepCacheBits)];
    const uint64_t tag = (hash >> 16) & 0xffff;
    if (slot.key.load(std::memory_order_acquire) == ip) {
        const uint64_t value = slot.value.load(std::memory_order_acquire);
        if ((value >> 48) == tag && slot.key.load(std::memory_order_acquire) == ip) return unpack_step(value, rule);
    }
    const StepMethod method = step_method(ip - 1, rule);
    uint64_t value = 0;
    if (pack_step(method, rule, tag, value)) {
        slot.key.store(0, std::memory_order_release);
        slot.value.store(value, std::memory_order_release);
        slot.key.store(ip, std::memory_order_release);
    }
    return method;
}

// One frame of the walk: the code address and the registers a step needs, as they
// are when control is back in that frame. `exact` marks a frame a signal interrupted.
struct FrameState {
    uintptr_t ip;
    uintptr_t sp;
    uintptr_t fp;
    bool exact;
};

// The caller's CFA must lie above the stack pointer, inside the stack and at most
// max_frame_bytes away.
bool valid_caller_sp(uintptr_t caller_sp, const FrameState& state, const WalkLimits& limits) {
    return caller_sp > state.sp && caller_sp <= limits.high && caller_sp - state.sp <= limits.max_frame_bytes &&
           (caller_sp & 7) == 0;
}

// Steps to the caller through the frame record `state.fp` points at. The record must
// lie at or above the stack pointer, inside the stack, 8-byte aligned and at most
// max_frame_bytes above the stack pointer.
bool step_frame_record(FrameState& state, const WalkLimits& limits) {
    const uintptr_t frame = state.fp;
    const uintptr_t floor = state.sp > limits.low ? state.sp : limits.low;
    if (frame < floor || frame > limits.high - 2 * sizeof(uintptr_t) || (frame & 7) != 0) return false;
    if (frame - floor > limits.max_frame_bytes) return false;
    const auto* record = reinterpret_cast<const uintptr_t*>(frame);
    state = {record[1], frame + 2 * sizeof(uintptr_t), record[0], false};
    return true;
}

// Steps to the caller by a rule read from the call frame information. Every slot it
// reads lies between the stack pointer and the caller's CFA.
bool step_rule(FrameState& state, const FrameRule& rule, const WalkLimits& limits) {
    const uintptr_t base = rule.cfa_is_rbp ? state.fp : state.sp;
    const uintptr_t cfa = base + static_cast<uintptr_t>(rule.cfa_offset);
    if (!valid_caller_sp(cfa, state, limits) || cfa - state.sp < sizeof(uintptr_t)) return false;
    const uintptr_t return_address = *reinterpret_cast<const uintptr_t*>(cfa - sizeof(uintptr_t));
    uintptr_t fp = state.fp;
    if (rule.rbp_saved) {
        const uintptr_t slot = cfa + static_cast<uintptr_t>(rule.rbp_offset);
        if (slot < state.sp || slot > cfa - sizeof(uintptr_t) || (slot & 7) != 0) return false;
        fp = *reinterpret_cast<const uintptr_t*>(slot);
    }
    state = {return_address, cfa, fp, false};
    return true;
}

// libunwind's cursor, for the frames whose call frame information the rule reader
// does not follow (signal frames, CFA expressions). It starts from a register set
// built from the walk's state, so libunwind reads only what that frame's unwind
// rules name, relative to checked registers. It is only stepped from frames that
// have an FDE.
// NOTE: where libunwind finds no FDE itself, it guesses a frame chain and checks
// addresses by writing them to a pipe it opened at start-up. A host that closed and
// reused that descriptor would lose one byte to the check.
class LibunwindSteps {
public:
    bool active() const { return active_; }
    void stop() { active_ = false; }

    bool start(const FrameState& state) {
        if (g_libunwind.init_local == nullptr) return false;
        std::memset(&context_, 0, sizeof(context_));
#if defined(__x86_64__)
        context_.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(state.ip);
        context_.uc_mcontext.gregs[REG_RSP] = static_cast<greg_t>(state.sp);
        context_.uc_mcontext.gregs[REG_RBP] = static_cast<greg_t>(state.fp);
#else
        return false;
#endif
        // NOTE: unw_init_local treats the address as a return address (it looks up
        // ip - 1), which is off by one for a frame a signal interrupted.
        active_ = g_libunwind.init_local(&cursor_, &context_) == 0;
        return active_;
    }

    // Steps to the caller. Returns false at the end of the stack or on any doubt.
    bool step(FrameState& state, const WalkLimits& limits, bool from_signal_frame) {
        if (g_libunwind.step(&cursor_) <= 0) return false;
        unw_word_t ip = 0;
        unw_word_t sp = 0;
        unw_word_t fp = 0;
        if (g_libunwind.get_reg(&cursor_, UNW_REG_IP, &ip) != 0 || g_libunwind.get_reg(&cursor_, UNW_REG_SP, &sp) != 0) {
            return false;
        }
#if defined(__x86_64__)
        g_libunwind.get_reg(&cursor_, UNW_X86_64_RBP, &fp);
#endif
        if (!valid_caller_sp(sp, state, limits)) return false;
        state = {ip, sp, fp, from_signal_frame};
        return true;
    }

private:
    unw_context_t context_;
    unw_cursor_t cursor_;
    bool active_ = false;
};

}  // namespace

void forget_step_methods() {
    for (CachedStep& slot : g_step_cache) slot.key.store(0, std::memory_order_release);
}

size_t walk_stack(uintptr_t frame_pointer, const WalkLimits& limits, uint64_t* frames, size_t max_frames) {
    FrameState state{0, frame_pointer, frame_pointer, false};
    if (!step_frame_record(state, limits)) return 0;

    LibunwindSteps libunwind;
    size_t count = 0;
    bool leading = true;
    while (count < max_frames && state.ip != 0) {
        const bool in_agent = state.ip >= limits.skip_begin && state.ip < limits.skip_end;
        if (!leading || !in_agent) {
            leading = false;
            frames[count++] = state.ip;
            if (count == max_frames) break;
        }

        FrameRule rule{};
        const StepMethod method = cached_step_method(state.ip, state.exact, rule);
        bool stepped = false;
        switch (method) {
            case StepMethod::FrameRecord:
                libunwind.stop();
                stepped = step_frame_record(state, limits);
                break;
            case StepMethod::Rule:
                libunwind.stop();
                stepped = step_rule(state, rule, limits);
                break;
            case StepMethod::SignalFrame:
            case StepMethod::Libunwind:
                if (!libunwind.active() && !libunwind.start(state)) break;
                stepped = libunwind.step(state, limits, method == StepMethod::SignalFrame);
                break;
            case StepMethod::Outermost:
                break;
        }
        if (!stepped) break;
    }
    return count;
}

__attribute__((noinline)) void init_stack_walk() {
    auto own_address = reinterpret_cast<uintptr_t>(&init_stack_walk);
    dl_iterate_phdr(find_agent_code, &own_address);

    if (!load_libunwind()) return;
    // Without a cache libunwind takes no lock (its global cache uses a mutex that a
    // fork could leave held in the child) and keeps no thread-local state.
    g_libunwind.set_caching_policy(*g_libunwind.local_addr_space, UNW_CACHE_NONE);
    // Warm-up outside any hook: libunwind's one-time set-up (which opens a pipe and
    // reads the environment) and libgcc's first FDE lookup run here, on this
    // function's own frame record.
    const auto frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    const auto* record = reinterpret_cast<const uintptr_t*>(frame);
    FrameState state{record[1], frame + 2 * sizeof(uintptr_t), record[0], false};
    const WalkLimits limits{frame, UINTPTR_MAX, 0, 0, kMaxFrameBytes};
    FrameRule rule{};
    step_method(state.ip - 1, rule);
    LibunwindSteps libunwind;
    if (libunwind.start(state)) libunwind.step(state, limits, false);
}

__attribute__((noinline)) size_t capture_stack(uint64_t* frames, size_t max_frames) {
    ThreadState& thread = t_thread;
    const auto frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    if (thread.stack_state == 0) read_stack_bounds(thread, frame);
    // A frame outside the recorded bounds runs on another stack (sigaltstack, a
    // coroutine), whose extent is unknown: nothing is read there.
    if (thread.stack_state != 1 || frame < thread.stack_low || frame >= thread.stack_high) return 0;

    const WalkLimits limits{frame, thread.stack_high, g_agent_begin, g_agent_end, kMaxFrameBytes};
    return walk_stack(frame, limits, frames, max_frames);
}

bool find_mapping(uintptr_t address, uintptr_t& start, uintptr_t& end, bool& is_main_stack) {
    const int fd = open_maps();
    if (fd < 0) return false;

    // Lines are parsed from a stack buffer; a line longer than the buffer (a long
    // path) keeps only its beginning, which contains the range.
    char buffer[2048];
    size_t used = 0;
    bool skipping_rest = false;
    bool found = false;
    for (;;) {
        const long got = syscall(SYS_read, fd, buffer + used, sizeof(buffer) - used);
        if (got <= 0) break;
        used += static_cast<size_t>(got);

        size_t line_start = 0;
        for (size_t i = 0; i < used && !found; ++i) {
            if (buffer[i] != '\n') continue;
            const char* line = buffer + line_start;
            const size_t length = i - line_start;
            line_start = i + 1;
            if (skipping_rest) {
                skipping_rest = false;
                continue;
            }
            uintptr_t line_start_address = 0;
            uintptr_t line_end_address = 0;
            if (parse_range(line, length, line_start_address, line_end_address) && address >= line_start_address &&
                address < line_end_address) {
                start = line_start_address;
                end = line_end_address;
                is_main_stack = ends_with_stack_name(line, length);
                found = true;
            }
        }
        if (found) break;
        if (line_start == 0 && used == sizeof(buffer)) {
            // One line fills the buffer: test its beginning, then drop the rest of it.
            uintptr_t line_start_address = 0;
            uintptr_t line_end_address = 0;
            if (!skipping_rest && parse_range(buffer, used, line_start_address, line_end_address) &&
                address >= line_start_address && address < line_end_address) {
                start = line_start_address;
                end = line_end_address;
                is_main_stack = false;
                found = true;
                break;
            }
            skipping_rest = true;
            used = 0;
            continue;
        }
        std::memmove(buffer, buffer + line_start, used - line_start);
        used -= line_start;
    }
    syscall(SYS_close, fd);
    return found;
}

}  // namespace routeheap::agent
