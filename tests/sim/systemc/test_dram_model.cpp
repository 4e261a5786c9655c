// ClockedDram (the clocked model's DRAM logic, plain C++) against DmaChannel (the fast engine's):
// random transfers issued at random clocks complete at the same cycle, one by one, and the
// channel is busy the same number of clocks.
#include <gtest/gtest.h>

#include <random>

#include "sim/engine.hpp"
#include "sim/systemc/dram_model.hpp"

namespace eatsim::sysc {
namespace {

TEST(ClockedDram, TicksCompleteEveryTransferWhenDmaChannelSaysItDoes) {
  std::mt19937 rng(3);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 200; ++trial) {
    int64_t bw = pick(1, 40), lat = pick(0, 30);
    sim::DmaChannel ch(bw, lat);
    ClockedDram d;
    d.configure(bw, lat);
    std::vector<int64_t> expect;
    int64_t t = 0;
    const int n = pick(1, 12);
    for (int i = 0; i < n; ++i) {
      t += pick(0, 20);
      int64_t bytes = pick(1, 300);
      expect.push_back(ch.transfer(t, bytes));
      d.accept(MemRequest{uint64_t(i), 0, 0, bytes, t});
    }
    std::vector<MemResponse> got;
    for (int64_t x = 0; !d.idle() && x < 100000; ++x) d.tick(x, got);
    ASSERT_EQ(got.size(), expect.size()) << "trial " << trial;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].id, i);
      EXPECT_EQ(got[i].at, expect[i])
          << "trial " << trial << " transfer " << i << " bw " << bw << " L " << lat;
    }
    EXPECT_EQ(d.busy_cycles(), ch.busy_cycles());
  }
}

TEST(ClockedDram, AnswerLeavesTheClockBeforeItsDataIsIn) {
  // 10 bytes at 4 per clock from clock 5: clocks 5, 6, 7; latency 2 -> in at 10, answered in clock 9.
  ClockedDram d;
  d.configure(4, 2);
  d.accept(MemRequest{1, 0, 0, 10, 5});
  std::vector<MemResponse> got;
  for (int64_t x = 0; x < 9; ++x) d.tick(x, got);
  EXPECT_TRUE(got.empty());
  d.tick(9, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].at, 10);
  EXPECT_EQ(d.busy_cycles(), 3);
}

TEST(ClockedDram, TestStallsDelayAnswersButKeepTheirOrder) {
  ClockedDram d;
  d.configure(8, 3);
  d.set_stalls(DramStalls{0.5, 10, 7});
  for (int i = 0; i < 20; ++i) d.accept(MemRequest{uint64_t(i), 0, 0, 1 + 7 * i, 0});
  std::vector<MemResponse> got;
  for (int64_t x = 0; !d.idle(); ++x) d.tick(x, got);
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, i);
    EXPECT_GE(got[i].at, got[i - 1].at);
  }
}

}  // namespace
}  // namespace eatsim::sysc
