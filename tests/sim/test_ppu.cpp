// The PPU's timing model (sim/ppu.hpp): jumping equals stepping, and the PPU-only row follows the
// DMA's order (write-back at max(input in, work done), the row over when the write is done).
#include <gtest/gtest.h>

#include <random>

#include "sim/ppu.hpp"

namespace eatsim::sim {
namespace {

TEST(Ppu, OnStreamJumpEqualsSteps) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 500; ++trial) {
    int64_t cycles = int64_t(rng() % 300), row = int64_t(rng() % 300);
    PpuOnStream jump(cycles), step(cycles);
    jump.beside_array(row);
    for (int64_t i = 0; i < row; ++i) step.beside_array(1);
    jump.alone(jump.left());
    while (!step.done()) step.alone(1);
    EXPECT_EQ(jump.tail(), step.tail()) << cycles << " " << row;
    EXPECT_EQ(jump.tail(), std::max<int64_t>(0, cycles - row));
  }
}

TEST(Ppu, RowRunEqualsStepsAndTheDmaOrder) {
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 500; ++trial) {
    int64_t rd = int64_t(rng() % 3 ? rng() % 5000 : 0), wr = int64_t(rng() % 3 ? rng() % 5000 : 0);
    int64_t cycles = int64_t(rng() % 400), bw = 1 + int64_t(rng() % 32), lat = int64_t(rng() % 100);
    AnalyticMemory m1(bw, lat), m2(bw, lat);
    PpuRow jump(rd, wr, cycles, m1), step(rd, wr, cycles, m2);
    jump.run();
    int64_t clocks = 0;
    while (!step.done()) step.step(), ++clocks;
    EXPECT_EQ(jump.worked(), step.worked());
    EXPECT_EQ(jump.waited(), step.waited());
    EXPECT_EQ(m1.busy_cycles(), m2.busy_cycles());
    EXPECT_EQ(clocks, step.worked() + step.waited());
    // The order a DMA channel serves: read at 0, write once the input is in and the work is done.
    DmaChannel ch(bw, lat);
    int64_t in = ch.transfer(0, rd), out = ch.transfer(std::max(in, cycles), wr);
    EXPECT_EQ(jump.worked(), cycles);
    EXPECT_EQ(jump.waited(), std::max<int64_t>(0, out - cycles)) << rd << " " << wr << " " << cycles;
  }
}

}  // namespace
}  // namespace eatsim::sim
