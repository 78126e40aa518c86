// Hook of dlclose, so a module's ModuleLoad is written before it goes away and its
// ModuleUnload right after.
//
// NOTE: dlopen is not interposed. glibc's dlopen searches the caller's DT_RUNPATH
// and $ORIGIN, and finds the caller by return address, so a wrapper would change
// which library a host loads. The writer thread notices new modules through the
// loader's load counter instead, at every flush (ROUTEHEAP_FLUSH_MS).
#include "modules.h"
#include "real_functions.h"
#include "record_sink.h"
#include "stack_walk.h"
#include "thread_state.h"

namespace ra = routeheap::agent;

ROUTEHEAP_EXPORT int dlclose(void* handle) noexcept {
    // The real dlclose runs outside any agent scope: the destructors it runs free
    // memory that the counters must see.
    const bool scan = !ra::t_thread.in_hook && !ra::t_thread.internal && ra::recording();
    if (scan) {
        ra::InternalScope internal;
        ra::scan_modules();
    }
    const int result = ra::real().dlclose(handle);
    // A module loaded later at the same addresses must not inherit the unloaded
    // module's unwind rules.
    if (result == 0) ra::forget_step_methods();
    if (scan) {
        ra::ErrnoSaver errno_saver;
        ra::InternalScope internal;
        ra::scan_modules();
    }
    return result;
}
