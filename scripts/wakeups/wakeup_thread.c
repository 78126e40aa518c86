// A preload for scripts/bench-wakeups.sh: starts one thread in the host that sleeps for
// WAKEUP_INTERVAL_US microseconds (a compile-time constant) in a loop and does nothing else.
// It stands for a profiler's background thread with no work at all, so a benchmark can show
// what the wake-ups alone cost the host.
#include <pthread.h>
#include <time.h>

#ifndef WAKEUP_INTERVAL_US
#error "compile with -DWAKEUP_INTERVAL_US=N"
#endif

static void* sleep_in_a_loop(void* unused) {
    (void)unused;
    const struct timespec interval = {WAKEUP_INTERVAL_US / 1000000, (WAKEUP_INTERVAL_US % 1000000) * 1000};
    for (;;) nanosleep(&interval, NULL);
    return NULL;
}

__attribute__((constructor)) static void start_thread(void) {
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_create(&thread, &attributes, sleep_in_a_loop, NULL);
    pthread_attr_destroy(&attributes);
}
