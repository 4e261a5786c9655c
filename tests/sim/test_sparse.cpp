// Gate, skip (WS lane groups, OS weight feeds, IS compaction), compression and quantisation on
// hand-built patterns with known answers; step() == run() on random sparse layers and configs.
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
#include "traces/trace.hpp"

namespace eatsim::sim {
namespace {

HwConfig hwc(const char* df, int R, int C, std::vector<std::string> extra) {
  std::vector<std::string> sets = {std::string("array.dataflow=") + df,
                                   "array.rows=" + std::to_string(R),
                                   "array.cols=" + std::to_string(C),
                                   "array.datatype=fp32",
                                   "scalesim_compat=true",
                                   "sparsity.compress.format=none"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return load_hwconfig("scalesim32", sets);
}
std::vector<std::string> ws_skip(int G, int D, int L, int P) {
  return {"sparsity.skip.enabled=true", "sparsity.skip.group=" + std::to_string(G),
          "sparsity.skip.fifo_depth=" + std::to_string(D), "sparsity.skip.lookahead=" + std::to_string(L),
          "sparsity.skip.acc_ports=" + std::to_string(P)};
}

// An M x K x N GEMM as a 1x1 conv on an M x 1 image; A[m][k] = ifmap[k*M + m].
struct Gemm {
  GemmShape g;
  std::vector<float> in, w;
  Gemm(int64_t M, int64_t K, int64_t N) : g(conv_gemm("g", K, M, 1, N, 1, 1, 1, 1, 0, 0)) {
    in.assign(size_t(M * K), 0.0f);
    w.assign(size_t(K * N), 1.0f);
  }
  void set(int64_t m, int64_t k, float v) { in[size_t(k * g.M + m)] = v; }
  LayerData data() const {
    LayerData d;
    d.ifmap = in.data(), d.weights = w.data();
    return d;
  }
};

Counters run(const HwConfig& hw, const Gemm& x, Fidelity f = Fidelity::fast) {
  LayerIo io;
  LayerData d = x.data();
  auto sp = analyse_layer(hw, x.g, d);
  return simulate_gemm(hw, x.g, io, f, sp.get());
}

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

namespace eatsim::sim {
namespace {

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

}  // namespace
}  // namespace eatsim::sim
