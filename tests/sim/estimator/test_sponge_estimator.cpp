// Sponge estimator: hand-computed counts and energies for each layer type in both conventions,
// all-zero and all-non-zero tensors, the bit-width thresholds, the three reductions, and the
// in-memory API the trainer uses agreeing with the trace path.
#include <gtest/gtest.h>

#include <cmath>

#include "base/errors.hpp"
#include "sim/estimator/firing.hpp"
#include "tests/helpers.hpp"
#include "traces/synth.hpp"
#include "traces/trace.hpp"

namespace eatsim::sponge {
namespace {

// conv -> bn -> in-place ReLU module -> maxpool -> adaptive avgpool -> flatten (functional) -> linear
const char* kTiny = R"(name: tiny
params: {width: 1, in_channels: 1, input_size: 4, classes: 2}
nodes:
  - {name: conv, op: conv2d, inputs: [input], out_channels: 2, kernel: 3, pad: 1}
  - {name: bn, op: batchnorm2d, inputs: [conv]}
  - {name: relu, op: relu, inputs: [bn], module: true, inplace: true}
  - {name: pool, op: maxpool2d, inputs: [relu], module: true, kernel: 2}
  - {name: gap, op: global_avgpool, inputs: [pool], module: true}
  - {name: flat, op: flatten, inputs: [gap]}
  - {name: fc, op: linear, inputs: [flat], out_features: classes}
)";

// identity module (kuangliu's empty shortcut) -> functional add -> avgpool module
const char* kResidual = R"(name: residual
params: {width: 1, in_channels: 1, input_size: 4, classes: 2}
nodes:
  - {name: a, op: identity, inputs: [input]}
  - {name: s, op: add, inputs: [input, a]}
  - {name: ap, op: avgpool2d, inputs: [s], module: true, kernel: 2}
)";

Graph graph_of(const char* text) { return parse_graph(text, "test"); }

// A tensor of n elements whose first k are non-zero (value v), the rest exactly zero.
std::vector<float> with_nnz(int64_t n, int64_t k, float v = 1.0f) {
  std::vector<float> x(static_cast<size_t>(n), 0.0f);
  for (int64_t i = 0; i < k; ++i) x[i] = v;
  return x;
}

void set_all_params(CensusBuilder& b, const Graph& g, float v) {
  for (const auto& p : g.parameters()) {
    if (p.is_int64) {
      std::vector<int64_t> x(numel(p.shape), v != 0 ? 100 : 0);
      b.set_param_i64(p.key, x.data(), numel(p.shape));
    } else {
      auto x = with_nnz(numel(p.shape), numel(p.shape), v);
      b.set_param(p.key, x.data(), numel(p.shape));
    }
  }
}

// The tiny net with chosen non-zero counts (one sample): see the comments for what each counts.
Census tiny_census() {
  Graph g = graph_of(kTiny);
  CensusBuilder b(g, 32);
  auto act = [&](const std::string& n, int64_t total, int64_t nz) {
    b.add_activation(n, with_nnz(total, nz).data(), 1);
  };
  act("input", 16, 16);
  act("conv", 32, 20);
  act("bn", 32, 32);  // BN output before the in-place ReLU rectified it
  act("relu", 32, 12);
  act("pool", 8, 6);
  act("gap", 2, 2);
  act("flat", 2, 2);
  act("fc", 2, 2);
  auto w = with_nnz(18, 9);
  b.set_param("conv.weight", w.data(), 18);
  auto one2 = with_nnz(2, 2);
  for (const char* k : {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"})
    b.set_param(k, one2.data(), 2);
  int64_t nbt = 0;  // a zero num_batches_tracked: counted, but not as a non-zero
  b.set_param_i64("bn.num_batches_tracked", &nbt, 1);
  auto fw = with_nnz(4, 2);
  b.set_param("fc.weight", fw.data(), 4);
  b.set_param("fc.bias", one2.data(), 2);
  return b.finish();
}

TEST(SpongeEstimator, ReferenceCountsEachLayerTypeByTheOriginalsRules) {
  Estimate e = estimate(tiny_census(), Convention::reference, 0, 1);
  ASSERT_EQ(e.layers.size(), 6u);  // functional flatten is invisible to hooks
  struct Want {
    const char* name;
    const char* type;
    int64_t in, in_nz, out, out_nz, p, p_nz, ops;
  };
  const Want want[] = {
      {"conv", "Conv2d", 16, 16, 32, 20, 18, 9, 32 * 3 * 3 * 1},  // out.numel * kh * kw * Cin
      {"bn", "BatchNorm2d", 32, 20, 32, 32, 13, 12, 4 * 32},      // 4C+1 params + 2C surcharge; 4 * in.numel
      {"relu", "ReLU", 32, 12, 32, 12, 0, 0, 0},                  // in-place: input seen rectified
      {"pool", "MaxPool2d", 32, 12, 8, 6, 0, 0, 8 * 2 * 2},       // out.numel * k * k
      {"gap", "AdaptiveAvgPool2d", 8, 6, 2, 2, 0, 0, 8},          // in.numel
      {"fc", "Linear", 2, 2, 2, 2, 6, 4, 4 * 1},                  // W.numel * rows
  };
  for (size_t i = 0; i < 6; ++i) {
    const LayerCount& l = e.layers[i];
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(l.name, want[i].name);
    EXPECT_EQ(l.type, want[i].type);
    EXPECT_EQ(l.in_total, want[i].in);
    EXPECT_EQ(l.in_nnz, want[i].in_nz);
    EXPECT_EQ(l.out_total, want[i].out);
    EXPECT_EQ(l.out_nnz, want[i].out_nz);
    EXPECT_EQ(l.param_total, want[i].p);
    EXPECT_EQ(l.param_nnz, want[i].p_nz);
    EXPECT_EQ(l.ops, want[i].ops);
  }
  EXPECT_EQ(e.layers[1].surcharge, 4);
  // Totals: P 37 (25 nz), A_in 122 (68), A_out 108 (74), ops 460.
  double f = (25.0 / 37) * (68.0 / 122);
  EXPECT_DOUBLE_EQ(e.f(), f);
  EXPECT_DOUBLE_EQ(e.energy_worst_pj, 1950.0 * (37 + 122 + 108) + 3.7 * 460);
  EXPECT_DOUBLE_EQ(e.energy_opt_pj, 1950.0 * (25 + 68 + 74) + 3.7 * 460 * f);
  EXPECT_DOUBLE_EQ(e.ratio, e.energy_opt_pj / e.energy_worst_pj);
}

TEST(SpongeEstimator, BnSecondReadCountsTheStatisticsNonZeros) {
  // The tiny net with a zero in running_mean: the second read adds 2C elements but only the
  // statistics' non-zeros (3 of 4), as the original adds nnz(running_mean) + nnz(running_var).
  Census c = tiny_census();
  ParamCounts& rm = c.params.at("bn.running_mean");
  ASSERT_EQ(rm.nnz, 2);
  rm.nnz = 1;
  Estimate e = estimate(c, Convention::reference, 0, 1);
  EXPECT_EQ(e.layers[1].surcharge, 4);
  EXPECT_EQ(e.layers[1].surcharge_nnz, 3);
  EXPECT_EQ(e.layers[1].param_total, 13);
  EXPECT_EQ(e.layers[1].param_nnz, 12 - 1 - 1);  // one zero, read twice
}

TEST(SpongeEstimator, GraphConventionCountsEveryNodeWithInputsBeforeItRuns) {
  Estimate e = estimate(tiny_census(), Convention::graph, 0, 1);
  ASSERT_EQ(e.layers.size(), 7u);
  EXPECT_EQ(e.layers[1].param_total, 8);  // BN: weight, bias, mean, var; no counter, no surcharge
  EXPECT_EQ(e.layers[1].surcharge, 0);
  EXPECT_EQ(e.layers[2].in_nnz, 32);  // the ReLU's input is the BN output, before rectification
  EXPECT_EQ(e.layers[5].name, "flat");
  EXPECT_EQ(e.layers[5].ops, 0);
  // Totals: P 32 (21 nz), A_in 124 (90), A_out 110 (76), ops 460.
  double f = (21.0 / 32) * (90.0 / 124);
  EXPECT_DOUBLE_EQ(e.energy_worst_pj, 1950.0 * (32 + 124 + 110) + 3.7 * 460);
  EXPECT_DOUBLE_EQ(e.energy_opt_pj, 1950.0 * (21 + 90 + 76) + 3.7 * 460 * f);
}

TEST(SpongeEstimator, IdentityAddAndAvgPoolRules) {
  Graph g = graph_of(kResidual);
  CensusBuilder b(g, 32);
  b.add_activation("input", with_nnz(16, 10).data(), 1);
  b.add_activation("a", with_nnz(16, 10).data(), 1);
  b.add_activation("s", with_nnz(16, 10).data(), 1);
  b.add_activation("ap", with_nnz(4, 3).data(), 1);
  Census c = b.finish();
  Estimate r = estimate(c, Convention::reference, 0, 1);
  ASSERT_EQ(r.layers.size(), 2u);  // the functional add is invisible
  EXPECT_EQ(r.layers[0].type, "Sequential");
  EXPECT_FALSE(r.layers[0].supported);  // the original has no rule: 0 ops, listed as unsupported
  EXPECT_EQ(r.layers[0].rule, "unsupported");
  EXPECT_EQ(r.layers[0].ops, 0);
  EXPECT_EQ(r.layers[0].in_nnz, 10);
  EXPECT_EQ(r.layers[1].type, "AvgPool2d");
  EXPECT_EQ(r.layers[1].ops, 4 * 2 * 2);
  Estimate g2 = estimate(c, Convention::graph, 0, 1);
  ASSERT_EQ(g2.layers.size(), 3u);
  EXPECT_TRUE(g2.layers[0].supported);
  EXPECT_EQ(g2.layers[1].in_total, 32);  // both addends
  EXPECT_EQ(g2.layers[1].in_nnz, 20);
  EXPECT_EQ(g2.layers[1].ops, 16);  // one add per output element
  // No parameters at all: weight density counts as 1.
  EXPECT_DOUBLE_EQ(g2.weight_density, 1.0);
  EXPECT_DOUBLE_EQ(g2.energy_worst_pj, 1950.0 * (16 + 32 + 16 + 16 + 16 + 4) + 3.7 * (16 + 16));
}

Census uniform_census(const Graph& g, float v, int64_t samples) {
  CensusBuilder b(g, 32);
  b.add_activation(-1, with_nnz(samples * numel(g.input_shape), samples * numel(g.input_shape), v).data(),
                   samples);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    int64_t n = samples * numel(g.nodes[i].out_shape);
    b.add_activation(static_cast<int>(i), with_nnz(n, n, v).data(), samples);
  }
  set_all_params(b, g, v);
  return b.finish();
}

TEST(SpongeEstimator, AllNonZeroGivesRatioOneAndAllZeroGivesZero) {
  Graph g = graph_of(kTiny);
  for (Convention conv : {Convention::reference, Convention::graph}) {
    Estimate dense = estimate(uniform_census(g, 0.5f, 2), conv, 0, 2);
    EXPECT_DOUBLE_EQ(dense.ratio, 1.0);
    EXPECT_DOUBLE_EQ(dense.f(), 1.0);
    EXPECT_DOUBLE_EQ(dense.energy_opt_pj, dense.energy_worst_pj);
    Estimate zero = estimate(uniform_census(g, 0.0f, 2), conv, 0, 2);
    // The reference convention's second read of BN statistics counts their non-zeros: none here.
    EXPECT_EQ(zero.f(), 0.0);
    EXPECT_EQ(zero.energy_opt_pj, 0.0);
    EXPECT_EQ(zero.ratio, 0.0);
    EXPECT_DOUBLE_EQ(zero.energy_worst_pj, dense.energy_worst_pj);
  }
}

TEST(SpongeEstimator, BitWidthThresholdsAreStrictAndOnlyMoveTheZeroCut) {
  EXPECT_EQ(nonzero_threshold(32), std::ldexp(1.0, -126));
  EXPECT_EQ(nonzero_threshold(16), std::ldexp(1.0, -30));
  EXPECT_EQ(nonzero_threshold(8), std::ldexp(1.0, -14));
  EXPECT_THROW(nonzero_threshold(12), UsageError);
  Graph g = graph_of(kResidual);
  // 16 values straddling every threshold; exactly-at-threshold values do not count.
  std::vector<float> x(16, 0.0f);
  const double v[] = {
      std::ldexp(1.0, -127), std::ldexp(1.0, -126), std::ldexp(1.0, -100), std::ldexp(1.0, -30),
      std::ldexp(1.0, -20),  std::ldexp(1.0, -14),  -std::ldexp(1.0, -10), 1.0};
  for (int i = 0; i < 8; ++i) x[i] = static_cast<float>(v[i]);
  ASSERT_NE(x[0], 0.0f);  // a float32 denormal
  const std::pair<int, int64_t> want[] = {{32, 6}, {16, 4}, {8, 2}};
  for (auto [bits, nz] : want) {
    CensusBuilder b(g, bits);
    for (int n = -1; n < 3; ++n) b.add_activation(n, n == 2 ? x.data() + 12 : x.data(), 1);
    Census c = b.finish();
    EXPECT_EQ(c.input.nnz[0], nz) << bits << "-bit";
  }
}

TEST(SpongeEstimator, ReductionsChargeParametersOncePerPassAndAverageRatios) {
  Graph g = graph_of(kTiny);
  CensusBuilder b(g, 32);
  // Three samples of different densities, given in two batches (as the trainer would).
  auto add_samples = [&](std::vector<double> dens) {
    int64_t s = static_cast<int64_t>(dens.size());
    auto fill = [&](int node, int64_t per) {
      std::vector<float> x;
      for (double d : dens) {
        auto one = with_nnz(per, static_cast<int64_t>(std::llround(d * per)));
        x.insert(x.end(), one.begin(), one.end());
      }
      b.add_activation(node, x.data(), s);
    };
    fill(-1, numel(g.input_shape));
    for (size_t i = 0; i < g.nodes.size(); ++i) fill(static_cast<int>(i), numel(g.nodes[i].out_shape));
  };
  add_samples({1.0, 0.5});
  add_samples({0.25});
  set_all_params(b, g, 1.0f);
  Census c = b.finish();
  ASSERT_EQ(c.num_samples(), 3);

  Report whole = analyse(c, {Convention::reference, Reduction::whole, 0});
  Estimate one = estimate(c, Convention::reference, 0, 1);
  EXPECT_EQ(whole.whole.totals.param_total, one.totals.param_total);  // once per pass, not per sample
  EXPECT_EQ(whole.whole.totals.in_total, 3 * one.totals.in_total);
  EXPECT_EQ(whole.whole.totals.ops, 3 * one.totals.ops);
  EXPECT_DOUBLE_EQ(whole.ratio, whole.whole.ratio);

  Report ps = analyse(c, {Convention::reference, Reduction::per_sample, 0});
  ASSERT_EQ(ps.chunks.size(), 3u);
  double mean = 0;
  for (int i = 0; i < 3; ++i) mean += estimate(c, Convention::reference, i, 1).ratio / 3;
  EXPECT_DOUBLE_EQ(ps.ratio, mean);
  EXPECT_GT(ps.ratio_std, 0);
  EXPECT_NE(ps.ratio, whole.ratio);

  Report pb = analyse(c, {Convention::reference, Reduction::per_batch, 2});
  ASSERT_EQ(pb.chunks.size(), 2u);  // [0, 2) and the smaller last batch [2, 3)
  EXPECT_EQ(pb.chunks[1].samples, 1);
  EXPECT_DOUBLE_EQ(pb.ratio, (estimate(c, Convention::reference, 0, 2).ratio + ps.chunks[2].ratio) / 2);
  EXPECT_DOUBLE_EQ(analyse(c, {Convention::reference, Reduction::per_batch, 1}).ratio, ps.ratio);
  EXPECT_DOUBLE_EQ(analyse(c, {Convention::reference, Reduction::per_batch, 3}).ratio, whole.ratio);
  EXPECT_THROW(analyse(c, {Convention::reference, Reduction::per_batch, 0}), UsageError);
  EXPECT_DOUBLE_EQ(energy_ratio(c), whole.ratio);
}

TEST(SpongeEstimator, CountsGivenDirectlyEqualCountsTakenFromTensors) {
  Census a = tiny_census();
  CensusBuilder b(a.graph, 32);
  b.add_counts(-1, a.input.nnz.data(), 1);
  for (size_t i = 0; i < a.nodes.size(); ++i) b.add_counts(static_cast<int>(i), a.nodes[i].nnz.data(), 1);
  for (const auto& [k, p] : a.params) b.set_param_counts(k, p.numel, p.nnz);
  Census c = b.finish();
  EXPECT_DOUBLE_EQ(estimate(c, Convention::reference, 0, 1).ratio,
                   estimate(a, Convention::reference, 0, 1).ratio);
  int64_t too_many = 33;
  EXPECT_THROW(b.add_counts(a.graph.find("conv"), &too_many, 1), UsageError);
  EXPECT_THROW(b.set_param_counts("conv.weight", 18, 19), UsageError);
}

TEST(SpongeEstimator, BuilderRefusesIncompleteOrMisshapenInput) {
  Graph g = graph_of(kTiny);
  CensusBuilder b(g, 32);
  b.add_activation("input", with_nnz(16, 16).data(), 1);
  EXPECT_THROW(b.finish(), UsageError);  // nodes and parameters missing
  auto w = with_nnz(17, 1);
  EXPECT_THROW(b.set_param("conv.weight", w.data(), 17), UsageError);
  EXPECT_THROW(b.set_param("conv.bias", w.data(), 2), UsageError);  // no such parameter
  EXPECT_THROW(b.add_activation("nope", w.data(), 1), UsageError);
  EXPECT_THROW(convention_from_name("original"), UsageError);
  EXPECT_THROW(reduction_from_name("mean"), UsageError);
}

TEST(SpongeEstimator, TraceAndInMemoryCensusAgreeIncludingQuantisedStorage) {
  ParamOverrides o;
  o.has_width = o.has_in_channels = o.has_input_size = true;
  o.p.width = 0.125, o.p.in_channels = 1, o.p.input_h = o.p.input_w = 16;
  Graph g = load_graph("resnet8", o);
  test::TempDir d("sponge");
  SynthOptions so;
  so.samples = 3;
  so.density = "0.4";
  so.weight_density = 0.7;
  for (DType dt : {DType::f32, DType::i8}) {
    so.dtype = dt;
    std::string dir = d / dtype_name(dt);
    write_synthetic_trace(g, so, dir, false, "test");
    TraceReader r(dir);
    Census from_trace = census_from_trace(r, 32);
    CensusBuilder b(r.graph(), 32);
    b.add_activation(-1, r.load("input").data(), 3);
    for (size_t i = 0; i < g.nodes.size(); ++i)
      b.add_activation(static_cast<int>(i), r.load(g.nodes[i].name).data(), 3);
    for (const auto& p : g.parameters()) {
      if (p.is_int64) {
        auto v = npy_load_i64(r.path_of(*r.manifest().find(p.key)));
        b.set_param_i64(p.key, v.data(), static_cast<int64_t>(v.size()));
      } else {
        auto v = r.load(p.key);
        b.set_param(p.key, v.data(), static_cast<int64_t>(v.size()));
      }
    }
    Census mem = b.finish();
    for (Convention conv : {Convention::reference, Convention::graph}) {
      Estimate a = estimate(from_trace, conv, 0, 3), m = estimate(mem, conv, 0, 3);
      EXPECT_EQ(a.totals.in_nnz, m.totals.in_nnz) << dtype_name(dt);
      EXPECT_EQ(a.totals.out_nnz, m.totals.out_nnz) << dtype_name(dt);
      EXPECT_EQ(a.totals.param_nnz, m.totals.param_nnz) << dtype_name(dt);
      EXPECT_DOUBLE_EQ(a.ratio, m.ratio) << dtype_name(dt);
      EXPECT_LT(a.ratio, 1.0);
    }
  }
}

TEST(SpongeFiring, LeavesOutBatchNormAndFlattenAndWeightsByElements) {
  Census c = tiny_census();
  Firing f = firing(c, Convention::graph);
  std::vector<std::string> names;
  for (const auto& r : f.rows) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv", "relu", "pool", "gap", "fc"}));
  EXPECT_DOUBLE_EQ(f.rows[1].count.firing(), 12.0 / 32);
  EXPECT_EQ(f.total.numel, 32 + 32 + 8 + 2 + 2);
  EXPECT_EQ(f.total.nnz, 20 + 12 + 6 + 2 + 2);
  ASSERT_EQ(f.by_type.size(), 5u);
  EXPECT_EQ(f.by_type[1].first, "relu");
  Graph r = graph_of(kResidual);
  CensusBuilder b(r, 32);
  b.add_activation("input", with_nnz(32, 10).data(), 2);
  b.add_activation("a", with_nnz(32, 10).data(), 2);
  b.add_activation("s", with_nnz(32, 20).data(), 2);
  b.add_activation("ap", with_nnz(8, 3).data(), 2);
  Firing fr = firing(b.finish(), Convention::reference);  // module nodes only: the add is invisible
  ASSERT_EQ(fr.rows.size(), 2u);
  EXPECT_EQ(fr.rows[0].count.nnz, 10);
  EXPECT_EQ(fr.rows[0].count.numel, 32);
}

}  // namespace
}  // namespace eatsim::sponge
