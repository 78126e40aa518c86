// The writer thread's choice between the busy and the idle sampling interval.
#include "sample_schedule.h"

#include <gtest/gtest.h>

namespace routeheap::agent {
namespace {

constexpr uint64_t kBusy = 10;
constexpr uint64_t kIdle = 1000;
constexpr uint64_t kStart = 5000;

TEST(SampleSchedule, IdleWithoutRequests) {
    const SampleSchedule schedule(kBusy, kIdle, kStart);
    EXPECT_EQ(schedule.due_ns(0, 0, 0), kStart + kIdle);
}

TEST(SampleSchedule, StartedRequestMakesItBusy) {
    const SampleSchedule schedule(kBusy, kIdle, kStart);
    EXPECT_EQ(schedule.due_ns(1, 1, 0), kStart + kBusy);
}

TEST(SampleSchedule, OpenRequestKeepsItBusy) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    schedule.sampled(kStart + 10, 1);
    schedule.sampled(kStart + 20, 1);
    EXPECT_EQ(schedule.due_ns(1, 0, 0), kStart + 20 + kBusy);
}

// Under steady keep-alive load the writer looks again right after a sample, before any new
// request started. That look must not choose the idle interval.
TEST(SampleSchedule, BusyRightAfterSample) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    EXPECT_EQ(schedule.due_ns(40, 40, 0), kStart + kBusy);
    schedule.sampled(kStart + 10, 40);
    EXPECT_EQ(schedule.due_ns(40, 40, 0), kStart + 10 + kBusy);
    schedule.sampled(kStart + 20, 90);
    EXPECT_EQ(schedule.due_ns(90, 90, 0), kStart + 20 + kBusy);
}

TEST(SampleSchedule, IdleAfterTwoQuietSamples) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    schedule.sampled(kStart + 10, 40);
    schedule.sampled(kStart + 20, 40);
    EXPECT_EQ(schedule.due_ns(40, 40, 0), kStart + 20 + kIdle);
}

// In the idle interval the writer still looks at every flush. A request that started since
// the sample before the last one makes the next sample due at once.
TEST(SampleSchedule, NewRequestEndsIdleInterval) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    schedule.sampled(kStart + 10, 40);
    schedule.sampled(kStart + 20, 40);
    EXPECT_EQ(schedule.due_ns(41, 41, 0), kStart + 20 + kBusy);
}

// A request sample is a point of the timeline too: the next periodic sample is due one
// interval after it, and only while requests are open.
TEST(SampleSchedule, RequestSampleMovesDueTime) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    schedule.sampled(kStart + 10, 40);
    EXPECT_EQ(schedule.due_ns(41, 40, kStart + 15), kStart + 15 + kBusy);
    EXPECT_EQ(schedule.due_ns(41, 40, kStart + 5), kStart + 10 + kBusy);
    schedule.sampled(kStart + 20, 41);
    schedule.sampled(kStart + 30, 41);
    EXPECT_EQ(schedule.due_ns(41, 41, kStart + 35), kStart + 30 + kIdle);
}

// While request samples come after the last periodic one, the writer looks again at its next
// flush, not at every interval. Once they stop, it looks when the sample is due.
TEST(SampleSchedule, RequestSamplesDeferWakeToFlush) {
    constexpr uint64_t kFlush = 50;
    SampleSchedule schedule(kBusy, kIdle, kStart);
    schedule.sampled(kStart + 10, 40);
    EXPECT_EQ(schedule.wake_ns(41, 40, kStart + 12, kStart + kFlush), kStart + kFlush);
    EXPECT_EQ(schedule.due_ns(41, 40, kStart + 49), kStart + 49 + kBusy);
    // A due time after the flush stays the due time, and the writer wakes for the flush anyway.
    EXPECT_EQ(schedule.wake_ns(41, 40, kStart + 12, kStart + 15), kStart + 12 + kBusy);
    // No request sample since the periodic one: the due time.
    EXPECT_EQ(schedule.wake_ns(41, 40, kStart + 5, kStart + kFlush), kStart + 10 + kBusy);
    // Idle: the idle interval, whatever the request samples.
    schedule.sampled(kStart + 20, 41);
    schedule.sampled(kStart + 30, 41);
    EXPECT_EQ(schedule.wake_ns(41, 41, kStart + 35, kStart + kFlush), kStart + 30 + kIdle);
}

}  // namespace
}  // namespace routeheap::agent
