// Module maps: a diff of dl_iterate_phdr against the modules already written.
#include "modules.h"

#include "record_sink.h"
#include "spin_lock.h"

#include <elf.h>
#include <link.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace routeheap::agent {

namespace {

// Node loads about 15 objects; native addons add a few each.
constexpr size_t kMaxModules = 4096;
constexpr size_t kMaxBuildIdBytes = 64;

struct Module {
    uintptr_t load_bias;
    uintptr_t start;
    bool seen;
};

// Guarded by g_modules_lock.
Module g_modules[kMaxModules];
size_t g_module_count = 0;
unsigned long long g_last_adds = 0;
unsigned long long g_last_subs = 0;
SpinLock g_modules_lock;
std::atomic<bool> g_scanned{false};  // the first scan of this trace is done

struct LoadRecord {
    trace::ModuleLoad record;
    uint8_t tail[kMaxBuildIdBytes + trace::kMaxPathBytes];
};

size_t align4(size_t value) { return (value + 3) & ~size_t{3}; }

// Copies the GNU build-id from the object's PT_NOTE segments, which are mapped.
size_t read_build_id(const dl_phdr_info* info, uint8_t* out) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
        if (segment.p_type != PT_NOTE) continue;
        const auto* notes = reinterpret_cast<const uint8_t*>(info->dlpi_addr + segment.p_vaddr);
        size_t offset = 0;
        while (offset + sizeof(ElfW(Nhdr)) <= segment.p_memsz) {
            ElfW(Nhdr) note;
            std::memcpy(&note, notes + offset, sizeof(note));
            const size_t name_offset = offset + sizeof(note);
            const size_t desc_offset = name_offset + align4(note.n_namesz);
            const size_t next = desc_offset + align4(note.n_descsz);
            if (next > segment.p_memsz) break;
            if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
                std::memcmp(notes + name_offset, "GNU", 4) == 0 && note.n_descsz <= kMaxBuildIdBytes) {
                std::memcpy(out, notes + desc_offset, note.n_descsz);
                return note.n_descsz;
            }
            offset = next;
        }
    }
    return 0;
}

// The path of the object: the loader's name, or the executable's for the main
// program, whose name the loader leaves empty.
size_t read_path(const dl_phdr_info* info, char* out) {
    const char* name = info->dlpi_name;
    if (name != nullptr && name[0] != '\0') {
        const size_t length = strnlen(name, trace::kMaxPathBytes);
        std::memcpy(out, name, length);
        return length;
    }
    const ssize_t length = readlink("/proc/self/exe", out, trace::kMaxPathBytes);
    return length > 0 ? static_cast<size_t>(length) : 0;
}

void write_module_load(const dl_phdr_info* info, uintptr_t start, uintptr_t end) {
    LoadRecord load{};
    const size_t build_id_length = read_build_id(info, load.tail);
    const size_t path_length = read_path(info, reinterpret_cast<char*>(load.tail + build_id_length));
    const size_t size = sizeof(trace::ModuleLoad) + build_id_length + path_length;
    load.record.header = {static_cast<uint16_t>(trace::RecordType::ModuleLoad), static_cast<uint16_t>(size)};
    load.record.path_length = static_cast<uint16_t>(path_length);
    load.record.build_id_length = static_cast<uint16_t>(build_id_length);
    load.record.time_ns = now_ns();
    load.record.load_bias = info->dlpi_addr;
    load.record.start = start;
    load.record.end = end;
    emit_record(&load, size);
}

void write_module_unload(uintptr_t load_bias) {
    trace::ModuleUnload unload{};
    unload.header = {static_cast<uint16_t>(trace::RecordType::ModuleUnload), sizeof(unload)};
    unload.time_ns = now_ns();
    unload.load_bias = load_bias;
    emit_record(&unload, sizeof(unload));
}

int visit_module(dl_phdr_info* info, size_t size, void*) {
    if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        g_last_adds = info->dlpi_adds;
        g_last_subs = info->dlpi_subs;
    }
    uintptr_t start = UINTPTR_MAX;
    uintptr_t end = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
        if (segment.p_type != PT_LOAD) continue;
        const uintptr_t segment_start = info->dlpi_addr + segment.p_vaddr;
        if (segment_start < start) start = segment_start;
        if (segment_start + segment.p_memsz > end) end = segment_start + segment.p_memsz;
    }
    if (end == 0) return 0;

    for (size_t i = 0; i < g_module_count; ++i) {
        if (g_modules[i].load_bias == info->dlpi_addr && g_modules[i].start == start) {
            g_modules[i].seen = true;
            return 0;
        }
    }
    if (g_module_count == kMaxModules) return 0;
    g_modules[g_module_count++] = Module{info->dlpi_addr, start, true};
    write_module_load(info, start, end);
    return 0;
}

int read_counts(dl_phdr_info* info, size_t size, void* data) {
    auto* counts = static_cast<unsigned long long*>(data);
    if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
        counts[0] = info->dlpi_adds;
        counts[1] = info->dlpi_subs;
    }
    return 1;  // the counts are the same in every entry
}

}  // namespace

void scan_modules() {
    if (!recording()) return;
    SpinLockGuard guard(g_modules_lock);
    for (size_t i = 0; i < g_module_count; ++i) g_modules[i].seen = false;
    dl_iterate_phdr(visit_module, nullptr);

    size_t kept = 0;
    for (size_t i = 0; i < g_module_count; ++i) {
        if (g_modules[i].seen) {
            g_modules[kept++] = g_modules[i];
        } else {
            write_module_unload(g_modules[i].load_bias);
        }
    }
    g_module_count = kept;
    g_scanned.store(true, std::memory_order_release);
}

void wait_for_first_module_scan(unsigned timeout_ms) {
    const uint64_t deadline = now_ns() + uint64_t{timeout_ms} * 1000000;
    while (!g_scanned.load(std::memory_order_acquire) && recording() && now_ns() < deadline) sched_yield();
}

void scan_modules_if_changed() {
    bool changed;
    {
        // dl_iterate_phdr runs under the modules lock so that lock_modules_for_fork keeps
        // every agent thread out of the loader's lock while the process forks.
        SpinLockGuard guard(g_modules_lock);
        unsigned long long counts[2] = {0, 0};
        dl_iterate_phdr(read_counts, counts);
        changed = counts[0] != g_last_adds || counts[1] != g_last_subs;
    }
    if (changed) scan_modules();
}

// A child forked while an agent thread was inside dl_iterate_phdr would inherit the
// loader's lock held by a thread that does not exist there, and its own module scan at
// exit would wait forever. Holding the modules lock across fork rules that out.
void lock_modules_for_fork() { g_modules_lock.lock(); }

void unlock_modules_after_fork_in_parent() { g_modules_lock.unlock(); }

void modules_after_fork_child() {
    g_modules_lock.reset_after_fork();
    g_module_count = 0;
    g_scanned.store(false);
    g_last_adds = 0;
    g_last_subs = 0;
}

}  // namespace routeheap::agent
