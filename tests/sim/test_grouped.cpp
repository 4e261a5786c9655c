// Grouped, depthwise and dilated convolutions with rectangular kernels on a non-square input, end
// to end: the trainer (oneDNN) computes a trace, and the simulator's im2col of every group must
// reproduce oneDNN's outputs (the functional check's error against the recorded fp32 outputs) on
// every dataflow with skip and gate on; counts follow the per-group GEMMs; SCALE-Sim sees one layer
// per group.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "base/errors.hpp"
#include "sim/gemm.hpp"
#include "sim/hwconfig.hpp"
#include "sim/network.hpp"
#include "sim/run.hpp"
#include "sim/systemc/clocked.hpp"
#include "tests/helpers.hpp"
#include "traces/npy.hpp"
#include "traces/trace.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace {

// Input 3×13×11. c1: 3→8 rectangular kernel and stride; dw: depthwise, dilated; g4: 4 groups of
// 2→3 with a 1×3 kernel; dwm: depthwise with a channel multiplier of 2, stride 2; then a
// squeeze-and-excitation block (mul by a (C, 1, 1) scale) and a concat.
const char* kModel = R"(name: grouped
params: {width: 1, in_channels: 3, input_size: [13, 11], classes: 5}
nodes:
  - {name: c1, op: conv2d, inputs: [input], out_channels: 8, kernel: [3, 2], stride: [1, 2], pad: [1, 0]}
  - {name: r1, op: relu, inputs: [c1]}
  - {name: dw, op: conv2d, inputs: [r1], out_channels: 8, kernel: 3, pad: 2, dilation: 2, groups: depthwise}
  - {name: r2, op: hardswish, inputs: [dw]}
  - {name: g4, op: conv2d, inputs: [r2], out_channels: 12, kernel: [1, 3], pad: [0, 1], groups: 4, bias: true}
  - {name: r3, op: relu6, inputs: [g4]}
  - {name: dwm, op: conv2d, inputs: [r3], out_channels: 24, kernel: 3, stride: 2, pad: 1, groups: 12}
  - {name: r4, op: relu, inputs: [dwm]}
  - {name: se_pool, op: global_avgpool, inputs: [r4]}
  - {name: se_fc, op: conv2d, inputs: [se_pool], out_channels: 24, kernel: 1, bias: true}
  - {name: se_gate, op: hardsigmoid, inputs: [se_fc]}
  - {name: se, op: mul, inputs: [se_gate, r4]}
  - {name: cat, op: concat, inputs: [se, r4]}
  - {name: pool, op: global_avgpool, inputs: [cat]}
  - {name: flat, op: flatten, inputs: [pool]}
  - {name: fc, op: linear, inputs: [flat], out_features: classes}
)";

// Skip with lane groups of 2, set whole for the dataflow (its keys differ per dataflow).
std::string skip_of(const std::string& df) {
  if (df == "is") return "sparsity.skip={enabled: true}";
  if (df == "os") return "sparsity.skip={enabled: true, group: 2, fifo_depth: 2, weight_feeds: 2}";
  return "sparsity.skip={enabled: true, group: 2, fifo_depth: 2, lookahead: 2, acc_ports: 2}";
}

class Grouped : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("grouped");
    test::write_file(*dir_ / "grouped.yaml", kModel);
    Graph g = load_graph(*dir_ / "grouped.yaml");
    Net net(g, 3);
    save_checkpoint(*dir_ / "ckpt", net, {});
    std::mt19937 rng(4);
    std::normal_distribution<float> nd(0, 1);
    std::vector<float> x(size_t(3 * numel(g.input_shape)));
    for (auto& v : x) v = nd(rng);
    npy_save_f32(*dir_ / "x.npy", {3, 3, 13, 11}, x.data());
    auto r = test::run_cli("trace export " + (*dir_ / "ckpt") + " --inputs " + (*dir_ / "x.npy") + " --out " +
                           (*dir_ / "t"));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
};
test::TempDir* Grouped::dir_ = nullptr;

TEST(GroupedGraph, ShapesParametersAndMacsFollowPyTorch) {
  Graph g = parse_graph(kModel, "grouped.yaml");
  EXPECT_EQ(g.input_shape, (Shape{3, 13, 11}));
  auto node = [&](const char* n) -> const Node& { return g.nodes[size_t(g.find(n))]; };
  // PyTorch: H_out = (H + 2p - d(k-1) - 1) / s + 1.
  EXPECT_EQ(node("c1").out_shape, (Shape{8, 13, 5}));
  EXPECT_EQ(node("dw").groups, 8);  // depthwise resolved to the input's channels
  EXPECT_EQ(node("dw").out_shape, (Shape{8, 13, 5}));
  EXPECT_EQ(node("g4").out_shape, (Shape{12, 13, 5}));
  EXPECT_EQ(node("dwm").out_shape, (Shape{24, 7, 3}));
  std::map<std::string, Shape> shapes;
  for (const ParamInfo& p : g.parameters()) shapes[p.key] = p.shape;
  EXPECT_EQ(shapes["dw.weight"], (Shape{8, 1, 3, 3}));
  EXPECT_EQ(shapes["g4.weight"], (Shape{12, 2, 1, 3}));
  EXPECT_EQ(shapes["dwm.weight"], (Shape{24, 1, 3, 3}));
  EXPECT_EQ(g.macs(node("dw")), 8 * 13 * 5 * 9);
  EXPECT_EQ(g.macs(node("g4")), 12 * 13 * 5 * 3 * 2);
  EXPECT_EQ(g.macs(node("dwm")), 24 * 7 * 3 * 9);
  // Written back and read again: the same graph (groups and dilation kept).
  Graph again = parse_graph(graph_to_yaml(g), "again.yaml");
  EXPECT_EQ(again.nodes[size_t(again.find("dw"))].groups, 8);
  EXPECT_EQ(again.nodes[size_t(again.find("dw"))].dh, 2);
  EXPECT_EQ(again.total_macs(), g.total_macs());
  EXPECT_EQ(again.input_shape, g.input_shape);
}

TEST(GroupedGraph, BadGroupsAndDilationsNameTheLine) {
  auto fails = [](const std::string& node, const std::string& want) {
    std::string y = "name: t\nparams: {in_channels: 6, input_size: [8, 6]}\nnodes:\n" + node;
    try {
      parse_graph(y, "m.yaml");
      ADD_FAILURE() << "accepted: " << node;
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  fails("  - {name: c, op: conv2d, inputs: [input], out_channels: 8, kernel: 3, groups: 4}\n",
        "m.yaml:4: nodes (c): groups: 4 does not divide the input's 6 channels and out_channels 8");
  fails("  - {name: c, op: conv2d, inputs: [input], out_channels: 6, kernel: 3, groups: 0}\n",
        "expected a positive integer or 'depthwise'");
  fails("  - {name: c, op: conv2d, inputs: [input], out_channels: 6, kernel: 3, dilation: 4}\n",
        "m.yaml:4: nodes (c): kernel 3x3 dilated to 9x9 is larger than the padded input [6, 8, 6]");
  fails("  - {name: c, op: conv2d, inputs: [input], out_channels: 6, kernel: 3, dilation: [1, 0]}\n",
        "dilations must be positive");
  fails("  - {name: c, op: conv2d, inputs: [input], out_channels: 6, kernel: 1, groups: many}\n",
        "m.yaml:4:");
  fails(
      "  - {name: c, op: conv2d, inputs: [input], out_channels: 4, kernel: 1}\n"
      "  - {name: m, op: mul, inputs: [input, c]}\n",
      "m.yaml:5: nodes (m): mul inputs do not broadcast: [6, 8, 6] (input) and [4, 8, 6] (c)");
  fails(
      "  - {name: c, op: conv2d, inputs: [input], out_channels: 4, kernel: 3}\n"
      "  - {name: k, op: concat, inputs: [input, c]}\n",
      "m.yaml:5: nodes (k): concat inputs must agree on all but the channels: [6, 8, 6] (input) and [4, 6, "
      "4] (c)");
  fails("  - {name: k, op: concat, inputs: [input]}\n",
        "m.yaml:4: nodes (k): concat takes two or more inputs");
  fails("  - {name: m, op: mul, inputs: [input]}\n", "mul takes 2 inputs, got 1");
}

TEST_F(Grouped, EveryGroupReproducesTheTrainersOutputsOnEveryDataflow) {
  TraceReader tr(*dir_ / "t");
  for (const char* df : {"ws", "os", "is"}) {
    SCOPED_TRACE(df);
    sim::HwConfig hw = sim::load_hwconfig(
        "cnvlutin_ws16", {std::string("array.dataflow=") + df, "array.datatype=fp32", "array.rows=8",
                          "array.cols=4", "sparsity.gate=true", skip_of(df)});
    sim::SimOptions o;
    o.verify = true;
    sim::SimResult r = sim::simulate(hw, tr, o);
    const Graph& g = tr.graph();
    int convs = 0;
    for (const auto& l : r.layers) {
      if (l.group.gemm < 0) continue;
      const Node& n = g.nodes[size_t(l.group.gemm)];
      ASSERT_EQ(l.verified.size(), 3u) << n.name;
      for (size_t s = 0; s < 3; ++s) {
        EXPECT_TRUE(l.verified[s].ran);
        EXPECT_LE(l.verified[s].worst_ratio, 1.0) << n.name;
        // fp32 on the array: the engine's sums are oneDNN's outputs up to float rounding.
        EXPECT_LT(l.verified[s].quant_err_rel, 1e-5) << n.name << " sample " << s;
        EXPECT_EQ(l.samples[s].mac_dense, g.macs(n)) << n.name;
        EXPECT_EQ(l.samples[s].mac_effective + l.samples[s].mac_gated + l.samples[s].mac_skipped +
                      l.samples[s].mac_pad,
                  l.samples[s].mac_dense)
            << n.name;
      }
      convs += n.op == Op::conv2d;
      if (n.groups > 1) {
        EXPECT_NE(l.tiling.find(fmt::format("{} groups, each:", n.groups)), std::string::npos);
      }
    }
    EXPECT_EQ(convs, 5);
  }
}

// The SE scale and the concat ride on the se_fc row: the block's input r4 comes back from DRAM
// twice (as mul's and as concat's operand), the PPU multiplies every element and moves r4 into
// the concatenation.
TEST(GroupedGraph, SqueezeExcitationAndConcatRideOnTheScaleRow) {
  Graph g = parse_graph(kModel, "grouped.yaml");
  for (const sim::LayerGroup& grp : sim::group_layers(g)) {
    if (grp.name != "se_fc") continue;
    EXPECT_EQ(grp.fused_names(g), "se_gate,se,cat,pool,flat");
    EXPECT_EQ(grp.residual_elems, 2 * 24 * 7 * 3);
    // bias 24, hardsigmoid 2·24, mul 504, concat 504 moved, pool 1008 + 48
    EXPECT_EQ(grp.ppu_ops, 24 + 2 * 24 + 504 + 504 + 1008 + 48);
    return;
  }
  ADD_FAILURE() << "no se_fc row";
}

TEST_F(Grouped, CycleFidelityEqualsFastOnGroupedLayers) {
  TraceReader tr(*dir_ / "t");
  sysc::install();
  sim::HwConfig hw = sim::load_hwconfig("cnvlutin_ws16", {"array.rows=8", "array.cols=4", skip_of("ws")});
  sim::SimOptions o;
  o.samples = 1;
  sim::SimResult fast = sim::simulate(hw, tr, o);
  o.fidelity = sim::Fidelity::cycle;
  sim::SimResult cyc = sim::simulate(hw, tr, o);
  ASSERT_EQ(fast.layers.size(), cyc.layers.size());
  for (size_t i = 0; i < fast.layers.size(); ++i)
    for (const auto& f : sim::counter_infos())
      EXPECT_EQ(fast.layers[i].samples[0].*f.field, cyc.layers[i].samples[0].*f.field)
          << fast.layers[i].group.name << " " << f.name;
}

TEST(GroupedGemm, DepthwiseUsesOneColumnPerGroupAndScaleSimSeesEachGroup) {
  // Depthwise 3×3 on 16 channels: 16 GEMMs of M = 64, K = 9, N = 1.
  sim::GemmShape s = sim::conv_gemm("dw", 16, 8, 8, 16, sim::ConvGeometry{3, 3, 1, 1, 1, 1, 1, 1, 16});
  EXPECT_EQ(s.M, 64);
  EXPECT_EQ(s.K, 9);
  EXPECT_EQ(s.N, 1);
  EXPECT_EQ(s.dense_macs(), 16 * 64 * 9);
  EXPECT_EQ(s.weight_elems(), 16 * 9);
  EXPECT_EQ(s.ifmap_elems(), 16 * 64);
  // Padding taps of a 3×3 pad-1 conv on 8×8: per channel 8·8·9 − (8·3 − 2)² = 92.
  EXPECT_EQ(s.pad_pairs, 92);
  // Dilation 2 with padding 2 on 8×8: per axis the valid taps are Σ_o #{t: 0 ≤ o − 2 + 2t < 8}.
  sim::GemmShape d = sim::conv_gemm("d", 1, 8, 8, 1, sim::ConvGeometry{3, 3, 1, 1, 2, 2, 2, 2, 1});
  EXPECT_EQ(d.ho, 8);
  int64_t axis = 0;
  for (int o = 0; o < 8; ++o)
    for (int t = 0; t < 3; ++t) axis += o - 2 + 2 * t >= 0 && o - 2 + 2 * t < 8;
  EXPECT_EQ(d.pad_pairs, 64 * 9 - axis * axis);

  // SCALE-Sim has no dilation: refused. Without it, one topology row per group.
  EXPECT_THROW(sim::scalesim_topology(parse_graph(kModel, "grouped.yaml")), ModelError);
  std::string plain = kModel;
  plain.replace(plain.find("dilation: 2, "), 13, "");
  plain.replace(plain.find("stride: [1, 2], "), 16, "stride: [2, 2], ");
  std::string topo = sim::scalesim_topology(parse_graph(plain, "plain.yaml"));
  EXPECT_NE(topo.find("g4.g0, 9, 9, 1, 3, 2, 3, 1,"), std::string::npos) << topo;
  EXPECT_NE(topo.find("g4.g3,"), std::string::npos) << topo;
  EXPECT_EQ(topo.find("g4.g4,"), std::string::npos) << topo;
  EXPECT_NE(topo.find("dwm.g11, 11, 9, 3, 3, 1, 2, 2,"), std::string::npos) << topo;
}

}  // namespace
}  // namespace eatsim
