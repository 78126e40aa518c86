// Hooks of the mapping calls V8 uses for its heap: reserve with mmap(PROT_NONE),
// commit with mprotect(PROT_READ|PROT_WRITE), release with munmap, madvise or
// mmap(MAP_FIXED, PROT_NONE).
#include "counters.h"
#include "real_functions.h"
#include "thread_state.h"

#include <sys/mman.h>

namespace ra = routeheap::agent;

ROUTEHEAP_EXPORT void* mmap(void* address, size_t length, int prot, int flags, int fd, off_t offset) noexcept {
    ra::HookScope scope;
    void* result = ra::real().mmap(address, length, prot, flags, fd, offset);
    ra::count_mmap(scope, result, length, prot, flags);
    return result;
}

ROUTEHEAP_EXPORT void* mmap64(void* address, size_t length, int prot, int flags, int fd, off64_t offset) noexcept {
    ra::HookScope scope;
    void* result = ra::real().mmap64(address, length, prot, flags, fd, offset);
    ra::count_mmap(scope, result, length, prot, flags);
    return result;
}

ROUTEHEAP_EXPORT int munmap(void* address, size_t length) noexcept {
    ra::HookScope scope;
    ra::count_munmap(scope, address, length);
    return ra::real().munmap(address, length);
}

ROUTEHEAP_EXPORT void* mremap(void* old_address, size_t old_length, size_t new_length, int flags, ...) noexcept {
    // The fifth argument exists only with MREMAP_FIXED; reading it is harmless otherwise.
    __builtin_va_list arguments;
    __builtin_va_start(arguments, flags);
    void* new_address = __builtin_va_arg(arguments, void*);
    __builtin_va_end(arguments);

    ra::HookScope scope;
    const ra::MremapTicket ticket = ra::begin_mremap(scope, old_address, old_length);
    void* result = ra::real().mremap(old_address, old_length, new_length, flags, new_address);
    ra::finish_mremap(scope, ticket, result, new_length);
    return result;
}

ROUTEHEAP_EXPORT int mprotect(void* address, size_t length, int prot) noexcept {
    ra::HookScope scope;
    const int result = ra::real().mprotect(address, length, prot);
    if (result == 0) ra::count_mprotect(scope, address, length, prot);
    return result;
}

ROUTEHEAP_EXPORT int madvise(void* address, size_t length, int advice) noexcept {
    ra::HookScope scope;
    const int result = ra::real().madvise(address, length, advice);
    if (result == 0) ra::count_madvise(scope, address, length, advice);
    return result;
}
