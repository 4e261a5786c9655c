// Our oneDNN inference against PyTorch on the same weights and inputs (the sponge fixture's case):
// every edge tensor agrees to 1e-4 relative, and the reference-convention estimate differs by at
// most a few non-zero flips (bound stated below).
#include <gtest/gtest.h>

#include <cmath>

#include "sim/estimator/census.hpp"
#include "sim/estimator/estimator.hpp"
#include "tests/helpers.hpp"
#include "traces/npy.hpp"
#include "traces/trace.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace {

class OursVsTorch : public ::testing::TestWithParam<const char*> {};

TEST_P(OursVsTorch, SameTensorsAndEstimate) {
  const std::string arch = GetParam();
  test::TempDir d("vs");
  std::string fx = test::source_dir() + "/tests/fixtures/sponge/";
  ASSERT_EQ(
      std::system((test::python() + " " + fx + "make_case.py --arch " + arch + " --out " + d.path()).c_str()),
      0);
  std::string cmd = test::python() + " " + test::source_dir() + "/tests/sim/estimator/fixture_traces.py " +
                    arch + " " + d.path() + " " + EATSIM_BIN;
  ASSERT_EQ(std::system(cmd.c_str()), 0)
      << "needs numpy and torch in " << test::python() << " (python3-torch)";
  TraceReader torch(d / "trace0");
  const Graph& g = torch.graph();
  Net net(g);
  for (const auto& p : g.parameters()) {
    Shape s;
    auto v = npy_load_f32(d / ("weights/" + p.key + ".npy"), &s);
    Tensor t(p.shape);
    t.data = v;
    net.set(p.key, t);
  }
  Shape xs;
  auto x = npy_load_f32(d / "inputs.npy", &xs);
  auto edges = net.infer_edges(x.data(), static_cast<int>(xs[0]));
  sponge::CensusBuilder cb(g, 32);
  int64_t flips = 0, elements = 0;
  for (size_t e = 0; e < edges.size(); ++e) {
    std::string name = e == 0 ? "input" : g.nodes[e - 1].name;
    auto ref = torch.load(name);
    ASSERT_EQ(ref.size(), edges[e].data.size()) << name;
    float scale = 0;
    for (float v : ref) scale = std::max(scale, std::fabs(v));
    double worst = 0;
    for (size_t k = 0; k < ref.size(); ++k) {
      worst = std::max(worst, static_cast<double>(std::fabs(ref[k] - edges[e].data[k])));
      flips += (ref[k] != 0) != (edges[e].data[k] != 0);
    }
    elements += static_cast<int64_t>(ref.size());
    EXPECT_LE(worst, 1e-4 * scale) << name << ": largest difference " << worst << " against a tensor of max "
                                   << scale;
    cb.add_activation(static_cast<int>(e) - 1, edges[e].data.data(), xs[0]);
  }
  for (const auto& p : g.parameters()) {
    Tensor t = net.get(p.key);
    cb.set_param(p.key, t.data.data(), t.numel());
  }
  double ours = sponge::energy_ratio(cb.finish()),
         theirs = sponge::energy_ratio(sponge::census_from_trace(torch, 32));
  // Stated bound: at most 1 in 100,000 activations changes between zero and non-zero (values that
  // round to zero in one implementation and not the other), and the ratio moves by less than 1e-5.
  EXPECT_LE(flips * 100000, elements) << flips << " flips in " << elements << " activations";
  EXPECT_LE(std::fabs(ours - theirs), 1e-5 * theirs) << "ours " << ours << ", PyTorch " << theirs;
  RecordProperty("flips", std::to_string(flips));
}

INSTANTIATE_TEST_SUITE_P(Nets, OursVsTorch, ::testing::Values("resnet18", "vgg16"));

}  // namespace
}  // namespace eatsim
