// Weak stand-ins for the connection tracker (connections.h), so the agent links and
// records memory even in a build without connections.cpp. The tracker's strong
// definitions replace them. With these alone, no socket is ever tracked.
#include "connections.h"

namespace routeheap::agent::net {

__attribute__((weak)) bool is_tracked(int) { return false; }
__attribute__((weak)) void on_accept(int, int) {}
__attribute__((weak)) void on_read(int, const struct iovec*, int, ssize_t, int) {}
__attribute__((weak)) void on_write(int, const struct iovec*, int, ssize_t, int) {}
__attribute__((weak)) void on_shutdown(int, int) {}
__attribute__((weak)) void on_close(int) {}
__attribute__((weak)) void on_process_exit() {}

}  // namespace routeheap::agent::net
