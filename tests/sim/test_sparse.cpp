// Zero-skipping (WS lane groups and readers, OS weight feeds, IS compaction) on hand-built patterns
// with known answers; the fast scan equals the generic one; step() == run() on random layers.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include "base/errors.hpp"
#include "models/graph.hpp"
#include "sim/counters.hpp"
#include "sim/network.hpp"
#include "sim/quant.hpp"
#include "sim/regression.hpp"
#include "sim/report.hpp"
#include "sim/run.hpp"
#include "sim/sparse.hpp"
#include "tests/helpers.hpp"
#include "tests/sim/sparse_cases.hpp"
#include "traces/trace.hpp"

namespace eatsim::sim {
namespace {

using namespace test_sparse;

TEST(WsSkip, AllZeroPixelVectorsAreSkippedWhenTheReaderLooksAhead) {
  Gemm x(16, 8, 4);
  for (int m = 0; m < 16; m += 2) x.set(m, 0, 1);  // odd pixels all zero; even: group 0 only
  Counters dense = run(hwc("ws", 8, 4, {}), x);
  Counters c = run(hwc("ws", 8, 4, ws_skip(2, 4, 4, 4)), x);
  EXPECT_EQ(dense.cycles_stream, 16);
  EXPECT_EQ(c.cycles_stream, 8);  // one push per FIFO per clock: one non-zero pixel per clock
  EXPECT_EQ(c.mac_skipped, (8 * 8 + 8 * 6) * 4);
  EXPECT_EQ(c.mac_dense, c.mac_effective + c.mac_gated + c.mac_skipped + c.mac_pad);
  EXPECT_EQ(c.fe_fifo_push, 8);
}

TEST(WsSkip, OneNonZeroPerGroupCostsAFullStep) {
  Gemm x(16, 8, 4);
  for (int m = 0; m < 16; ++m)
    for (int g = 0; g < 4; ++g) x.set(m, 2 * g + (m % 2), 1);
  Counters c = run(hwc("ws", 8, 4, ws_skip(2, 4, 4, 4)), x);
  EXPECT_EQ(c.cycles_stream, 16);
  EXPECT_EQ(c.mac_skipped, 0);
}

TEST(WsSkip, LookaheadOneSavesNoCycle) {
  std::mt19937 rng(3);
  Gemm x(40, 16, 4);
  for (auto& v : x.in) v = rng() % 5 == 0 ? 1.0f : 0.0f;
  Counters dense = run(hwc("ws", 16, 4, {}), x);
  Counters c = run(hwc("ws", 16, 4, ws_skip(4, 4, 1, 4)), x);
  EXPECT_EQ(c.total_cycles(), dense.total_cycles());
  EXPECT_GT(c.mac_skipped, 0);
}

TEST(WsSkip, GroupOfAllRowsEqualsTheDenseScheduleInCyclesAndEveryDenseEvent) {
  std::mt19937 rng(5);
  Gemm x(37, 20, 9);
  for (int64_t m = 0; m < 37; ++m)
    for (int64_t k = 0; k < 20; ++k) x.set(m, k, (rng() % 3 == 0 || k % 4 == m % 4) ? 1.0f : 0.0f);
  for (int L : {1, 4}) {
    Counters dense = run(hwc("ws", 8, 4, {}), x);
    Counters c = run(hwc("ws", 8, 4, ws_skip(8, 2, L, 1)), x);
    // Every R-slice holds a non-zero: nothing to skip, the dense schedule exactly; the front end's
    // own events (detection, bitmap, FIFO) come on top and are priced apart.
    EXPECT_EQ(c.mac_skipped, 0);
    Counters strip = c;
    strip.fe_zero_detect = strip.fe_bitmap_ops = strip.fe_fifo_push = strip.fe_fifo_pop = 0;
    EXPECT_EQ(strip, dense) << "L=" << L;
    EXPECT_EQ(c.fe_fifo_push, c.fe_fifo_pop);
  }
}

// The counters in which a and b differ, by name.
std::set<std::string> differing(const Counters& a, const Counters& b) {
  std::set<std::string> d;
#define EATSIM_DIFF(name, desc) \
  if (a.name != b.name) d.insert(#name);
  EATSIM_SIM_COUNTERS(EATSIM_DIFF)
#undef EATSIM_DIFF
  return d;
}

TEST(WsSkip, GroupOfAllRowsWithLookaheadOneKeepsDenseCyclesOnAnyData) {
  // All-zero R-slices (a quarter of the pixels of each k-tile): the reader spends its clock on them
  // (L = 1) so cycles and every buffer and DRAM event stay dense, but their MACs are skipped, not
  // made: mac_skipped replaces mac_effective and their register reads and writes are not made.
  std::mt19937 rng(9);
  Gemm x(37, 16, 9);
  for (int64_t m = 0; m < 37; ++m)
    for (int64_t k = 0; k < 16; ++k) x.set(m, k, m % 4 != 0 && rng() % 2 == 0 ? 1.0f : 0.0f);
  Counters dense = run(hwc("ws", 8, 4, {}), x);
  Counters c = run(hwc("ws", 8, 4, ws_skip(8, 2, 1, 1)), x);
  EXPECT_EQ(c.total_cycles(), dense.total_cycles());
  EXPECT_EQ(c.mac_skipped, 10 * 16 * 9);  // pixels 0, 4, ..., 36 in both k-tiles
  EXPECT_EQ(c.mac_effective, dense.mac_effective - c.mac_skipped);
  EXPECT_EQ(dense.reg_read - c.reg_read, 2 * c.mac_skipped);
  EXPECT_EQ(dense.reg_write - c.reg_write, c.mac_skipped);
  EXPECT_EQ(differing(c, dense),
            (std::set<std::string>{"mac_effective", "mac_skipped", "reg_read", "reg_write", "fe_zero_detect",
                                   "fe_bitmap_ops", "fe_fifo_push", "fe_fifo_pop"}));
}

TEST(IsSkip, NothingToSkipIsNeverSlowerThanDense) {
  // Dense data on a Cnvlutin-like array turned IS (int16, 16x16, double buffers, DMA overlap): skip
  // on compacts nothing, so its prefetch depth, and with it every stall, must be the dense
  // schedule's in every layer. (The skip plan once sized its depth by a whole m-tile's ifmap per
  // fold: layer3.0.conv2 took 16355 cycles instead of 15363.)
  test::TempDir d("isskip");
  test::write_file(
      d / "is.yaml",
      "include: base_45nm.yaml\nname: cnv_is\n"
      "array: {rows: 16, cols: 16, dataflow: is, datatype: int16, clock_mhz: 1000, preload_overlap: "
      "true, k_order: cin_inner}\nbuffers:\n"
      "  ifmap: {size_kb: 128, banks: 16, word_bits: 256, double_buffered: true}\n"
      "  weights: {size_kb: 256, banks: 16, word_bits: 256, double_buffered: true}\n"
      "  psum: {size_kb: 256, banks: 16, word_bits: 512, double_buffered: true}\n"
      "dram: {bytes_per_cycle: 16, latency: 100}\nppu: {width: 16, fold_bn: false}\n"
      "sparsity:\n  gate: false\n  skip: {enabled: false}\n  compress: {format: none}\n");
  ASSERT_EQ(test::run_cli("trace synth resnet8 --width 0.25 --in-channels 1 --input-size 28 --density 1 "
                          "--samples 2 --out " +
                          (d / "t"))
                .code,
            0);
  TraceReader tr(d / "t");
  SimResult dense = simulate(load_hwconfig(d / "is.yaml"), tr);
  SimResult skip = simulate(load_hwconfig(d / "is.yaml", {"sparsity.skip.enabled=true"}), tr);
  ASSERT_EQ(dense.layers.size(), skip.layers.size());
  for (size_t i = 0; i < dense.layers.size(); ++i)
    for (size_t s = 0; s < dense.layers[i].samples.size(); ++s) {
      const Counters &a = dense.layers[i].samples[s], &b = skip.layers[i].samples[s];
      EXPECT_EQ(b.mac_skipped, 0);
      EXPECT_EQ(b.cycles_stall, a.cycles_stall) << dense.layers[i].group.name;
      EXPECT_EQ(b.total_cycles(), a.total_cycles()) << dense.layers[i].group.name;
    }
}

TEST(Skip, NeverSlowerThanDenseWithoutContention) {
  // One accumulator port per lane group and deep FIFOs: skipping only removes work, so no layer of
  // the reference traces may take more cycles with it than without. (The PPU once worked only on
  // compute clocks, so a layer whose compute skipping shortened got a longer PPU tail.)
  for (const char* t : {"resnet8-syn10", "resnet8-syn50", "smallcnn-st", "smallcnn-eat"}) {
    TraceReader tr(test::source_dir() + "/traces/reference/traces/" + t);
    for (const char* g : {"4", "16"}) {
      std::vector<std::string> sets = {std::string("sparsity.skip.group=") + g, "sparsity.skip.acc_ports=16",
                                       "sparsity.skip.fifo_depth=16"};
      SimResult on = simulate(load_hwconfig("cnvlutin_ws16", sets), tr);
      sets.push_back("sparsity.skip.enabled=false");
      SimResult off = simulate(load_hwconfig("cnvlutin_ws16", sets), tr);
      for (size_t i = 0; i < on.layers.size(); ++i)
        for (size_t s = 0; s < on.layers[i].samples.size(); ++s)
          EXPECT_LE(on.layers[i].samples[s].total_cycles(), off.layers[i].samples[s].total_cycles())
              << t << " G=" << g << " " << on.layers[i].group.name;
    }
  }
}

TEST(WsSkip, PortContentionSerialisesGroups) {
  Gemm x(10, 8, 4);
  for (auto& v : x.in) v = 1;
  Counters c1 = run(hwc("ws", 8, 4, ws_skip(2, 4, 4, 1)), x);
  Counters c4 = run(hwc("ws", 8, 4, ws_skip(2, 4, 4, 4)), x);
  EXPECT_EQ(c4.cycles_stream, 10);
  EXPECT_EQ(c1.cycles_stream, 40);  // 4 groups share one accumulator port
  EXPECT_GT(c1.fe_port_wait, 0);
  EXPECT_EQ(c1.realign_add, 10 * 3 * 4);  // 4 partial sums per pixel merged: 3 adds per column
}

TEST(WsSkip, ShallowFifosStallTheReaderWhereDeepOnesDoNot) {
  // Group 0 is busy on every pixel and loses the single port to older entries of the others, so
  // its FIFO fills; with D = 1 the in-order reader then stops feeding everyone.
  Gemm x(24, 4, 4);
  for (int m = 0; m < 24; ++m) {
    x.set(m, 0, 1);
    if (m % 3 == 0) x.set(m, 1, 1), x.set(m, 2, 1);
  }
  Counters d1 = run(hwc("ws", 4, 4, ws_skip(1, 1, 4, 2)), x);
  Counters d4 = run(hwc("ws", 4, 4, ws_skip(1, 8, 4, 2)), x);
  EXPECT_GT(d1.fe_reader_stall, d4.fe_reader_stall);
  EXPECT_GE(d1.cycles_stream, d4.cycles_stream);
}

TEST(WsSkip, FastScanEqualsGenericScanOnPaddedConvsWithZeroWeights) {
  std::mt19937 rng(13);
  for (int trial = 0; trial < 12; ++trial) {
    int G = 1 << (rng() % 3), cin = G * (1 + int(rng() % 4)), k = 1 + 2 * int(rng() % 2);
    GemmShape g = conv_gemm("c", cin, 5 + rng() % 4, 4 + rng() % 5, 3 + rng() % 6, k, k, 1 + rng() % 2,
                            1 + rng() % 2, k / 2, k / 2);
    std::vector<float> in(size_t(g.ifmap_elems())), w(size_t(g.weight_elems()));
    for (auto& v : in) v = rng() % 3 == 0 ? 1.0f : 0.0f;
    for (auto& v : w) v = rng() % 4 == 0 ? 0.0f : 0.5f;
    LayerData d;
    d.ifmap = in.data(), d.weights = w.data();
    HwConfig hw = hwc("ws", 8, 4, ws_skip(G, 2, 2, 2));
    auto fast = analyse_layer(hw, g, d);
    auto gen = analyse_layer(hw, g, d, false, nullptr, -1, ScanOptions{true, false});
    EXPECT_EQ(fast->ws_mask, gen->ws_mask) << trial;
    EXPECT_EQ(fast->skipped_entries, gen->skipped_entries);
    EXPECT_EQ(fast->zero_entries, gen->zero_entries);
    EXPECT_EQ(fast->zero_weight_macs, gen->zero_weight_macs);
    EXPECT_EQ(fast->mac_nonzero, gen->mac_nonzero);
    EXPECT_EQ(fast->gslices_zero, gen->gslices_zero);
    EXPECT_EQ(fast->pad_entries, gen->pad_entries);
  }
}

TEST(SkipEngine, StepAndJumpAgreeOnRandomSparseLayersAndConfigs) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    const char* df = trial % 3 == 0 ? "ws" : trial % 3 == 1 ? "os" : "is";
    int R = 4 << (rng() % 2), C = 2 + int(rng() % 4);
    int G = std::string(df) == "is" ? 0 : (R == 4 ? 1 << (rng() % 3) : 1 << (rng() % 4));
    std::vector<std::string> sets = {"sparsity.gate=" + std::string(rng() % 2 ? "true" : "false")};
    if (std::string(df) == "ws")
      sets = ws_skip(G, 1 + int(rng() % 3), 1 + int(rng() % 4), 1 + int(rng() % 3));
    if (std::string(df) == "os")
      sets = {"sparsity.skip.enabled=true", "sparsity.skip.group=" + std::to_string(G),
              "sparsity.skip.fifo_depth=2", "sparsity.skip.weight_feeds=" + std::to_string(1 + rng() % 3)};
    if (std::string(df) == "is") sets = {"sparsity.skip.enabled=true"};
    sets.push_back("scalesim_compat=false");
    HwConfig hw = hwc(df, R, C, sets);
    Gemm x(1 + int64_t(rng() % 30), 1 + int64_t(rng() % 30), 1 + int64_t(rng() % 9));
    double density = (rng() % 10) / 10.0;
    for (auto& v : x.in) v = (rng() % 1000) / 1000.0 < density ? 1.0f : 0.0f;
    Counters a = run(hw, x, Fidelity::fast), b = run(hw, x, Fidelity::step);
    ASSERT_EQ(a, b) << "trial " << trial << " " << df;
    ASSERT_EQ(a.mac_dense, a.mac_effective + a.mac_gated + a.mac_skipped + a.mac_pad);
  }
}

}  // namespace
}  // namespace eatsim::sim
