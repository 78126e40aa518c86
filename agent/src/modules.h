// The loaded ELF objects of the process, written as ModuleLoad and ModuleUnload
// records so the analyzer can map return addresses to files and build-ids.
//
// Thread-safety: every function takes the module lock and then calls
// dl_iterate_phdr, which takes the loader's lock. Nothing takes them in the other
// order, because no hook calls into this unit. Never call these from a malloc,
// mmap or socket hook, or while holding another agent lock.
#pragma once

namespace routeheap::agent {

// Compares the loaded objects with the list already written and writes a
// ModuleLoad for each new one and a ModuleUnload for each one that is gone.
void scan_modules();

// Waits up to `timeout_ms` for the first scan of this trace (done by the writer
// thread when it starts), so a process that exits at once still writes its modules.
// Calls no loader function itself, so the exit paths may use it.
void wait_for_first_module_scan(unsigned timeout_ms);

// Rescans when the loader's count of loads or unloads changed since the last scan.
// Costs one dl_iterate_phdr callback otherwise.
void scan_modules_if_changed();

// Taken before fork and released after it (in the child, modules_after_fork_child
// resets the lock), so that no agent thread is inside dl_iterate_phdr at the fork.
void lock_modules_for_fork();
void unlock_modules_after_fork_in_parent();

// In a forked child: clears the list of written modules, so the child's trace gets
// every module again.
void modules_after_fork_child();

}  // namespace routeheap::agent
