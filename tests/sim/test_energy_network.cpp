// Energy = Σ events × table entries; the MAC classes add up; padding taps against a naive count;
// DRAM traffic per row; batch residency; report ratios are exactly 1 with no sparsity feature.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "base/errors.hpp"
#include "models/graph.hpp"
#include "sim/energy.hpp"
#include "sim/network.hpp"
#include "sim/report.hpp"
#include "sim/run.hpp"

namespace eatsim::sim {
namespace {

std::vector<std::string> dense_sets() {
  return {"sparsity.gate=false", "sparsity.skip.enabled=false", "sparsity.compress.format=none"};
}

TEST(Energy, TotalIsEventsTimesTableEntries) {
  // 32 KB in 4 banks = 8 KB per bank: exactly Horowitz's 10 pJ per 64-bit access, 20 pJ at 128 bits.
  HwConfig hw = load_hwconfig(
      "tpu_ws32", {"array.rows=8", "array.cols=8", "buffers.ifmap.size_kb=32", "buffers.ifmap.banks=4",
                   "buffers.ifmap.word_bits=64", "buffers.weights.size_kb=32", "buffers.weights.banks=4",
                   "buffers.weights.word_bits=128", "buffers.psum.size_kb=32", "buffers.psum.banks=4",
                   "buffers.psum.word_bits=64"});
  Graph g = load_graph("resnet8");
  auto groups = group_layers(g);
  ASSERT_FALSE(groups.empty());
  for (const auto& grp : groups) {
    Counters c = simulate_group(hw, grp, 0);
    // Table entries of base_45nm.yaml for int8, written out by hand.
    double want =
        double(c.mac_effective + c.mac_pad) * 0.3 + double(c.mac_gated) * 0.03 + double(c.psum_add) * 0.1 +
        double(c.reg_read + c.reg_write) * 0.3 + double(c.sram_ifmap_rd + c.sram_ifmap_wr) * 10 +
        double(c.sram_weights_rd + c.sram_weights_wr) * 20 + double(c.sram_psum_rd + c.sram_psum_wr) * 10 +
        double(c.dram_rd_bytes() + c.dram_wr_bytes) * 243.75 + double(c.ppu_ops) * 0.3 +
        double(c.total_cycles()) * (64 * 0.02 + 96 * 0.01);
    EnergyBreakdown e = energy_of(EnergyTable::from(hw), c);
    EXPECT_NEAR(e.total(), want, 1e-9 * want) << grp.name;
    EXPECT_GT(e.sram[kWeights], 0) << grp.name;
  }
}

TEST(Energy, SramAccessEnergyFollowsBankSizeAndWidth) {
  HwConfig hw = load_hwconfig(
      "tpu_ws32", {"buffers.ifmap.size_kb=64", "buffers.ifmap.banks=2", "buffers.ifmap.word_bits=64",
                   "buffers.psum.size_kb=2048", "buffers.psum.banks=2", "buffers.psum.word_bits=256"});
  EnergyTable t = EnergyTable::from(hw);
  EXPECT_DOUBLE_EQ(t.sram_access[kIfmap], 20);        // 32 KB bank, 64 bits
  EXPECT_DOUBLE_EQ(t.sram_access[kPsum], 100.0 * 4);  // 1 MB bank, 256 bits
}

TEST(MacClasses, DenseIsEffectivePlusGatedSkippedAndPaddingOnEveryLayer) {
  for (const char* model : {"resnet18", "vgg16"})
    for (const auto& preset : embedded_preset_names()) {
      Graph g = load_graph(model);
      HwConfig hw = load_hwconfig(preset, dense_sets());
      int64_t dense = 0;
      for (const auto& grp : group_layers(g)) {
        if (grp.gemm < 0) continue;
        Counters c = simulate_group(hw, grp, 0);
        EXPECT_EQ(c.mac_dense, c.mac_effective + c.mac_gated + c.mac_skipped + c.mac_pad)
            << preset << grp.name;
        EXPECT_EQ(c.mac_dense, g.macs(g.nodes[grp.gemm])) << preset << grp.name;
        EXPECT_EQ(c.mac_gated + c.mac_skipped, 0);
        dense += c.mac_dense;
      }
      EXPECT_EQ(dense, g.total_macs()) << preset << " " << model;
    }
}

TEST(Padding, TapCountMatchesANaiveIm2colEnumeration) {
  std::mt19937 rng(3);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int t = 0; t < 200; ++t) {
    int kh = pick(1, 5), kw = pick(1, 5), sh = pick(1, 3), sw = pick(1, 3), ph = pick(0, 3), pw = pick(0, 3);
    int64_t cin = pick(1, 4), h = pick(kh, 12), w = pick(kw, 12);
    GemmShape g = conv_gemm("c", cin, h, w, 2, kh, kw, sh, sw, ph, pw);
    int64_t pad = 0;
    for (int64_t oy = 0; oy < g.ho; ++oy)
      for (int64_t ox = 0; ox < g.wo; ++ox)
        for (int ky = 0; ky < kh; ++ky)
          for (int kx = 0; kx < kw; ++kx) {
            int64_t y = oy * sh - ph + ky, x = ox * sw - pw + kx;
            if (y < 0 || y >= h || x < 0 || x >= w) pad += cin;
          }
    EXPECT_EQ(g.pad_pairs, pad) << "trial " << t;
  }
  EXPECT_EQ(conv_gemm("c", 3, 32, 32, 64, 3, 3, 1, 1, 1, 1).pad_pairs,
            3 * (9 * 1024 - 30 * 30 * 9 - 4 * 30 * 6 - 4 * 4));
}

TEST(Traffic, ResidentOperandsCrossDramOnce) {
  Graph g = load_graph("resnet18");
  for (const char* df : {"ws", "os", "is"}) {
    HwConfig hw =
        load_hwconfig("tpu_ws32", {std::string("array.dataflow=") + df, "buffers.ifmap.size_kb=8192",
                                   "buffers.weights.size_kb=8192", "buffers.psum.size_kb=8192"});
    for (const auto& grp : group_layers(g)) {
      Counters c = simulate_group(hw, grp, 0);
      EXPECT_EQ(c.dram_ifmap_rd_bytes, grp.in_elems) << df << grp.name;
      EXPECT_EQ(c.dram_weights_rd_bytes, grp.weight_elems_on(hw)) << df << grp.name;
      EXPECT_EQ(c.dram_psum_rd_bytes, grp.residual_elems) << df << grp.name;
      EXPECT_EQ(c.dram_wr_bytes, grp.out_elems) << df << grp.name;
    }
  }
}

TEST(Traffic, ResNetRowsReadResidualsAndWriteWhatOthersNeed) {
  Graph g = load_graph("resnet18");
  HwConfig hw = load_hwconfig("tpu_ws32");
  auto groups = group_layers(g);
  ASSERT_EQ(groups.size(), 21u);  // every BN, ReLU, add and pool rides on a conv/linear
  for (const auto& grp : groups) {
    if (grp.name == "layer1.0.conv2") {
      EXPECT_EQ(grp.fused_names(g), "layer1.0.bn2,layer1.0.add,layer1.0.relu2,layer1.1.shortcut");
      EXPECT_EQ(grp.residual_elems, 64 * 32 * 32);  // the identity shortcut
      EXPECT_EQ(grp.out_elems, 64 * 32 * 32);       // relu2, read by the next block
    }
    if (grp.name == "layer2.0.conv1") {
      EXPECT_EQ(grp.out_elems, 128 * 16 * 16);  // conv2 reads relu1
    }
    if (grp.name == "layer2.0.shortcut.0") {
      EXPECT_EQ(grp.out_elems, 128 * 16 * 16);  // its BN output, read by the add
    }
  }
}

TEST(Traffic, WeightsStayResidentForABatch) {
  Graph g = load_graph("resnet8");
  HwConfig hw = load_hwconfig("tpu_ws32", {"batch=4"});
  for (const auto& grp : group_layers(g)) {
    int64_t w0 = simulate_group(hw, grp, 0).dram_weights_rd_bytes;
    int64_t w1 = simulate_group(hw, grp, 1).dram_weights_rd_bytes;
    int64_t w4 = simulate_group(hw, grp, 4).dram_weights_rd_bytes;
    EXPECT_EQ(w0, grp.weight_elems_on(hw)) << grp.name;
    EXPECT_EQ(w4, w0) << grp.name;
    bool fits = grp.weight_elems_on(hw) <= hw.buf[kWeights].usable_bytes();
    EXPECT_EQ(w1, fits ? 0 : w0) << grp.name;
  }
}

TEST(Report, EveryRatioIsExactlyOneWithNoSparsityFeature) {
  Graph g = load_graph("resnet8");
  HwConfig hw = load_hwconfig("tpu_ws32");
  SimResult r = simulate_network(hw, g, {3});
  auto tm = total_metrics(r);
  ASSERT_EQ(tm.size(), 3u);
  for (const Metrics& m : tm) {
    EXPECT_EQ(m.energy_ratio, 1.0);
    EXPECT_EQ(m.speedup, 1.0);
    EXPECT_EQ(m.cycles, r.totals()[0].total_cycles());
    EXPECT_DOUBLE_EQ(m.energy_pj, tm[0].energy_pj);  // dense: every sample costs the same
  }
  auto cols = summary_columns(r);
  ASSERT_GE(cols.size(), 11u);
  EXPECT_EQ(cols[0].first, "energy_pj");
  EXPECT_DOUBLE_EQ(cols[0].second, tm[0].energy_pj);
  double parts = 0;
  for (const auto& [k, v] : cols)
    if (k.rfind("energy_", 0) == 0 && k != "energy_pj" && k != "energy_ratio") parts += v;
  EXPECT_NEAR(parts, tm[0].energy_pj, 1e-9 * tm[0].energy_pj);
  std::string csv = to_csv(r), json = to_json(r);
  EXPECT_NE(csv.find("energy_ratio"), std::string::npos);
  EXPECT_NE(json.find("\"energy_ratio\": {\"min\": 1, \"mean\": 1, \"max\": 1}"), std::string::npos);
  size_t lines = std::count(csv.begin(), csv.end(), '\n');
  EXPECT_EQ(lines, r.layers.size() + 2);  // header, rows, total
}

TEST(Report, StepFidelityGivesTheSameNetworkCountersOnEveryPreset) {
  Graph g = load_graph("resnet8");
  for (const auto& preset : embedded_preset_names()) {
    HwConfig hw = load_hwconfig(preset, dense_sets());
    SimResult a = simulate_network(hw, g, {2, Fidelity::fast}),
              b = simulate_network(hw, g, {2, Fidelity::step});
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (size_t i = 0; i < a.layers.size(); ++i)
      for (size_t s = 0; s < 2; ++s)
        for (const auto& info : counter_infos())
          EXPECT_EQ(a.layers[i].samples[s].*info.field, b.layers[i].samples[s].*info.field)
              << preset << " " << a.layers[i].group.name << " " << info.name;
  }
}

TEST(Report, SparsityFeaturesAreRefusedUntilTheSparseEngineExists) {
  Graph g = load_graph("resnet8");
  EXPECT_THROW(simulate_network(load_hwconfig("cnvlutin_ws16"), g, {1}), ConfigError);
  EXPECT_NO_THROW(simulate_network(load_hwconfig("cnvlutin_ws16", dense_sets()), g, {1}));
}

}  // namespace
}  // namespace eatsim::sim

namespace eatsim::sim {
namespace {

// docs/microarchitecture.md §9 computes these by hand; keep the two in step.
TEST(WorkedExample, ResNet18Layer1Conv1OnTpuWs32MatchesTheDocument) {
  Graph g = load_graph("resnet18");
  HwConfig hw = load_hwconfig("tpu_ws32");
  for (const auto& grp : group_layers(g)) {
    if (grp.name != "layer1.0.conv1") continue;
    Counters c = simulate_group(hw, grp, 0);
    EXPECT_EQ(c.folds, 36);
    EXPECT_EQ(c.compute_cycles(), 39128);
    EXPECT_EQ(c.cycles_preload, 32);
    EXPECT_EQ(c.cycles_stream, 36864);
    EXPECT_EQ(c.cycles_drain, 2232);
    EXPECT_EQ(c.reg_write, 37785600);
    EXPECT_EQ(c.psum_add, 1114112);
    EXPECT_EQ(c.sram_ifmap_rd, 36864);
    EXPECT_EQ(c.sram_weights_rd, 1152);
    EXPECT_EQ(c.dram_ifmap_rd_bytes, 65536);
    EXPECT_EQ(c.dram_weights_rd_bytes, 36992);
    EXPECT_EQ(c.dram_wr_bytes, 65536);
    EXPECT_EQ(c.cycles_writeback, 1124);
    EXPECT_EQ(c.mac_pad, 1556480);
    EXPECT_NEAR(energy_of(EnergyTable::from(hw), c).mac, 11324620.8, 1e-3);
    return;
  }
  FAIL() << "layer1.0.conv1 not found";
}

}  // namespace
}  // namespace eatsim::sim
