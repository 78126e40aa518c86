// Allocation sites behind frames without frame pointers and behind signal frames,
// for the stack tests of the libunwind fallback. Functions here keep frame
// pointers; unwind_sites_nofp.c is built without them.
//   unwind_sites omit-frame-pointer|rbp-as-register|signal|timer
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

// From unwind_sites_nofp.c.
void* allocate_without_frame_pointer(size_t size);
void* allocate_with_rbp_as_register(size_t size);
void spin_without_frame_pointer(volatile int* stop);

enum { kCalls = 100 };

void* volatile g_sink;

__attribute__((noinline)) int call_through_no_frame_pointer(void) {
    for (int i = 0; i < kCalls; ++i) {
        void* block = allocate_without_frame_pointer(3001);
        if (block == NULL) return 1;
        free(block);
    }
    return 0;
}

__attribute__((noinline)) int call_through_rbp_as_register(void) {
    for (int i = 0; i < kCalls; ++i) {
        void* block = allocate_with_rbp_as_register(3002);
        if (block == NULL) return 1;
        free(block);
    }
    return 0;
}

static volatile sig_atomic_t g_handled;

// Allocating in a handler is unsafe in general; here the interrupted code never
// allocates, so the test stays well defined.
__attribute__((noinline)) static void allocating_handler(int signal_number) {
    void* block = malloc(signal_number == SIGUSR1 ? 3003 : 3004);
    g_sink = block;
    free(block);
    ++g_handled;
}

__attribute__((noinline)) int raise_signals(void) {
    for (int i = 0; i < kCalls; ++i) {
        if (raise(SIGUSR1) != 0) return 1;
    }
    return 0;
}

// Spins in a function without a frame pointer while a 1 ms timer interrupts it.
__attribute__((noinline)) int spin_under_timer(void) {
    volatile int stop = 0;
    struct itimerval interval = {{0, 1000}, {0, 1000}};
    if (setitimer(ITIMER_REAL, &interval, NULL) != 0) return 1;
    while (g_handled < 20) spin_without_frame_pointer(&stop);
    struct itimerval off;
    memset(&off, 0, sizeof(off));
    setitimer(ITIMER_REAL, &off, NULL);
    return 0;
}

static int install(int signal_number) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = allocating_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sigaction(signal_number, &action, NULL);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: unwind_sites omit-frame-pointer|rbp-as-register|signal|timer\n");
        return 2;
    }
    const char* mode = argv[1];
    int result;
    if (strcmp(mode, "omit-frame-pointer") == 0) {
        result = call_through_no_frame_pointer();
    } else if (strcmp(mode, "rbp-as-register") == 0) {
        result = call_through_rbp_as_register();
    } else if (strcmp(mode, "signal") == 0) {
        result = install(SIGUSR1) != 0 ? 1 : raise_signals();
    } else if (strcmp(mode, "timer") == 0) {
        result = install(SIGALRM) != 0 ? 1 : spin_under_timer();
    } else {
        fprintf(stderr, "unwind_sites: unknown mode '%s'\n", mode);
        return 2;
    }
    if (result == 0) puts("done");
    return result;
}
