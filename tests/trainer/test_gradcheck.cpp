// The EAT loss end to end on a small net: its value against the definition computed from the
// edges, and its gradient against central finite differences, for every penalty-layer selection
// and both normalisations.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/errors.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace {

Graph small_graph() {
  ParamOverrides o;
  o.has_width = o.has_input_size = true;
  o.p.width = 0.25;  // 4 and 8 channels
  o.p.input_h = o.p.input_w = 8;
  return load_graph("smallcnn", o);
}

struct Batch {
  std::vector<float> x;
  std::vector<int64_t> y;
  int n;
};

Batch batch(const Graph& g, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0, 1);
  Batch b{std::vector<float>(n * numel(g.input_shape)), std::vector<int64_t>(n), n};
  for (auto& v : b.x) v = nd(rng);
  for (auto& v : b.y) v = static_cast<int64_t>(rng() % g.params.classes);
  return b;
}

struct Case {
  const char* layers;
  PenaltyNorm norm;
};
// Test names in listings (and so in ctest) show the case, not the object's bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.layers << (c.norm == PenaltyNorm::element ? ", element" : ", layer_mean");
}

class EatLoss : public ::testing::TestWithParam<Case> {};

TEST_P(EatLoss, PenaltyValueMatchesItsDefinition) {
  // The definition from the edges of a plan that keeps them all; the value from an ordinary
  // training plan, where BN computes its ReLU and the penalties inside its fused passes.
  Graph g = small_graph();
  Net net(g, 1), keep(g, 1);
  PenaltyConfig pc{0.5, 1e-2, GetParam().layers, GetParam().norm};
  net.set_penalty(pc), keep.set_penalty(pc);
  keep.set_debug_grads(true);
  Batch b = batch(g, 4, 2);
  net.forward(b.x.data(), b.n, true);
  keep.forward(b.x.data(), b.n, true);
  LossParts lp = net.loss(b.y.data());
  double sum = 0, mean_sum = 0;
  int64_t total = 0;
  for (int i : net.penalised_nodes()) {
    Tensor t = keep.edge(i);
    double s = 0;
    for (float v : t.data) s += static_cast<double>(v) * v / (static_cast<double>(v) * v + pc.sigma);
    sum += s;
    mean_sum += s / t.numel();
    total += t.numel();
  }
  double want = pc.norm == PenaltyNorm::layer_mean ? mean_sum / net.penalised_nodes().size() : sum / total;
  EXPECT_NEAR(lp.penalty, want, 1e-6 * want);
  EXPECT_NEAR(lp.loss, lp.ce + 0.5 * lp.penalty, 1e-9);
  EXPECT_GT(lp.penalty, 0.01);
}

// Directional derivatives along random directions: finite differences of the loss (train mode,
// float) against the analytic gradient's dot product with the direction.
void expect_gradient_matches_finite_differences(const Graph& g, const PenaltyConfig& pc) {
  Net net(g, 3);
  net.set_penalty(pc);
  Batch b = batch(g, 4, 4);
  net.forward(b.x.data(), b.n, true);
  LossParts lp = net.backward(b.y.data());
  ASSERT_GT(lp.penalty, 0);
  std::vector<ParamRef> ps = net.trainable();
  std::vector<std::vector<float>> p0, grad;
  for (auto& p : ps) p0.emplace_back(p.value, p.value + p.size), grad.emplace_back(p.grad, p.grad + p.size);
  // The same with λ = 0, to check the penalty really moves the gradient.
  Net plain(g, 3);
  plain.forward(b.x.data(), b.n, true);
  plain.backward(b.y.data());
  std::vector<ParamRef> ps0 = plain.trainable();

  std::mt19937_64 rng(5);
  std::normal_distribution<float> nd(0, 1);
  const float eps = 1e-4f;  // small (kinks), not smaller (float round-off of the loss)
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::vector<float>> dir;
    double analytic = 0, analytic0 = 0;
    for (size_t k = 0; k < ps.size(); ++k) {
      dir.emplace_back(ps[k].size);
      for (int64_t i = 0; i < ps[k].size; ++i) {
        dir[k][i] = nd(rng);
        analytic += static_cast<double>(grad[k][i]) * dir[k][i];
        analytic0 += static_cast<double>(ps0[k].grad[i]) * dir[k][i];
      }
    }
    auto loss_at = [&](float t) {
      for (size_t k = 0; k < ps.size(); ++k)
        for (int64_t i = 0; i < ps[k].size; ++i) ps[k].value[i] = p0[k][i] + t * dir[k][i];
      net.forward(b.x.data(), b.n, true);
      return net.loss(b.y.data()).loss;
    };
    // ReLU and max-pool make the loss piecewise smooth: a kink inside [-h, h] spoils the central
    // difference, never both one-sided ones, so the analytic value must match one of them.
    double l0 = loss_at(0), left = (l0 - loss_at(-eps)) / eps, right = (loss_at(eps) - l0) / eps;
    double tol = 1e-2 * std::fabs(analytic) + 3e-3;
    EXPECT_LT(std::min(std::fabs(left - analytic), std::fabs(right - analytic)), tol)
        << "trial " << trial << ": analytic " << analytic << ", one-sided differences " << left << " and "
        << right << " (λ=0 gradient gives " << analytic0 << ")";
  }
  double diff = 0, norm = 0;
  for (size_t k = 0; k < ps.size(); ++k)
    for (int64_t i = 0; i < ps[k].size; ++i) {
      diff += std::pow(static_cast<double>(grad[k][i]) - ps0[k].grad[i], 2);
      norm += std::pow(static_cast<double>(grad[k][i]), 2);
    }
  EXPECT_GT(std::sqrt(diff), 0.05 * std::sqrt(norm)) << "the penalty barely changes the gradient";
}

TEST_P(EatLoss, GradientMatchesFiniteDifferences) {
  // σ of the order of the activations keeps x²/(x²+σ) smooth at the finite-difference step.
  expect_gradient_matches_finite_differences(small_graph(),
                                             PenaltyConfig{2.0, 0.1, GetParam().layers, GetParam().norm});
}

// Every activation, grouped, depthwise and dilated convolutions, a squeeze-and-excitation block
// (mul with a (C, 1, 1) scale), concat and dropout (p = 0 keeps the loss deterministic; its mask
// path is checked in test_layers.cpp), with the penalty on the activations.
TEST(EatLoss, GradientOfTheDeployedOpsMatchesFiniteDifferences) {
  Graph g = parse_graph(R"(name: ops
params: {width: 1, in_channels: 3, input_size: [9, 7], classes: 10}
nodes:
  - {name: c1, op: conv2d, inputs: [input], out_channels: 8, kernel: 3, pad: 1}
  - {name: b1, op: batchnorm2d, inputs: [c1]}
  - {name: a1, op: relu6, inputs: [b1], module: true, inplace: true}
  - {name: dw, op: conv2d, inputs: [a1], out_channels: 8, kernel: 3, pad: 2, dilation: 2, groups: depthwise}
  - {name: a2, op: hardswish, inputs: [dw]}
  - {name: g2, op: conv2d, inputs: [a2], out_channels: 8, kernel: [1, 3], pad: [0, 1], groups: 2, bias: true}
  - {name: a3, op: silu, inputs: [g2]}
  - {name: a4, op: leaky_relu, inputs: [a3], negative_slope: 0.1}
  - {name: a5, op: hardsigmoid, inputs: [a4]}
  - {name: a6, op: hardtanh, inputs: [a5], min_val: 0.2, max_val: 0.8}
  - {name: a7, op: sigmoid, inputs: [a6]}
  - {name: drop, op: dropout, inputs: [a7], p: 0}
  - {name: se_pool, op: global_avgpool, inputs: [drop]}
  - {name: se_fc, op: conv2d, inputs: [se_pool], out_channels: 8, kernel: 1, bias: true}
  - {name: se_gate, op: hardsigmoid, inputs: [se_fc]}
  - {name: se, op: mul, inputs: [se_gate, drop]}
  - {name: cat, op: concat, inputs: [se, a1, a3]}
  - {name: pool, op: global_avgpool, inputs: [cat]}
  - {name: flat, op: flatten, inputs: [pool]}
  - {name: fc, op: linear, inputs: [flat], out_features: classes}
)",
                        "ops.yaml");
  expect_gradient_matches_finite_differences(g,
                                             PenaltyConfig{2.0, 0.1, "activations", PenaltyNorm::layer_mean});
}

INSTANTIATE_TEST_SUITE_P(
    Selections, EatLoss,
    ::testing::Values(Case{"reference", PenaltyNorm::layer_mean}, Case{"reference", PenaltyNorm::element},
                      Case{"relu", PenaltyNorm::layer_mean}, Case{"relu", PenaltyNorm::element},
                      Case{"all", PenaltyNorm::layer_mean}, Case{"all", PenaltyNorm::element},
                      Case{"conv1, relu2,fc", PenaltyNorm::layer_mean},
                      Case{"bn1,pool2", PenaltyNorm::element}));

TEST(EatLoss, SelectionsPickTheRightNodes) {
  Graph g = load_graph("resnet18");
  Net net(g, 0);
  net.set_penalty(PenaltyConfig{1, 1e-4, "reference", PenaltyNorm::layer_mean});
  EXPECT_EQ(net.penalised_nodes().size(), 46u);  // 20 conv, 20 BN, 5 identity shortcuts, 1 linear
  net.set_penalty(PenaltyConfig{1, 1e-4, "relu", PenaltyNorm::layer_mean});
  EXPECT_EQ(net.penalised_nodes().size(), 17u);
  net.set_penalty(PenaltyConfig{1, 1e-4, "all", PenaltyNorm::layer_mean});
  EXPECT_EQ(net.penalised_nodes().size(), g.nodes.size());
  net.set_penalty(PenaltyConfig{1, 1e-4, "linear,layer1.0.bn1", PenaltyNorm::layer_mean});
  ASSERT_EQ(net.penalised_nodes().size(), 2u);
  EXPECT_EQ(g.nodes[net.penalised_nodes()[0]].name, "layer1.0.bn1");
  // VGG16-BN: 13 conv, 13 BN, 13 ReLU modules, 5 max-pools, the trailing AvgPool2d(1), 1 linear.
  Net vgg(load_graph("vgg16"), 0);
  vgg.set_penalty(PenaltyConfig{1, 1e-4, "reference", PenaltyNorm::layer_mean});
  EXPECT_EQ(vgg.penalised_nodes().size(), 46u);
}

TEST(EatLoss, BadSettingsAreUsageErrorsNamingTheValue) {
  Graph g = small_graph();
  Net net(g, 0);
  auto msg = [&](PenaltyConfig c) {
    try {
      net.set_penalty(c);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg({1, 0, "relu", PenaltyNorm::element}).find("--sigma: 0"), std::string::npos);
  EXPECT_NE(msg({1, -1e-4, "relu", PenaltyNorm::element}).find("--sigma"), std::string::npos);
  EXPECT_NE(msg({-0.5, 1e-4, "relu", PenaltyNorm::element}).find("--lambda: -0.5"), std::string::npos);
  EXPECT_NE(msg({1, 1e-4, "relu1,nosuch", PenaltyNorm::element}).find("no node 'nosuch'"), std::string::npos);
  EXPECT_NE(msg({1, 1e-4, "relu1,,relu2", PenaltyNorm::element}).find("empty name"), std::string::npos);
  EXPECT_THROW(penalty_norm_from_name("mean"), UsageError);
  EXPECT_EQ(penalty_norm_from_name("element"), PenaltyNorm::element);
  // A failed set_penalty leaves the previous configuration in place.
  EXPECT_EQ(net.penalty().lambda, 0.0);
}

TEST(EatLoss, LambdaZeroIsStandardTraining) {
  Graph g = small_graph();
  Batch b = batch(g, 4, 6);
  Net a(g, 1), c(g, 1);
  c.set_penalty(PenaltyConfig{0.0, 1e-4, "all", PenaltyNorm::element});
  LossParts la = a.train_step(b.x.data(), b.y.data(), b.n), lc = c.train_step(b.x.data(), b.y.data(), b.n);
  EXPECT_EQ(la.loss, lc.loss);
  EXPECT_EQ(lc.penalty, 0.0);
  EXPECT_EQ(std::vector<float>(a.grad("conv1.weight"), a.grad("conv1.weight") + 36),
            std::vector<float>(c.grad("conv1.weight"), c.grad("conv1.weight") + 36));
}

}  // namespace
}  // namespace eatsim
