// In-place ReLU and BN+ReLU fusion in training plans (the BN or add output is not kept): parameter
// gradients equal those of a plan that keeps every edge bit for bit, loss and penalty to rounding
// (the fused passes sum the penalty in another order), for each selection; a clobbered edge cannot
// be read by mistake and infer_edges still returns every edge.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>

#include "tests/helpers.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace {

Graph tiny_resnet() {
  ParamOverrides o;
  o.has_width = o.has_input_size = true;
  o.p.width = 0.125;
  o.p.input_h = o.p.input_w = 8;
  return load_graph("resnet18", o);
}

// Every parameter gradient of a equals b's, bit for bit.
void expect_same_gradients(Net& a, Net& b) {
  auto pa = a.trainable(), pb = b.trainable();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t k = 0; k < pa.size(); ++k)
    for (int64_t i = 0; i < pa[k].size; ++i)
      ASSERT_EQ(pa[k].grad[i], pb[k].grad[i]) << pa[k].info->key << "[" << i << "]";
}

class NetInPlace : public ::testing::TestWithParam<const char*> {};

TEST_P(NetInPlace, GradientsEqualThoseOfAPlanKeepingEveryEdge) {
  Graph g = tiny_resnet();
  int n = 4;
  std::vector<float> x = test::normal_inputs(g, n, 3);
  std::vector<int64_t> y{1, 2, 3, 4};
  double lambda = std::string(GetParam()) == "none" ? 0.0 : 0.5;
  PenaltyConfig pc{lambda, 1e-2, lambda > 0 ? GetParam() : "reference", PenaltyNorm::layer_mean};
  Net fast(g, 7), keep(g, 7);
  keep.set_debug_grads(true);  // keeps every edge: no in-place ReLU
  fast.set_penalty(pc), keep.set_penalty(pc);
  LossParts a = fast.train_step(x.data(), y.data(), n), b = keep.train_step(x.data(), y.data(), n);
  EXPECT_NEAR(a.loss, b.loss, 1e-6 * std::fabs(b.loss));
  EXPECT_NEAR(a.penalty, b.penalty, 1e-6 * std::fabs(b.penalty));
  if (lambda == 0) {
    EXPECT_EQ(a.loss, b.loss);
  }
  expect_same_gradients(fast, keep);
  // bn1 feeds relu1 only: the BN computes the ReLU and never writes its own output, whatever the
  // selection. layer1.0's add feeds its ReLU only: overwritten in place unless the penalty reads it
  // (all selects it).
  int bn1 = g.find("bn1"), add = g.find("layer1.0.add");
  ASSERT_GE(add, 0);
  EXPECT_THROW(fast.edge(bn1), std::logic_error);
  EXPECT_LT(fast.nonzero_counts()[bn1], 0);
  EXPECT_NO_THROW(keep.edge(bn1));
  bool add_clobbered = std::string(GetParam()) != "all";
  EXPECT_EQ(fast.nonzero_counts()[add] < 0, add_clobbered);
  int relu1 = g.find("relu1");
  std::vector<int64_t> all = fast.nonzero_counts(), some = fast.nonzero_counts({relu1, bn1, add});
  EXPECT_EQ(some, (std::vector<int64_t>{all[relu1], all[bn1], all[add]}));
  EXPECT_GT(some[0], 0);
  // The fused ReLUs' outputs (BN → ReLU, add → ReLU) are those of the separate layers.
  for (const char* r : {"relu1", "layer1.0.relu2", "layer4.1.relu2"})
    EXPECT_EQ(fast.edge(g.find(r)).data, keep.edge(g.find(r)).data) << r;
  std::vector<Tensor> e = fast.infer_edges(x.data(), n);
  std::vector<Tensor> f = keep.infer_edges(x.data(), n);
  EXPECT_EQ(e[bn1 + 1].data, f[bn1 + 1].data);
}

INSTANTIATE_TEST_SUITE_P(Selections, NetInPlace, ::testing::Values("none", "reference", "relu", "all"));

// Consecutive residual adds with no ReLU between (MobileNetV2): an edge shares the gradient buffer
// of an add whose own output shares the next add's. The shared-memory plan must give the gradients
// of the plan that keeps every edge, bit for bit.
TEST(NetGradMemory, ChainedResidualAddsShareOneGradientBuffer) {
  ParamOverrides o;
  o.has_width = o.has_input_size = true;
  o.p.width = 0.25;
  o.p.input_h = o.p.input_w = 16;
  Graph g = load_graph("mobilenetv2", o);
  for (Node& n : g.nodes)
    if (n.op == Op::dropout) n.p = 0;
  int n = 4;
  std::vector<float> x = test::normal_inputs(g, n, 5);
  std::vector<int64_t> y{1, 2, 3, 4};
  Net shared(g, 7), keep(g, 7);
  keep.set_debug_grads(true);
  shared.train_step(x.data(), y.data(), n), keep.train_step(x.data(), y.data(), n);
  expect_same_gradients(shared, keep);
}

// A run's evaluation (a partial last batch) and the estimator's all-edges pass replace the training
// plan instead of joining it, so memory peaks at the largest plan; training after them rebuilds the
// plan and gives the same results as a net that never switched.
TEST(NetGradMemory, OnePlanAtATimeAndSwitchingChangesNoResult) {
  Graph g = tiny_resnet();
  std::vector<float> x = test::normal_inputs(g, 8, 9);
  std::vector<int64_t> y{1, 2, 3, 4, 5, 6, 7, 8};
  Net a(g, 7), b(g, 7);
  a.train_step(x.data(), y.data(), 8), b.train_step(x.data(), y.data(), 8);
  a.forward(x.data(), 5, false);  // a partial evaluation batch
  EXPECT_EQ(a.plans_held(), 1u);
  int edges = 0;
  a.infer_each_edge(x.data(), 3, [&](int, const Tensor& t) { edges += t.shape[0] == 3; });
  EXPECT_EQ(edges, static_cast<int>(g.nodes.size()) + 1);
  EXPECT_EQ(a.plans_held(), 1u);
  LossParts la = a.train_step(x.data(), y.data(), 8), lb = b.train_step(x.data(), y.data(), 8);
  EXPECT_EQ(la.loss, lb.loss);
  expect_same_gradients(a, b);
  EXPECT_EQ(a.plans_held(), 1u);
}

}  // namespace
}  // namespace eatsim
