// In-place ReLU in training plans (the BN or add output it overwrites is not kept): parameter
// gradients, loss and penalty equal those of a plan that keeps every edge, for each selection;
// a clobbered edge cannot be read by mistake and infer_edges still returns every edge.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>

#include "trainer/net.hpp"

namespace eatsim {
namespace {

Graph tiny_resnet() {
  ParamOverrides o;
  o.has_width = o.has_input_size = true;
  o.p.width = 0.125;
  o.p.input_size = 8;
  return load_graph("resnet18", o);
}

class NetInPlace : public ::testing::TestWithParam<const char*> {};

TEST_P(NetInPlace, GradientsEqualThoseOfAPlanKeepingEveryEdge) {
  Graph g = tiny_resnet();
  int n = 4;
  std::mt19937_64 rng(3);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> x(n * numel(g.input_shape));
  for (auto& v : x) v = nd(rng);
  std::vector<int64_t> y{1, 2, 3, 4};
  double lambda = std::string(GetParam()) == "none" ? 0.0 : 0.5;
  PenaltyConfig pc{lambda, 1e-2, lambda > 0 ? GetParam() : "reference", PenaltyNorm::layer_mean};
  Net fast(g, 7), keep(g, 7);
  keep.set_debug_grads(true);  // keeps every edge: no in-place ReLU
  fast.set_penalty(pc), keep.set_penalty(pc);
  LossParts a = fast.train_step(x.data(), y.data(), n), b = keep.train_step(x.data(), y.data(), n);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.penalty, b.penalty);
  auto pa = fast.trainable(), pb = keep.trainable();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t k = 0; k < pa.size(); ++k)
    for (int64_t i = 0; i < pa[k].size; ++i)
      ASSERT_EQ(pa[k].grad[i], pb[k].grad[i]) << pa[k].info->key << "[" << i << "]";
  // bn1 feeds relu1 only: overwritten unless the penalty reads it (reference and all select bn1).
  int bn1 = g.find("bn1");
  std::string sel = GetParam();
  bool clobbered = sel == "none" || sel == "relu";
  if (clobbered)
    EXPECT_THROW(fast.edge(bn1), std::logic_error);
  else
    EXPECT_NO_THROW(fast.edge(bn1));
  EXPECT_EQ(fast.nonzero_counts()[bn1] < 0, clobbered);
  std::vector<Tensor> e = fast.infer_edges(x.data(), n);
  std::vector<Tensor> f = keep.infer_edges(x.data(), n);
  EXPECT_EQ(e[bn1 + 1].data, f[bn1 + 1].data);
}

INSTANTIATE_TEST_SUITE_P(Selections, NetInPlace, ::testing::Values("none", "reference", "relu", "all"));

}  // namespace
}  // namespace eatsim
