// Gating, IS compaction, compression and quantisation on hand-built patterns with known answers,
// and the functional verification and regression check that catch a changed skip rule.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

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

TEST(Gate, SavesEnergyButNoCycle) {
  Gemm x(20, 12, 5);
  for (int64_t m = 0; m < 20; ++m) x.set(m, m % 12, 1);
  Counters dense = run(hwc("ws", 8, 4, {}), x);
  Counters g = run(hwc("ws", 8, 4, {"sparsity.gate=true"}), x);
  EXPECT_EQ(g.total_cycles(), dense.total_cycles());
  EXPECT_EQ(g.mac_gated, 20 * 11 * 5);
  EXPECT_EQ(g.mac_effective, 20 * 5);
  EXPECT_EQ(dense.reg_read - g.reg_read, 2 * g.mac_gated);
}

TEST(IsSkip, CompactsNonZeroRowsIntoFewerFolds) {
  Gemm x(8, 40, 4);  // C = 8 pixels: one m-tile; K = 40 rows; 10 of them non-zero
  for (int k = 0; k < 40; k += 4) x.set(k % 8, k, 1);
  HwConfig hw = hwc("is", 8, 8, {"sparsity.skip.enabled=true"});
  Counters c = run(hw, x);
  Counters dense = run(hwc("is", 8, 8, {}), x);
  EXPECT_EQ(dense.folds, 5);
  EXPECT_EQ(c.folds, 2);  // ceil(10 / 8)
  EXPECT_EQ(c.mac_skipped, 30 * 8 * 4);
  EXPECT_EQ(c.meta_sram_bits, 10 * 6);  // 10 indices of ceil(log2 40) = 6 bits
  EXPECT_EQ(c.mac_dense, c.mac_effective + c.mac_gated + c.mac_skipped + c.mac_pad);
}

TEST(Compress, KnownBitmapsGiveKnownSizes) {
  std::vector<float> x = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0};  // runs 2, 7 (then 1 trailing)
  Quant q = make_quant(DataType::fp32, 2, true);
  CompressConfig bm{CompressFormat::bitmap, 0};
  Compressed b = compressed_size(x.data(), 12, q, 8, bm);
  EXPECT_EQ(b.meta_bits, 12);
  EXPECT_EQ(b.bits, 2 * 8 + 12);
  CompressConfig rle{CompressFormat::rle, 2};  // runs up to 3; a filler covers 4 elements
  Compressed r = compressed_size(x.data(), 12, q, 8, rle);
  EXPECT_EQ(r.bits, 3 * (8 + 2));  // entry(run 2), filler(4 zeros), entry(run 3); trailing 1: none
  EXPECT_EQ(r.meta_bits, 3 * 2);
}

TEST(Compress, InputsAndWrittenTensorsTravelCompressedWithTheirMetadata) {
  Gemm x(64, 16, 8);
  for (int64_t m = 0; m < 64; m += 8) x.set(m, 0, 1);  // 8 non-zeros of 1024
  std::vector<float> out(64 * 8, 0.0f);
  out[0] = out[100] = 3;
  LayerGroup grp;
  grp.name = "g", grp.gemm = 0, grp.shape = x.g;
  grp.in_elems = 64 * 16, grp.weight_elems = 16 * 8, grp.out_elems = 64 * 8;
  LayerData d = x.data();
  d.written.push_back({out.data(), 64 * 8, 3, true});
  HwConfig hw = hwc("ws", 8, 4, {"sparsity.compress.format=bitmap", "scalesim_compat=false"});
  Counters c = simulate_group(hw, grp, 0, Fidelity::fast, {&d});
  // fp32 (32-bit) values: input 8·32 + 1024 bitmap bits = 160 bytes; output 2·32 + 512 bits = 72 bytes.
  EXPECT_EQ(c.dram_ifmap_rd_bytes, 160);
  EXPECT_EQ(c.dram_wr_bytes, 72);
  EXPECT_EQ(c.meta_dram_bytes, 1024 / 8 + 512 / 8);
}

TEST(Quant, AllZeroTensorQuantisesToZeroWithoutError) {
  Quant q = make_quant(DataType::int8, 0, true);
  EXPECT_EQ(quantise_value(q, 0.0f), 0.0f);
  Gemm x(4, 4, 4);
  HwConfig hw = hwc("ws", 4, 4, ws_skip(2, 2, 2, 2));
  hw.array.datatype = DataType::int8;
  Counters c = run(hw, x);
  EXPECT_EQ(c.act_nonzero, 0);
  EXPECT_EQ(c.mac_skipped, c.mac_dense);
}

TEST(Quant, WeightDensityBeforeAndAfterQuantisationIsReported) {
  Gemm x(4, 8, 4);  // 32 weights: 8 exact zeros, 8 below half an int8 step (1/127), 16 ones
  for (int m = 0; m < 4; ++m) x.set(m, 0, 1);
  for (size_t i = 0; i < x.w.size(); ++i) x.w[i] = i < 8 ? 0.0f : i < 16 ? 1e-3f : 1.0f;
  HwConfig hw = hwc("ws", 4, 4, ws_skip(2, 2, 2, 2));
  hw.array.datatype = DataType::int8;
  Counters c = run(hw, x);
  EXPECT_EQ(c.weight_elems, 32);
  EXPECT_EQ(c.weight_nonzero_fp32, 24);
  EXPECT_EQ(c.weight_nonzero, 16);
  hw.array.datatype = DataType::fp32;
  EXPECT_EQ(run(hw, x).weight_nonzero, 24);
}

TEST(Quant, SmallValuesBecomeZerosAndRoundHalfToEven) {
  Quant q = make_quant(DataType::int8, 127, false);  // step 1
  EXPECT_EQ(quantise_value(q, 0.5f), 0.0f);
  EXPECT_EQ(quantise_value(q, 1.5f), 2.0f);
  EXPECT_EQ(quantise_value(q, -2.5f), -2.0f);
  Quant u = make_quant(DataType::int8, 255, true);  // unsigned: step 1 up to 255
  EXPECT_EQ(quantise_value(u, 200.0f), 200.0f);
  Quant h = make_quant(DataType::fp16, 1, false);
  EXPECT_EQ(quantise_value(h, 1e-9f), 0.0f);
  EXPECT_EQ(quantise_value(h, 1.0f + 1.0f / 4096), 1.0f);
  // bf16: fp32's exponent range, 8 significant bits; zero only below half its smallest subnormal.
  Quant b = make_quant(DataType::bf16, 1, false);
  EXPECT_NE(quantise_value(b, 1e-9f), 0.0f);
  EXPECT_FALSE(quantises_to_zero(b, 1e-30f));
  EXPECT_FALSE(quantises_to_zero(b, std::ldexp(1.5f, -134)));
  EXPECT_TRUE(quantises_to_zero(b, std::ldexp(1.0f, -134)));
  EXPECT_EQ(quantise_value(b, std::ldexp(1.0f, -134)), 0.0f);
  EXPECT_EQ(quantise_value(b, 1.0f + 1.0f / 256), 1.0f);
  EXPECT_EQ(quantise_value(b, 1.0f + 3.0f / 256), 1.0f + 4.0f / 256);
  EXPECT_EQ(quantise_value(b, -1.0f - 1.0f / 64), -1.0f - 1.0f / 64);
  const float xs[] = {0.0f, 1e-30f, std::ldexp(1.0f, -134), -std::ldexp(1.0f, -133), 2.0f, -0.0f};
  uint8_t flags[6];
  EXPECT_EQ(nonzero_flags(b, xs, 6, flags), 3);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(flags[i], !quantises_to_zero(b, xs[i])) << i;
  for (int i = 0; i < 6; ++i) EXPECT_EQ(quantises_to_zero(b, xs[i]), quantise_value(b, xs[i]) == 0.0f) << i;
}

// A bf16 array: 16-bit operands (bytes moved as fp16's), its own MAC energy, zeros as bf16 has them.
TEST(Quant, Bf16DatapathMovesHalfTheBytesOfFp32AndCostsItsOwnMacEnergy) {
  HwConfig b = load_hwconfig("dense_fp32", {"array.datatype=bf16"});
  HwConfig h = load_hwconfig("dense_fp32", {"array.datatype=fp16"});
  EXPECT_EQ(datatype_bits(b.array.datatype), 16);
  EXPECT_STREQ(datatype_name(b.array.datatype), "bf16");
  const EnergyTable eb = EnergyTable::from(b), eh = EnergyTable::from(h);
  EXPECT_NEAR(eb.mac, 1.48, 1e-12);  // base_45nm.yaml: Horowitz fp16 mult x (8/11)^2 + fp32 add
  EXPECT_LT(eb.mac, eh.mac);
  EXPECT_NE(b.energy.per_datatype.at(DataType::bf16).mac.source.find("(8/11)^2"), std::string::npos);
  // The same values on a bf16 and an fp16 array move the same bytes and do the same work, where
  // both keep them non-zero; a value below fp16's range stays a MAC in bf16 but is skipped in fp16.
  Gemm x(4, 8, 4);
  for (int m = 0; m < 4; ++m)
    for (int k = 0; k < 8; ++k) x.set(m, k, k % 3 == 0 ? 0.0f : 0.25f * float(k + m));
  for (size_t i = 0; i < x.w.size(); ++i) x.w[i] = 0.5f;
  HwConfig hb = hwc("ws", 4, 4, ws_skip(2, 2, 2, 2)), hh = hb;
  hb.array.datatype = DataType::bf16, hh.array.datatype = DataType::fp16;
  Counters cb = run(hb, x), ch = run(hh, x);
  EXPECT_EQ(cb.dram_rd_bytes(), ch.dram_rd_bytes());
  for (int buf = 0; buf < kNumBufs; ++buf) EXPECT_EQ(cb.sram_rd(buf), ch.sram_rd(buf)) << buf;
  EXPECT_EQ(cb.mac_nonzero, ch.mac_nonzero);
  EXPECT_EQ(cb.total_cycles(), ch.total_cycles());
  for (int m = 0; m < 4; ++m) x.set(m, 1, 1e-12f);  // fp16: 0; bf16: non-zero
  EXPECT_GT(run(hb, x).mac_nonzero, run(hh, x).mac_nonzero);
}

TEST(FunctionalCheck, PassesOnSynthResNet18AndVgg16AtSmallWidthAndCatchesAChangedSkipRule) {
  for (const char* model : {"resnet18", "vgg16"}) {
    ParamOverrides o;
    o.has_width = true, o.p.width = 0.125;
    Graph g = load_graph(model, o);
    HwConfig hw = load_hwconfig(
        "tpu_ws32", {"sparsity.skip.enabled=true", "sparsity.skip.group=4", "sparsity.skip.fifo_depth=4",
                     "sparsity.skip.lookahead=4", "sparsity.skip.acc_ports=2", "sparsity.gate=true"});
    std::mt19937 rng(7);
    bool perturbed_once = false;
    for (int i : g.order) {
      const Node& n = g.nodes[size_t(i)];
      if (n.op != Op::conv2d && n.op != Op::linear) continue;
      LayerGroup grp;
      grp.name = n.name, grp.gemm = i, grp.shape = gemm_of(g, i);
      grp.in_elems = grp.shape.ifmap_elems(), grp.weight_elems = grp.shape.weight_elems();
      std::vector<float> in(size_t(grp.in_elems)), w(size_t(grp.weight_elems));
      for (auto& v : in) v = rng() % 10 < 3 ? float(rng() % 1000) / 100.0f : 0.0f;
      for (auto& v : w) v = float(int(rng() % 2001) - 1000) / 1000.0f;
      LayerData d;
      d.ifmap = in.data(), d.weights = w.data();
      VerifyStats cs;
      EXPECT_NO_THROW(simulate_group(hw, grp, 0, Fidelity::fast, {&d, &cs})) << model << " " << n.name;
      EXPECT_TRUE(cs.ran);
      EXPECT_LE(cs.worst_ratio, 1.0);
      // A changed skip rule (slices with one non-zero dropped) fails the check on the first layer
      // with 30 % dense inputs of 16+ channels (where such slices exist), naming it.
      if (perturbed_once || grp.shape.cin < 16) continue;
      const ScanOptions perturbed{false, true};
      try {
        simulate_group(hw, grp, 0, Fidelity::fast, {&d, &cs, nullptr, &perturbed});
        ADD_FAILURE() << model << " " << n.name << ": the changed rule passed the check";
      } catch (const NumericError& e) {
        EXPECT_NE(std::string(e.what()).find(n.name + ": functional check failed"), std::string::npos)
            << e.what();
      }
      perturbed_once = true;
    }
    EXPECT_TRUE(perturbed_once);
  }
}

// The regression check sees a changed skip rule: the same trace on the same hardware, once with the
// rule as built and once with the test hook's perturbed rule, compared like `eatsim check` does.
TEST(SkipRegression, EatsimCheckCatchesAChangedSkipRule) {
  ParamOverrides o;
  o.has_width = true, o.p.width = 0.125;
  Graph g = load_graph("resnet8", o);
  HwConfig hw = load_hwconfig(
      "tpu_ws32", {"sparsity.skip.enabled=true", "sparsity.skip.group=4", "sparsity.skip.fifo_depth=4",
                   "sparsity.skip.lookahead=4", "sparsity.skip.acc_ports=8"});
  std::mt19937 rng(21);
  std::map<int, std::vector<float>> in, w;
  for (int i : g.order) {
    const Node& n = g.nodes[size_t(i)];
    if (n.op != Op::conv2d && n.op != Op::linear) continue;
    GemmShape s = gemm_of(g, i);
    for (int64_t k = 0; k < s.ifmap_elems(); ++k) in[i].push_back(rng() % 4 == 0 ? 1.0f : 0.0f);
    for (int64_t k = 0; k < s.weight_elems(); ++k) w[i].push_back(0.5f);
  }
  DataSource src = [&](int node, int64_t) {
    LayerData d;
    d.ifmap = in[node].data(), d.weights = w[node].data();
    return d;
  };
  test::TempDir dir("skipreg");
  auto report = [&](const std::string& name, bool perturbed) {
    std::string p = dir / name;
    SimOptions o{1, Fidelity::fast};
    o.scan.perturbed_skip = perturbed;
    test::write_file(p, to_json(simulate_network(hw, g, o, &src)));
    return read_report(p);
  };
  Report golden = report("golden.json", false);
  EXPECT_EQ(compare(report("same.json", false), golden, Tolerances{}).failures, 0);
  Report changed = report("changed.json", true);
  CheckOutcome c = compare(changed, golden, Tolerances{});
  EXPECT_GT(c.failures, 0);
  bool skipped_moved = false;
  for (const auto& m : c.moved) skipped_moved |= m.layer == "total" && m.metric == "mac_skipped" && m.fail;
  EXPECT_TRUE(skipped_moved) << format_outcome(c);
}

// Weight scans are made once per layer, array and quantisation, and shared by every thread.
TEST(WeightCache, OneScanPerLayerAndQuantisationSharedByThreads) {
  Gemm x(8, 16, 4);
  for (size_t i = 0; i < x.w.size(); i += 3) x.w[i] = 0;
  for (int64_t m = 0; m < 8; ++m) x.set(m, m, 1.0f);
  WeightCache cache;
  HwConfig int8 = hwc("ws", 4, 4, {"array.datatype=int8"}), fp32 = hwc("ws", 4, 4, {});
  auto a = analyse_layer(int8, x.g, x.data(), false, &cache, 7);
  WeightKey k{7, x.w.data(), 16 * 4, a->qw.step, a->qw.type, true, a->qw.unsigned_, false};
  auto first = cache.find(k);
  ASSERT_TRUE(first);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 20; ++i) analyse_layer(int8, x.g, x.data(), false, &cache, 7);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(cache.find(k), first);  // never replaced
  auto b = analyse_layer(fp32, x.g, x.data(), false, &cache, 7);
  EXPECT_EQ(b->weight_nonzero, a->weight_nonzero);
  k.step = b->qw.step, k.type = b->qw.type, k.unsigned_ = b->qw.unsigned_;
  ASSERT_TRUE(cache.find(k));
  EXPECT_NE(cache.find(k), first);
  EXPECT_EQ(first->zw.size(), 16u);
}

}  // namespace
}  // namespace eatsim::sim
