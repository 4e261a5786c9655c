// Every trainer layer, forward and backward, against the naive references in naive.cpp, on
// one-node graphs with random shapes (strides, padding, odd sizes, batch 1 and 7).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "tests/trainer/naive.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace {

using namespace test::naive;

constexpr double kTol = 1e-4;

// A graph on a C×H×W input (W = 0: square).
Graph graph_of(int C, int H, const std::string& nodes, int W = 0) {
  return parse_graph(
      fmt::format("name: t\nparams: {{width: 1, in_channels: {}, input_size: [{}, {}], classes: 10}}\n"
                  "nodes:\n{}",
                  C, H, W ? W : H, nodes),
      "test.yaml");
}

void fill(Net& net, const std::string& key, const Vec& v) {
  float* p = net.param(key);
  ASSERT_NE(p, nullptr) << key;
  std::copy(v.begin(), v.end(), p);
}

Vec grad(Net& net, const std::string& key) {
  Tensor t = net.get(key);
  const float* g = net.grad(key);
  return Vec(g, g + t.numel());
}

struct ConvCase {
  int N, C, H, O, kh, kw, sh, sw, ph, pw;
  bool bias;
  int groups = 1, dh = 1, dw = 1, W = 0;  // W = 0: square input
};
// Test names in listings (and so in ctest) show the case, not the object's bytes.
void PrintTo(const ConvCase& c, std::ostream* os) {
  *os << "N" << c.N << " C" << c.C << " H" << c.H << " O" << c.O << " k" << c.kh << "x" << c.kw << " s"
      << c.sh << "x" << c.sw << " p" << c.ph << "x" << c.pw << (c.bias ? " bias" : "");
  if (c.groups != 1) *os << " g" << c.groups;
  if (c.dh != 1 || c.dw != 1) *os << " d" << c.dh << "x" << c.dw;
  if (c.W) *os << " W" << c.W;
}

class ConvLayer : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvLayer, ForwardAndBackwardMatchNaive) {
  ConvCase c = GetParam();
  Graph g = graph_of(
      c.C, c.H,
      fmt::format("  - {{name: conv, op: conv2d, inputs: [input], out_channels: {}, kernel: [{}, {}], "
                  "stride: [{}, {}], pad: [{}, {}], bias: {}, groups: {}, dilation: [{}, {}]}}\n",
                  c.O, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.bias ? "true" : "false", c.groups, c.dh, c.dw),
      c.W);
  Net net(g, 1);
  net.set_debug_grads(true);
  Dims d{c.N, c.C, c.H, c.W ? c.W : c.H};
  Window k{c.kh, c.kw, c.sh, c.sw, c.ph, c.pw};
  k.dh = c.dh, k.dw = c.dw;
  Vec x = random_vec(d.size(), 2), w = net.get("conv.weight").data;
  Vec b = c.bias ? random_vec(c.O, 3) : Vec{};
  if (c.bias) fill(net, "conv.bias", b);
  net.forward(x.data(), c.N, true);
  Vec y = conv_fwd(x, d, w, b, c.O, k, c.groups);
  ASSERT_EQ(net.output().data.size(), y.size());
  EXPECT_LT(rel_err(net.output().data, y), kTol);
  Vec dy = random_vec(static_cast<int64_t>(y.size()), 4);
  net.backward_from(dy.data());
  Vec dx, dw, db;
  conv_bwd(x, d, w, c.O, k, dy, dx, dw, db, c.groups);
  EXPECT_LT(rel_err(net.edge_grad(-1).data, dx), kTol) << "d(input)";
  EXPECT_LT(rel_err(grad(net, "conv.weight"), dw), kTol) << "d(weight)";
  if (c.bias) {
    EXPECT_LT(rel_err(grad(net, "conv.bias"), db), kTol) << "d(bias)";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvLayer,
                         ::testing::Values(ConvCase{1, 3, 7, 4, 3, 3, 1, 1, 1, 1, true},
                                           ConvCase{7, 5, 9, 6, 3, 3, 2, 2, 1, 1, false},
                                           ConvCase{7, 16, 8, 16, 1, 1, 2, 2, 0, 0, false},
                                           ConvCase{1, 4, 6, 3, 2, 3, 2, 1, 0, 1, true},
                                           ConvCase{7, 2, 11, 5, 5, 5, 3, 3, 2, 2, true},
                                           ConvCase{7, 17, 5, 33, 3, 3, 1, 1, 1, 1, false},
                                           // groups, depthwise, depthwise with a multiplier, dilation
                                           ConvCase{2, 6, 7, 9, 3, 3, 1, 1, 1, 1, true, 3},
                                           ConvCase{3, 16, 8, 16, 3, 3, 2, 2, 1, 1, false, 16},
                                           ConvCase{1, 4, 6, 8, 3, 1, 1, 2, 1, 0, true, 4},
                                           ConvCase{2, 5, 11, 7, 3, 3, 1, 1, 2, 2, false, 1, 2, 2},
                                           ConvCase{2, 8, 12, 8, 3, 2, 2, 1, 2, 1, true, 8, 2, 3, 9},
                                           ConvCase{1, 3, 5, 4, 2, 3, 1, 2, 0, 1, false, 1, 1, 1, 13},
                                           // MobileNetV2's depthwise stride-2 layer at full size
                                           ConvCase{8, 144, 16, 144, 3, 3, 2, 2, 1, 1, false, 144}));

struct BnCase {
  int N, C, H;
};
void PrintTo(const BnCase& c, std::ostream* os) { *os << "N" << c.N << " C" << c.C << " H" << c.H; }
class BatchNormLayer : public ::testing::TestWithParam<BnCase> {};

TEST_P(BatchNormLayer, TrainEvalBackwardAndRunningStatsMatchPyTorchSemantics) {
  BnCase c = GetParam();
  Graph g = graph_of(c.C, c.H, "  - {name: bn, op: batchnorm2d, inputs: [input]}\n");
  Net net(g, 1);
  net.set_debug_grads(true);
  Dims d{c.N, c.C, c.H, c.H};
  Vec x = random_vec(d.size(), 5, -2, 3), gm = random_vec(c.C, 6, 0.5, 1.5), bt = random_vec(c.C, 7);
  Vec rm0 = random_vec(c.C, 8), rv0 = random_vec(c.C, 9, 0.5, 2);
  fill(net, "bn.weight", gm);
  fill(net, "bn.bias", bt);
  fill(net, "bn.running_mean", rm0);
  fill(net, "bn.running_var", rv0);
  net.forward(x.data(), c.N, true);
  Vec mean, var;
  Vec y = bn_train_fwd(x, d, gm, bt, 1e-5, mean, var);
  EXPECT_LT(rel_err(net.output().data, y), kTol);
  // Running statistics: momentum 0.1, unbiased variance, one batch tracked.
  double M = static_cast<double>(c.N) * c.H * c.H;
  Vec rm(c.C), rv(c.C);
  for (int i = 0; i < c.C; ++i) {
    rm[i] = static_cast<float>(0.9 * rm0[i] + 0.1 * mean[i]);
    rv[i] = static_cast<float>(0.9 * rv0[i] + 0.1 * var[i] * M / (M - 1));
  }
  EXPECT_LT(rel_err(net.get("bn.running_mean").data, rm), 1e-5);
  EXPECT_LT(rel_err(net.get("bn.running_var").data, rv), 1e-5);
  EXPECT_EQ(net.get("bn.num_batches_tracked").data[0], 1.0f);
  Vec dy = random_vec(d.size(), 10);
  net.backward_from(dy.data());
  Vec dx, dgm, dbt;
  bn_bwd(x, d, gm, 1e-5, dy, dx, dgm, dbt);
  EXPECT_LT(rel_err(net.edge_grad(-1).data, dx), kTol) << "d(input)";
  EXPECT_LT(rel_err(grad(net, "bn.weight"), dgm), kTol) << "d(weight)";
  EXPECT_LT(rel_err(grad(net, "bn.bias"), dbt), kTol) << "d(bias)";
  // Eval: the running statistics, which the training step must not have touched again.
  net.forward(x.data(), c.N, false);
  EXPECT_LT(rel_err(net.output().data, bn_eval_fwd(x, d, gm, bt, rm, rv, 1e-5)), kTol);
  EXPECT_EQ(net.get("bn.num_batches_tracked").data[0], 1.0f);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormLayer,
                         ::testing::Values(BnCase{1, 3, 5}, BnCase{7, 5, 3}, BnCase{7, 16, 4},
                                           BnCase{2, 21, 2}));

// BN on the channels-last layout bf16 convolutions produce (bn_nhwc.cpp), against the plain loops
// on the convolution's own output: training forward and backward, and fused with its ReLU (with
// and without penalties): forward, penalties, parameter gradients and eval.
class ChannelsLastBatchNorm : public ::testing::TestWithParam<int> {};

TEST_P(ChannelsLastBatchNorm, MatchesNaiveAfterABf16Convolution) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no bf16 instructions (avx512_bf16 or AMX)";
  const int C = GetParam(), N = 4, H = 5;
  const std::string conv = "  - {name: c0, op: conv2d, inputs: [input], out_channels: " + std::to_string(C) +
                           ", kernel: 1, bias: false}\n  - {name: bn, op: batchnorm2d, inputs: [c0]}\n";
  Dims d{N, C, H, H};
  Vec x = random_vec(d.size(), 5, -2, 3), gm = random_vec(C, 6, 0.5, 1.5), bt = random_vec(C, 7);
  Net net(graph_of(C, H, conv), 1);
  net.set_precision(Precision::bf16);
  net.set_debug_grads(true);
  fill(net, "bn.weight", gm);
  fill(net, "bn.bias", bt);
  net.forward(x.data(), N, true);
  Vec z = net.edge(0).data, mean, var;
  EXPECT_LT(rel_err(net.output().data, bn_train_fwd(z, d, gm, bt, 1e-5, mean, var)), kTol);
  Vec dy = random_vec(d.size(), 10), dz, dgm, dbt;
  net.backward_from(dy.data());
  bn_bwd(z, d, gm, 1e-5, dy, dz, dgm, dbt);
  EXPECT_LT(rel_err(net.edge_grad(0).data, dz), kTol) << "d(input)";
  EXPECT_LT(rel_err(grad(net, "bn.weight"), dgm), kTol) << "d(weight)";
  EXPECT_LT(rel_err(grad(net, "bn.bias"), dbt), kTol) << "d(bias)";
  // Fused with its ReLU: without a penalty, and with both outputs penalised.
  for (double lambda : {0.0, 1.0}) {
    Net fused(graph_of(C, H, conv + "  - {name: r, op: relu, inputs: [bn]}\n"), 1);
    fused.set_precision(Precision::bf16);
    const double sigma = 0.5;
    fused.set_penalty(PenaltyConfig{lambda, sigma, "bn,r", PenaltyNorm::layer_mean});
    fill(fused, "bn.weight", gm);
    fill(fused, "bn.bias", bt);
    fused.forward(x.data(), N, true);
    Vec zf = fused.edge(0).data;
    Vec yb = bn_train_fwd(zf, d, gm, bt, 1e-5, mean, var), yr = yb;
    double pb = 0, pr = 0;
    for (size_t i = 0; i < yb.size(); ++i) {
      yr[i] = std::max(yb[i], 0.0f);
      pb += yb[i] * yb[i] / (yb[i] * yb[i] + sigma), pr += yr[i] * yr[i] / (yr[i] * yr[i] + sigma);
    }
    EXPECT_LT(rel_err(fused.output().data, yr), kTol) << lambda;
    if (lambda > 0) {
      std::vector<double> pen = fused.layer_penalties();
      ASSERT_EQ(pen.size(), 2u);
      EXPECT_NEAR(pen[0], pb / double(yb.size()), 1e-4);
      EXPECT_NEAR(pen[1], pr / double(yb.size()), 1e-4);
    }
    // Backward from d(ReLU output): the ReLU's mask and both penalties' gradients (scale λ / (2 ·
    // elements): layer-mean over two tensors) reach BN's parameters.
    fused.backward_from(dy.data());
    const double s2 = lambda / (2.0 * double(yb.size())) * 2 * sigma;
    Vec gb(yb.size());
    for (size_t i = 0; i < yb.size(); ++i) {
      double qr = double(yr[i]) * yr[i] + sigma, qb = double(yb[i]) * yb[i] + sigma;
      double gr = dy[i] + s2 * yr[i] / (qr * qr);
      gb[i] = static_cast<float>((yb[i] > 0 ? gr : 0.0) + s2 * yb[i] / (qb * qb));
    }
    bn_bwd(zf, d, gm, 1e-5, gb, dz, dgm, dbt);
    EXPECT_LT(rel_err(grad(fused, "bn.weight"), dgm), kTol) << lambda;
    EXPECT_LT(rel_err(grad(fused, "bn.bias"), dbt), kTol) << lambda;
    // Eval with the running statistics.
    fused.forward(x.data(), N, false);
    Vec rm = fused.get("bn.running_mean").data, rv = fused.get("bn.running_var").data;
    Vec ye = bn_eval_fwd(fused.edge(0).data, d, gm, bt, rm, rv, 1e-5);
    for (float& v : ye) v = std::max(v, 0.0f);
    EXPECT_LT(rel_err(fused.output().data, ye), kTol) << lambda;
  }
}

INSTANTIATE_TEST_SUITE_P(Channels, ChannelsLastBatchNorm, ::testing::Values(32, 24, 20),
                         [](const auto& info) { return "C" + std::to_string(info.param); });

struct PoolCase {
  const char* op;
  int N, C, H, k, s, p;
  bool ceil = false;
};
void PrintTo(const PoolCase& c, std::ostream* os) {
  *os << c.op << " N" << c.N << " C" << c.C << " H" << c.H << " k" << c.k << " s" << c.s << " p" << c.p
      << (c.ceil ? " ceil" : "");
}
class PoolLayer : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolLayer, ForwardAndBackwardMatchNaive) {
  PoolCase c = GetParam();
  std::string op = c.op;
  Graph g = graph_of(
      c.C, c.H,
      op == "global_avgpool"
          ? "  - {name: pool, op: global_avgpool, inputs: [input]}\n"
          : fmt::format("  - {{name: pool, op: {}, inputs: [input], kernel: {}, stride: {}, pad: {}{}}}\n",
                        op, c.k, c.s, c.p, c.ceil ? ", ceil_mode: true" : ""));
  Net net(g, 1);
  net.set_debug_grads(true);
  Dims d{c.N, c.C, c.H, c.H};
  Window k{c.k, c.k, c.s, c.s, c.p, c.p, c.ceil};
  if (op == "global_avgpool") k = Window{c.H, c.H, 1, 1, 0, 0};
  Vec x = random_vec(d.size(), 11);
  net.forward(x.data(), c.N, true);
  bool is_max = op == "maxpool2d";
  Vec y = is_max ? maxpool_fwd(x, d, k) : avgpool_fwd(x, d, k);
  EXPECT_LT(rel_err(net.output().data, y), kTol);
  Vec dy = random_vec(static_cast<int64_t>(y.size()), 12);
  net.backward_from(dy.data());
  Vec dx = is_max ? maxpool_bwd(x, d, k, dy) : avgpool_bwd(d, k, dy);
  EXPECT_LT(rel_err(net.edge_grad(-1).data, dx), kTol);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PoolLayer,
    ::testing::Values(PoolCase{"maxpool2d", 1, 3, 7, 2, 2, 0}, PoolCase{"maxpool2d", 7, 5, 8, 3, 2, 1},
                      PoolCase{"maxpool2d", 7, 17, 5, 3, 1, 1}, PoolCase{"maxpool2d", 2, 3, 7, 2, 2, 0, true},
                      PoolCase{"maxpool2d", 3, 4, 3, 2, 2, 1, true},
                      PoolCase{"maxpool2d", 2, 5, 8, 3, 3, 1, true}, PoolCase{"avgpool2d", 7, 4, 9, 3, 2, 1},
                      PoolCase{"avgpool2d", 1, 6, 7, 2, 2, 0}, PoolCase{"avgpool2d", 7, 3, 4, 1, 1, 0},
                      PoolCase{"global_avgpool", 7, 9, 5, 0, 0, 0},
                      PoolCase{"global_avgpool", 1, 16, 4, 0, 0, 0}));

TEST(ReluLayer, ForwardAndBackwardMatchNaive) {
  for (int N : {1, 7}) {
    Graph g = graph_of(5, 7, "  - {name: r, op: relu, inputs: [input]}\n");
    Net net(g, 1);
    net.set_debug_grads(true);
    Vec x = random_vec(N * 5 * 49, 13), dy = random_vec(N * 5 * 49, 14);
    net.forward(x.data(), N, true);
    net.backward_from(dy.data());
    Vec y(x.size()), dx(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] > 0 ? x[i] : 0, dx[i] = x[i] > 0 ? dy[i] : 0;
    EXPECT_EQ(net.output().data, y);
    EXPECT_EQ(net.edge_grad(-1).data, dx);
  }
}

// The activations beside ReLU: value and derivative by PyTorch's formulas, written out here.
struct ActCase {
  const char* op;
  const char* attrs;
  double (*f)(double);
  double (*df)(double);
};
void PrintTo(const ActCase& c, std::ostream* os) { *os << c.op; }
class ActivationLayer : public ::testing::TestWithParam<ActCase> {};

double sig(double x) { return 1 / (1 + std::exp(-x)); }

TEST_P(ActivationLayer, ForwardAndBackwardMatchPyTorchFormulas) {
  const ActCase& c = GetParam();
  for (int N : {1, 3}) {
    // An odd channel count and a conv before it, so the edge may be in a blocked layout.
    Graph g =
        graph_of(3, 6,
                 fmt::format("  - {{name: conv, op: conv2d, inputs: [input], out_channels: 17, kernel: 1}}\n"
                             "  - {{name: a, op: {}, inputs: [conv]{}}}\n",
                             c.op, c.attrs),
                 5);
    Net net(g, 1);
    net.set_debug_grads(true);
    Dims d{N, 3, 6, 5};
    Vec x = random_vec(d.size(), 31), w = net.get("conv.weight").data;
    for (auto& v : w) v *= 8;  // pre-activations over [-8, 8]: every branch of every function
    fill(net, "conv.weight", w);
    net.forward(x.data(), N, true);
    Vec h = conv_fwd(x, d, w, {}, 17, Window{1, 1, 1, 1, 0, 0});
    Vec y(h.size()), dy = random_vec(static_cast<int64_t>(h.size()), 32), dh(h.size());
    for (size_t i = 0; i < h.size(); ++i) y[i] = float(c.f(h[i])), dh[i] = float(dy[i] * c.df(h[i]));
    EXPECT_LT(rel_err(net.output().data, y), kTol) << c.op;
    net.backward_from(dy.data());
    EXPECT_LT(rel_err(net.edge_grad(0).data, dh), kTol) << c.op << ": d(input)";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ops, ActivationLayer,
    ::testing::Values(ActCase{"relu6", "", [](double x) { return std::clamp(x, 0.0, 6.0); },
                              [](double x) { return x > 0 && x < 6 ? 1.0 : 0.0; }},
                      ActCase{"hardtanh", ", min_val: -2, max_val: 3",
                              [](double x) { return std::clamp(x, -2.0, 3.0); },
                              [](double x) { return x > -2 && x < 3 ? 1.0 : 0.0; }},
                      ActCase{"sigmoid", "", sig, [](double x) { return sig(x) * (1 - sig(x)); }},
                      ActCase{"silu", "", [](double x) { return x * sig(x); },
                              [](double x) { return sig(x) * (1 + x * (1 - sig(x))); }},
                      ActCase{"hardswish", "", [](double x) { return x * std::clamp(x + 3, 0.0, 6.0) / 6; },
                              [](double x) { return x < -3  ? 0.0
                                                    : x > 3 ? 1.0
                                                            : (2 * x + 3) / 6; }},
                      ActCase{"hardsigmoid", "", [](double x) { return std::clamp(x / 6 + 0.5, 0.0, 1.0); },
                              [](double x) { return x > -3 && x < 3 ? 1.0 / 6 : 0.0; }},
                      ActCase{"leaky_relu", ", negative_slope: 0.2",
                              [](double x) { return x > 0 ? x : 0.2 * x; },
                              [](double x) { return x > 0 ? 1.0 : 0.2; }}),
    [](const auto& info) { return std::string(info.param.op); });

TEST(DropoutLayer, TrainingDropsAndRescalesInferenceIsTheIdentity) {
  Graph g = graph_of(4, 8, "  - {name: d, op: dropout, inputs: [input], p: 0.25}\n");
  Net net(g, 1);
  net.set_debug_grads(true);
  const int N = 16;
  Vec x = random_vec(N * 4 * 64, 40), dy = random_vec(N * 4 * 64, 41);
  net.forward(x.data(), N, false);
  EXPECT_EQ(net.output().data, x);
  net.forward(x.data(), N, true);
  net.backward_from(dy.data());
  Vec y = net.output().data, dx = net.edge_grad(-1).data;
  int64_t dropped = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    bool kept = y[i] != 0;
    dropped += !kept;
    EXPECT_FLOAT_EQ(y[i], kept ? x[i] / 0.75f : 0.0f);
    EXPECT_FLOAT_EQ(dx[i], kept ? dy[i] / 0.75f : 0.0f);
  }
  EXPECT_NEAR(double(dropped) / double(x.size()), 0.25, 0.03);
  Vec y1 = y;
  net.forward(x.data(), N, true);
  EXPECT_NE(net.output().data, y1) << "a new mask per call";
}

// mul with equal shapes and with a (C, 1, 1) scale either side; concat of three inputs whose
// layouts differ (a conv output and the graph input), each checked against plain loops.
TEST(MulConcatLayers, ForwardAndBackwardMatchNaive) {
  for (const char* scale_first : {"true", "false"}) {
    const bool sf = std::string(scale_first) == "true";
    Graph g =
        graph_of(3, 5,
                 fmt::format("  - {{name: conv, op: conv2d, inputs: [input], out_channels: 17, kernel: 1}}\n"
                             "  - {{name: pool, op: global_avgpool, inputs: [conv]}}\n"
                             "  - {{name: sq, op: mul, inputs: [conv, conv]}}\n"
                             "  - {{name: se, op: mul, inputs: [{}]}}\n"
                             "  - {{name: cat, op: concat, inputs: [se, input, sq]}}\n",
                             sf ? "pool, sq" : "sq, pool"),
                 4);
    Net net(g, 1);
    net.set_debug_grads(true);
    const int N = 2, C = 17, HW = 20;
    Dims d{N, 3, 5, 4};
    Vec x = random_vec(d.size(), 51), w = net.get("conv.weight").data;
    net.forward(x.data(), N, true);
    Vec h = conv_fwd(x, d, w, {}, C, Window{1, 1, 1, 1, 0, 0});  // (N, 17, 5, 4)
    Vec p(N * C, 0), sq(h.size()), se(h.size());
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        for (int i = 0; i < HW; ++i) p[n * C + c] += h[(n * C + c) * HW + i] / HW;
        for (int i = 0; i < HW; ++i) {
          size_t k = size_t((n * C + c) * HW + i);
          sq[k] = h[k] * h[k], se[k] = sq[k] * p[n * C + c];
        }
      }
    Vec y;  // concat: se (17), input (3), sq (17) channels per sample
    for (int n = 0; n < N; ++n) {
      y.insert(y.end(), se.begin() + n * C * HW, se.begin() + (n + 1) * C * HW);
      y.insert(y.end(), x.begin() + n * 3 * HW, x.begin() + (n + 1) * 3 * HW);
      y.insert(y.end(), sq.begin() + n * C * HW, sq.begin() + (n + 1) * C * HW);
    }
    EXPECT_LT(rel_err(net.output().data, y), kTol) << scale_first;
    Vec dy = random_vec(static_cast<int64_t>(y.size()), 52);
    net.backward_from(dy.data());
    // Gradients by hand: cat splits dy; se = sq·p gives d(sq) += dy_se·p and d(p) = Σ dy_se·sq;
    // sq = h·h gives d(h) = 2h·d(sq); pool gives d(h) += d(p)/HW.
    Vec dsq(h.size()), dp(N * C, 0), dh(h.size()), dx_direct(x.size());
    for (int n = 0; n < N; ++n) {
      const float* dyn = dy.data() + n * 37 * HW;
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < HW; ++i) {
          size_t k = size_t((n * C + c) * HW + i);
          float dse = dyn[c * HW + i];
          dsq[k] = dyn[(20 + c) * HW + i] + dse * p[n * C + c];
          dp[n * C + c] += dse * sq[k];
        }
      for (int c = 0; c < 3; ++c)
        for (int i = 0; i < HW; ++i) dx_direct[(n * 3 + c) * HW + i] = dyn[(17 + c) * HW + i];
    }
    for (size_t k = 0; k < h.size(); ++k) dh[k] = 2 * h[k] * dsq[k] + dp[k / HW] / HW;
    EXPECT_LT(rel_err(net.edge_grad(g.find("sq")).data, dsq), kTol) << scale_first << ": d(sq)";
    EXPECT_LT(rel_err(net.edge_grad(g.find("pool")).data, dp), kTol) << scale_first << ": d(pool)";
    EXPECT_LT(rel_err(net.edge_grad(g.find("conv")).data, dh), kTol) << scale_first << ": d(conv)";
    Vec dx, dw, db;
    conv_bwd(x, d, w, C, Window{1, 1, 1, 1, 0, 0}, dh, dx, dw, db);
    for (size_t k = 0; k < dx.size(); ++k) dx[k] += dx_direct[k];
    EXPECT_LT(rel_err(net.edge_grad(-1).data, dx), kTol) << scale_first << ": d(input)";
  }
}

TEST(FlattenLinearLayers, MatchNaiveInPyTorchOrder) {
  for (int N : {1, 7}) {
    // conv first, so flatten sees the conv's (possibly blocked) layout and must restore NCHW order.
    Graph g = graph_of(3, 5,
                       "  - {name: conv, op: conv2d, inputs: [input], out_channels: 19, kernel: 1}\n"
                       "  - {name: flat, op: flatten, inputs: [conv]}\n"
                       "  - {name: fc, op: linear, inputs: [flat], out_features: 7}\n");
    Net net(g, 1);
    net.set_debug_grads(true);
    Dims d{N, 3, 5, 5};
    Vec x = random_vec(d.size(), 15), w = net.get("conv.weight").data;
    Vec fw = net.get("fc.weight").data, fb = net.get("fc.bias").data;
    net.forward(x.data(), N, true);
    Vec h = conv_fwd(x, d, w, {}, 19, Window{1, 1, 1, 1, 0, 0});  // (N, 19, 5, 5) == flat (N, 475)
    EXPECT_LT(rel_err(net.edge(1).data, h), kTol) << "flatten";
    Vec y = linear_fwd(h, N, 475, fw, fb, 7);
    EXPECT_LT(rel_err(net.output().data, y), kTol);
    Vec dy = random_vec(N * 7, 16);
    net.backward_from(dy.data());
    Vec dh, dw, db, dx, dcw, dcb;
    linear_bwd(h, N, 475, fw, 7, dy, dh, dw, db);
    EXPECT_LT(rel_err(grad(net, "fc.weight"), dw), kTol);
    EXPECT_LT(rel_err(grad(net, "fc.bias"), db), kTol);
    EXPECT_LT(rel_err(net.edge_grad(1).data, dh), kTol) << "d(flatten output)";
    EXPECT_LT(rel_err(net.edge_grad(0).data, dh), kTol) << "d(conv output) through flatten";
    conv_bwd(x, d, w, 19, Window{1, 1, 1, 1, 0, 0}, dh, dx, dcw, dcb);
    EXPECT_LT(rel_err(net.edge_grad(-1).data, dx), kTol);
  }
}

TEST(AddIdentityLayers, FanOutGradientsAccumulate) {
  // add(x, x): one edge consumed twice by the same node.
  {
    Graph g = graph_of(3, 5, "  - {name: a, op: add, inputs: [input, input]}\n");
    Net net(g, 1);
    net.set_debug_grads(true);
    Vec x = random_vec(7 * 75, 17), dy = random_vec(7 * 75, 18);
    net.forward(x.data(), 7, true);
    net.backward_from(dy.data());
    Vec y(x.size()), dx(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = 2 * x[i], dx[i] = 2 * dy[i];
    EXPECT_LT(rel_err(net.output().data, y), 1e-7);
    EXPECT_LT(rel_err(net.edge_grad(-1).data, dx), 1e-7);
  }
  // add(conv(x), identity(x)): a residual block; conv output and x differ in layout.
  {
    Graph g = graph_of(16, 6,
                       "  - {name: conv, op: conv2d, inputs: [input], out_channels: 16, kernel: 3, pad: 1}\n"
                       "  - {name: sc, op: identity, inputs: [input]}\n"
                       "  - {name: a, op: add, inputs: [conv, sc]}\n");
    Net net(g, 1);
    net.set_debug_grads(true);
    Dims d{7, 16, 6, 6};
    Window k{3, 3, 1, 1, 1, 1};
    Vec x = random_vec(d.size(), 19), dy = random_vec(d.size(), 20), w = net.get("conv.weight").data;
    net.forward(x.data(), 7, true);
    Vec y = conv_fwd(x, d, w, {}, 16, k);
    for (size_t i = 0; i < y.size(); ++i) y[i] += x[i];
    EXPECT_LT(rel_err(net.output().data, y), kTol);
    EXPECT_EQ(net.edge(1).data, x) << "identity output";
    net.backward_from(dy.data());
    Vec dx, dw, db;
    conv_bwd(x, d, w, 16, k, dy, dx, dw, db);
    for (size_t i = 0; i < dx.size(); ++i) dx[i] += dy[i];
    EXPECT_LT(rel_err(net.edge_grad(-1).data, dx), kTol);
    EXPECT_LT(rel_err(grad(net, "conv.weight"), dw), kTol);
  }
}

}  // namespace
}  // namespace eatsim
