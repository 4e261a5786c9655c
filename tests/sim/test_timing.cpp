// Dense timing: fold counts and cycles against the closed forms of docs/microarchitecture.md for
// K, M, N one below, at and one above multiples of R and C; DMA-bound layers; step() and run()
// agree exactly; buffers too small for one tile.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "base/errors.hpp"
#include "sim/engine.hpp"
#include "sim/network.hpp"
#include "tests/helpers.hpp"

namespace eatsim::sim {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

HwConfig config(const char* dataflow, int R, int C, bool compat, std::vector<std::string> extra = {}) {
  std::vector<std::string> sets = {std::string("array.dataflow=") + dataflow,
                                   "array.rows=" + std::to_string(R), "array.cols=" + std::to_string(C),
                                   std::string("scalesim_compat=") + (compat ? "true" : "false")};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return load_hwconfig("scalesim32", sets);
}

// A GEMM of exactly M x K x N: a 1x1 conv on an M x 1 image with K input channels.
GemmShape gemm(int64_t M, int64_t K, int64_t N) { return conv_gemm("g", K, M, 1, N, 1, 1, 1, 1, 0, 0); }

// Closed forms (no DRAM stalls: unlimited-bandwidth memory in compat mode, or a big preset).
struct Expect {
  int64_t folds, compute;
};
Expect closed_form(const HwConfig& hw, int64_t M, int64_t K, int64_t N) {
  int64_t R = hw.array.rows, C = hw.array.cols;
  bool overlap = hw.array.preload_overlap && !hw.scalesim_compat;
  switch (hw.array.dataflow) {
    case Dataflow::os: {
      int64_t f = cdiv(M, R) * cdiv(N, C);
      return {f, f * (K + R + C - 2)};
    }
    case Dataflow::ws: {
      int64_t f = cdiv(K, R) * cdiv(N, C);
      return {f, f * (M + R + C - 2) + (overlap ? R : f * R)};
    }
    case Dataflow::is: {
      int64_t f = cdiv(K, R) * cdiv(M, C);
      return {f, f * (N + R + C - 2) + (overlap ? R : f * R)};
    }
  }
  return {0, 0};
}

TEST(DenseTiming, CyclesMatchClosedFormsAroundMultiplesOfRAndC) {
  const int R = 8, C = 4;
  for (const char* df : {"ws", "os", "is"})
    for (bool compat : {true, false})
      for (bool overlap : {false, true}) {
        HwConfig hw =
            config(df, R, C, compat, {std::string("array.preload_overlap=") + (overlap ? "true" : "false")});
        for (int64_t base : {R, C, 3 * R})
          for (int64_t d : {-1, 0, 1}) {
            int64_t x = base + d;
            for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{x, 2 * R + 1, C + 1},
                                   {3 * R, x, 2 * C},
                                   {R + 1, 2 * R, x}}) {
              LayerIo io;
              Counters c = simulate_gemm(hw, gemm(M, K, N), io);
              Expect e = closed_form(hw, M, K, N);
              SCOPED_TRACE(::testing::Message() << df << " compat=" << compat << " overlap=" << overlap
                                                << " M=" << M << " K=" << K << " N=" << N);
              EXPECT_EQ(c.folds, e.folds);
              EXPECT_EQ(c.compute_cycles(), e.compute);
              EXPECT_EQ(c.cycles_stall, 0);
              EXPECT_EQ(c.mac_dense, M * K * N);
            }
          }
      }
}

TEST(DenseTiming, CompatibleModeReportsTheIndexOfTheLastCycle) {
  HwConfig hw = config("os", 8, 8, true);
  LayerGroup grp;
  grp.gemm = 0, grp.shape = gemm(20, 30, 9);
  Counters c = simulate_group(hw, grp, 0);
  EXPECT_EQ(c.total_cycles(), 3 * 2 * (30 + 8 + 8 - 2));
  EXPECT_EQ(reported_cycles(hw, grp, c), 3 * 2 * (30 + 8 + 8 - 2) - 1);
}

TEST(DenseTiming, PsumCapacityChunksTheStreamOnWs) {
  // 4 columns x 4-byte partial sums = 16 B per pixel; 1 KB double-buffered holds 32 pixels.
  HwConfig hw = config("ws", 8, 4, false, {"buffers.psum.size_kb=1", "array.preload_overlap=false"});
  LayerIo io;
  Counters c = simulate_gemm(hw, gemm(100, 16, 4), io);
  // 4 chunks (32, 32, 32, 4 pixels) x 2 k-tiles.
  EXPECT_EQ(c.folds, 8);
  EXPECT_EQ(c.compute_cycles(), 2 * 100 + 8 * (8 + 8 + 4 - 2));
}

TEST(DmaTiming, SingleFoldWaitsForEveryByteThenWritesBack) {
  // One OS fold; single-buffered; 1 byte per cycle and latency 10: the reads go back to back
  // (ifmap, then weights), the fold starts when the last byte is in, the write follows the fold.
  HwConfig hw = config("os", 8, 8, false,
                       {"dram.bytes_per_cycle=1", "dram.latency=10", "buffers.ifmap.double_buffered=false",
                        "buffers.weights.double_buffered=false", "buffers.psum.double_buffered=false"});
  const int64_t M = 6, K = 12, N = 5;
  LayerIo io;
  io.ifmap_bytes = M * K, io.weight_bytes = K * N, io.out_bytes = M * N;
  Counters c = simulate_gemm(hw, gemm(M, K, N), io);
  EXPECT_EQ(c.cycles_stall, M * K + K * N + 10);
  EXPECT_EQ(c.compute_cycles(), K + 8 + 8 - 2);
  EXPECT_EQ(c.cycles_writeback, M * N + 10);
  EXPECT_EQ(c.dma_busy_cycles, M * K + K * N + M * N);
  EXPECT_EQ(c.dram_ifmap_rd_bytes, M * K);
  EXPECT_EQ(c.dram_weights_rd_bytes, K * N);
  EXPECT_EQ(c.dram_wr_bytes, M * N);
}

TEST(DmaTiming, BandwidthBoundLayerTakesAsLongAsItsTransfers) {
  // WS, one 64-byte weight tile per fold at 1 B/cycle, double-buffered: the channel, not the
  // array, sets the pace. Fold f starts when its tile is in, at 64 (f + 1).
  std::vector<std::string> sets = {"dram.bytes_per_cycle=1", "dram.latency=0",
                                   "buffers.weights.double_buffered=true", "array.preload_overlap=true"};
  HwConfig hw = config("ws", 8, 8, false, sets);
  const int64_t M = 4, K = 64, N = 64, R = 8, C = 8;
  LayerIo io;
  io.weight_bytes = K * N;
  Counters c = simulate_gemm(hw, gemm(M, K, N), io);
  const int64_t folds = 64, tile = 64, fold = M + R + C - 2;
  EXPECT_EQ(c.folds, folds);
  EXPECT_EQ(c.dma_busy_cycles, K * N);
  EXPECT_EQ(c.compute_cycles(), folds * fold + R);  // only the first preload is exposed
  EXPECT_EQ(c.total_cycles(), c.dma_busy_cycles + fold);
  // Stalls: the first tile, then fold 1 (fold 0 also preloaded), then every later fold.
  EXPECT_EQ(c.cycles_stall, tile + (tile - fold - R) + (folds - 2) * (tile - fold));
  // The same layer with a wide channel is compute-bound: it waits one cycle for the first tile.
  sets[0] = "dram.bytes_per_cycle=64";
  Counters w = simulate_gemm(config("ws", 8, 8, false, sets), gemm(M, K, N), io);
  EXPECT_EQ(w.cycles_stall, 1);
  EXPECT_EQ(w.compute_cycles(), c.compute_cycles());
}

TEST(DmaTiming, DoubleBufferedReadsRunAheadAsFarAsHalfTheBufferHolds) {
  BufferConfig b;
  b.size_kb = 1, b.double_buffered = true;  // 512 B per half
  EXPECT_EQ(prefetch_depth(b, 512), 2);     // classic double buffering: one fold per half
  EXPECT_EQ(prefetch_depth(b, 600), 2);     // at least one fold ahead
  EXPECT_EQ(prefetch_depth(b, 128), 5);     // four folds fit in the half being filled
  EXPECT_EQ(prefetch_depth(b, 1), kMaxPrefetch);
  b.double_buffered = false;
  EXPECT_EQ(prefetch_depth(b, 1), 1);
  // Latency-bound layer: 64-byte weight tiles at 64 B/cycle, latency 100, 18-cycle folds. With
  // reads 8 folds ahead only the first fold waits; single-buffered, every fold waits.
  std::vector<std::string> sets = {"dram.bytes_per_cycle=64", "dram.latency=100",
                                   "array.preload_overlap=true", "buffers.weights.double_buffered=true"};
  LayerIo io;
  io.weight_bytes = 64 * 64;
  Counters deep = simulate_gemm(config("ws", 8, 8, false, sets), gemm(4, 64, 64), io);
  EXPECT_EQ(deep.cycles_stall, 1 + 100);
  sets[3] = "buffers.weights.double_buffered=false";
  Counters single = simulate_gemm(config("ws", 8, 8, false, sets), gemm(4, 64, 64), io);
  EXPECT_EQ(single.cycles_stall, 64 * (1 + 100));
  EXPECT_EQ(deep.compute_cycles(), single.compute_cycles());
}

TEST(DmaTiming, CompatibleModeNeverStalls) {
  HwConfig hw = config("ws", 8, 8, true, {"dram.bytes_per_cycle=1", "dram.latency=1000"});
  LayerIo io;
  io.ifmap_bytes = 1000, io.weight_bytes = 4096, io.out_bytes = 256;
  Counters c = simulate_gemm(hw, gemm(4, 64, 64), io);
  EXPECT_EQ(c.cycles_stall + c.cycles_writeback, 0);
  EXPECT_EQ(c.dram_weights_rd_bytes, 4096);  // traffic still counted
}

TEST(Engine, StepPerClockAndJumpingGiveIdenticalCounters) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 60; ++trial) {
    const char* df = std::vector<const char*>{"ws", "os", "is"}[pick(0, 2)];
    int R = pick(1, 9), C = pick(1, 9);
    HwConfig hw = config(
        df, R, C, pick(0, 3) == 0,
        {"array.preload_overlap=" + std::string(pick(0, 1) ? "true" : "false"),
         "dram.bytes_per_cycle=" + std::to_string(pick(1, 16)), "dram.latency=" + std::to_string(pick(0, 40)),
         "buffers.ifmap.double_buffered=" + std::string(pick(0, 1) ? "true" : "false"),
         "buffers.weights.double_buffered=" + std::string(pick(0, 1) ? "true" : "false"),
         "buffers.ifmap.size_kb=" + std::to_string(pick(1, 4)),
         "buffers.weights.size_kb=" + std::to_string(pick(1, 4)),
         "buffers.psum.size_kb=" + std::to_string(pick(1, 4))});
    int kh = pick(1, 3), kw = pick(1, 3);
    GemmShape g = conv_gemm("g", pick(1, 12), pick(kh, 9), pick(kw, 9), pick(1, 20), kh, kw, pick(1, 2),
                            pick(1, 2), pick(0, 1), pick(0, 1));
    LayerIo io;
    io.ifmap_bytes = g.ifmap_elems(), io.weight_bytes = g.weight_elems(), io.out_bytes = g.out_elems();
    io.residual_bytes = pick(0, 1) ? g.out_elems() : 0;
    SCOPED_TRACE(::testing::Message() << "trial " << trial << " " << df << " R=" << R << " C=" << C
                                      << " M=" << g.M << " K=" << g.K << " N=" << g.N);
    Counters fast, step;
    try {
      fast = simulate_gemm(hw, g, io, Fidelity::fast);
    } catch (const ConfigError&) {
      continue;  // a random buffer too small for one tile
    }
    step = simulate_gemm(hw, g, io, Fidelity::step);
    for (const auto& i : counter_infos()) EXPECT_EQ(fast.*i.field, step.*i.field) << i.name;
    // Partial runs: jumping by uneven budgets lands on the same clock as stepping.
    auto plan = make_plan(hw, g, io);
    FoldEngine a(hw, *plan), b(hw, *plan);
    while (!a.done()) {
      int64_t n = a.run(pick(1, 50));
      for (int64_t k = 0; k < n; ++k) b.step();
      ASSERT_EQ(a.now(), b.now());
      ASSERT_EQ(a.phase(), b.phase());
      ASSERT_TRUE(a.counters() == b.counters());
    }
    EXPECT_TRUE(b.done() || (b.step(), b.done()));
  }
}

// A stand-in for a data-dependent stream (issue 9): half the vectors, computable at most 3 cycles
// ahead, counting one event per cycle.
class HalfStream : public StreamModel {
 public:
  void begin(int64_t, const FoldWork& w, Counters&) override { left_ = (w.stream + 1) / 2; }
  bool finished() const override { return left_ == 0; }
  int64_t advance(int64_t max_cycles, Counters& c) override {
    int64_t n = std::min({max_cycles, left_, int64_t(3)});
    left_ -= n;
    c.psum_add += n;
    return n;
  }

 private:
  int64_t left_ = 0;
};

TEST(Engine, AStreamModelReplacesTheDenseStreamAndStillStepsAsItJumps) {
  HwConfig hw = config("ws", 4, 4, false, {"dram.bytes_per_cycle=2"});
  GemmShape g = gemm(37, 9, 6);
  LayerIo io;
  io.weight_bytes = g.weight_elems(), io.ifmap_bytes = g.ifmap_elems();
  auto plan = make_plan(hw, g, io);
  FoldEngine jump(hw, *plan, std::make_unique<HalfStream>()), step(hw, *plan, std::make_unique<HalfStream>());
  jump.run();
  while (!step.done()) step.step();
  EXPECT_TRUE(jump.counters() == step.counters());
  EXPECT_EQ(jump.now(), step.now());
  int64_t folds = 3 * 2;  // ceil(9/4) k-tiles x ceil(6/4) n-tiles, T = 37
  EXPECT_EQ(jump.counters().cycles_stream, folds * 19);
  FoldEngine dense(hw, *plan);
  dense.run();
  EXPECT_EQ(dense.counters().cycles_stream, folds * 37);
}

TEST(Buffers, TooSmallForOneTileIsAConfigErrorNamingTheLayer) {
  HwConfig hw = config("ws", 32, 32, false, {"buffers.weights.size_kb=0.5"});  // 512 B < 32x32 int8
  LayerIo io;
  try {
    simulate_gemm(hw, conv_gemm("layer1.0.conv1", 64, 8, 8, 64, 3, 3, 1, 1, 1, 1), io);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("buffers.weights.size_kb"), std::string::npos) << m;
    EXPECT_NE(m.find("layer1.0.conv1"), std::string::npos) << m;
  }
  auto r = test::run_cli("sim --hw tpu_ws32 --model resnet18 --set buffers.psum.size_kb=0.1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("buffers.psum.size_kb"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace eatsim::sim
