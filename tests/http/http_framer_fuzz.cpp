// libFuzzer target for the HTTP/1.1 framer. The input is a script of socket calls, so
// the fuzzer explores split reads, iovec layouts, partial and refused writes as well
// as the bytes themselves. http_framer_fuzz_test.cpp runs the same entry point on
// seeded inputs in every CTest run.
//
// Script format, repeated until the input ends:
//   op      bits 0-1: 0 or 3 read, 1 write, 2 read EOF
//           bits 2-3: number of iovecs minus one (the data is cut into equal parts)
//           bits 4-6: write result: 0-4 all accepted, 5 half accepted, 6 EAGAIN, 7 EPIPE
//           bit 7:    the length takes two bytes
//   length  one byte (or two, little-endian) plus one
//   data    `length` bytes (fewer at the end of the input)
// The connection then ends with an outcome taken from the first input byte.
#include "http_framer.h"
#include "recording_events.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {

using routeheap::agent::http::Framer;
using routeheap::agent::http::testing::RecordingEvents;
using routeheap::trace::RequestOutcome;

void fail_if_broken(const RecordingEvents& events) {
    if (events.violations.empty()) return;
    std::fprintf(stderr, "http framer contract broken: %s\n", events.violations.front().c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Framer* framer = new Framer;  // reused: a few KiB, reset per input
    framer->reset(1);
    RecordingEvents events;
    uint64_t time_ns = 1;

    size_t at = 0;
    while (at < size) {
        uint8_t op = data[at++];
        if (at >= size) break;
        size_t length = data[at++];
        if ((op & 0x80) && at < size) length |= static_cast<size_t>(data[at++]) << 8;
        length += 1;
        if (length > size - at) length = size - at;
        const uint8_t* bytes = data + at;
        at += length;

        iovec iov[4];
        int iovcnt = ((op >> 2) & 3) + 1;
        size_t part = length / static_cast<size_t>(iovcnt);
        for (int i = 0; i < iovcnt; ++i) {
            size_t start = part * static_cast<size_t>(i);
            size_t end = i + 1 == iovcnt ? length : start + part;
            iov[i].iov_base = const_cast<uint8_t*>(bytes + start);
            iov[i].iov_len = end - start;
        }

        int kind = op & 3;
        if (kind == 2) {
            framer->on_read_eof(time_ns++, events);
        } else if (kind == 1) {
            int mode = (op >> 4) & 7;
            ssize_t result = static_cast<ssize_t>(length);
            int saved_errno = 0;
            if (mode == 5) result = static_cast<ssize_t>(length / 2);
            if (mode == 6) result = -1, saved_errno = EAGAIN;
            if (mode == 7) result = -1, saved_errno = EPIPE;
            framer->on_write(iov, iovcnt, result, saved_errno, time_ns++, events);
        } else if (length > 0) {
            framer->on_read(iov, iovcnt, length, time_ns++, events);
        }
        fail_if_broken(events);
    }

    RequestOutcome outcome = size > 0 && (data[0] & 0x40) ? RequestOutcome::ProcessExit
                                                          : RequestOutcome::ConnectionClosed;
    framer->on_connection_end(outcome, time_ns, events);
    fail_if_broken(events);
    if (events.open_requests() != 0) {
        std::fprintf(stderr, "http framer contract broken: %u requests never ended\n", events.open_requests());
        std::abort();
    }
    return 0;
}
