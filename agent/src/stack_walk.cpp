// Frame-pointer stack capture and the per-thread stack bounds it is checked against.
#include "stack_walk.h"

#include "thread_state.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

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

size_t walk_frame_pointers(uintptr_t frame_pointer, const WalkLimits& limits, uint64_t* frames,
                           size_t max_frames) {
    size_t count = 0;
    bool leading = true;
    uintptr_t frame = frame_pointer;
    while (count < max_frames) {
        if (frame < limits.low || frame > limits.high - 2 * sizeof(uintptr_t) || (frame & 7) != 0) break;
        const auto* record = reinterpret_cast<const uintptr_t*>(frame);
        const uintptr_t caller_frame = record[0];
        const uintptr_t return_address = record[1];
        if (return_address == 0) break;

        const bool in_agent = return_address >= limits.skip_begin && return_address < limits.skip_end;
        if (!leading || !in_agent) {
            leading = false;
            frames[count++] = return_address;
        }
        if (caller_frame <= frame || caller_frame - frame > limits.max_frame_bytes) break;
        frame = caller_frame;
    }
    return count;
}

void init_stack_walk() {
    auto own_address = reinterpret_cast<uintptr_t>(&init_stack_walk);
    dl_iterate_phdr(find_agent_code, &own_address);
}

__attribute__((noinline)) size_t capture_stack(uint64_t* frames, size_t max_frames) {
    ThreadState& thread = t_thread;
    const auto frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    if (thread.stack_state == 0) read_stack_bounds(thread, frame);
    // A frame outside the recorded bounds runs on another stack (sigaltstack, a
    // coroutine), whose extent is unknown: nothing is read there.
    if (thread.stack_state != 1 || frame < thread.stack_low || frame >= thread.stack_high) return 0;

    const WalkLimits limits{frame, thread.stack_high, g_agent_begin, g_agent_end, kMaxFrameBytes};
    return walk_frame_pointers(frame, limits, frames, max_frames);
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
