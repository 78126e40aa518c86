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
    EXPECT_EQ(schedule.next_sample_ns(0, 0), kStart + kIdle);
}

TEST(SampleSchedule, StartedRequestMakesItBusy) {
    const SampleSchedule schedule(kBusy, kIdle, kStart);
    EXPECT_EQ(schedule.next_sample_ns(1, 1), kStart + kBusy);
}

TEST(SampleSchedule, OpenRequestKeepsItBusy) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    schedule.sampled(kStart + 10, 1);
    schedule.sampled(kStart + 20, 1);
    EXPECT_EQ(schedule.next_sample_ns(1, 0), kStart + 20 + kBusy);
}

// Under steady keep-alive load the writer looks again right after a sample, before any new
// request started. That look must not choose the idle interval.
TEST(SampleSchedule, BusyRightAfterSample) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    EXPECT_EQ(schedule.next_sample_ns(40, 40), kStart + kBusy);
    schedule.sampled(kStart + 10, 40);
    EXPECT_EQ(schedule.next_sample_ns(40, 40), kStart + 10 + kBusy);
    schedule.sampled(kStart + 20, 90);
    EXPECT_EQ(schedule.next_sample_ns(90, 90), kStart + 20 + kBusy);
}

TEST(SampleSchedule, IdleAfterTwoQuietSamples) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    schedule.sampled(kStart + 10, 40);
    schedule.sampled(kStart + 20, 40);
    EXPECT_EQ(schedule.next_sample_ns(40, 40), kStart + 20 + kIdle);
}

// In the idle interval the writer still looks at every flush. A request that started since
// the sample before the last one makes the next sample due at once.
TEST(SampleSchedule, NewRequestEndsIdleInterval) {
    SampleSchedule schedule(kBusy, kIdle, kStart);
    schedule.sampled(kStart + 10, 40);
    schedule.sampled(kStart + 20, 40);
    EXPECT_EQ(schedule.next_sample_ns(41, 41), kStart + 20 + kBusy);
}

}  // namespace
}  // namespace routeheap::agent
