// The recorder's entry points used by the HTTP connection tracker (connections.cpp):
// how framing events become trace records. Implemented by the recorder.
//
// Thread-safety: every function may be called from any hooked thread at any time,
// including concurrently. None of them blocks, allocates, locks or does stdio.
#pragma once

#include <routeheap/trace_format.h>

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// CLOCK_MONOTONIC in nanoseconds (the time base of every record).
uint64_t now_ns();

// False once recording stopped (disabled, failed, or not configured). Callers check
// it before doing framing work so a disabled agent costs one load per call.
bool recording();

// Copies one complete record (it starts with a filled trace::RecordHeader whose size
// equals `size`) into the calling thread's buffer. Returns false when the record was
// dropped because the buffer is full or recording stopped; drops are counted.
bool emit_record(const void* record, size_t size);

// Reads the counters now (RSS included) into a CounterSample whose peaks cover the time
// since the previous sample, and resets the peaks to the current values. The caller
// emits it, alone or inside a compact record. Returns false when recording stopped.
bool read_counter_sample(trace::SampleReason reason, uint64_t connection_id, uint64_t time_ns,
                         trace::CounterSample& sample);

// read_counter_sample() and emit_record() of the sample.
void emit_counter_sample(trace::SampleReason reason, uint64_t connection_id, uint64_t time_ns);

// Tell the writer thread that a request opened or closed, so it samples RSS every
// ROUTEHEAP_SAMPLE_MS while requests are open or starting.
void request_opened();
void request_closed();

}  // namespace routeheap::agent
