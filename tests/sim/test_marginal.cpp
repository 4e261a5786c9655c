// The simulator's energy per non-zero (sim/marginal.hpp) predicts what the simulator then does: on
// every preset and for every penalised tensor of a ResNet trace, zeroing a further 5 % of the
// tensor's non-zeros (other ones than the estimate zeroed) changes the network's energy by the
// predicted amount within 5 %. Plus the CLI's files and its refusals.
#include <gtest/gtest.h>

#include <cmath>

#include "sim/hwconfig.hpp"
#include "sim/marginal.hpp"
#include "sim/trace_data.hpp"
#include "tests/helpers.hpp"
#include "traces/synth.hpp"
#include "traces/trace.hpp"
#include "trainer/penalty.hpp"

namespace eatsim::sim {
namespace {

// resnet8 at half width with a density ramp over its ReLUs (4 samples) and one with channel-
// clustered zeros (compression and lane groups see runs rather than scattered zeros).
std::string resnet_trace(const test::TempDir& d, Clustering c) {
  ParamOverrides o;
  o.has_width = true, o.p.width = 0.5;
  Graph g = load_graph("resnet8", o);
  SynthOptions s;
  s.samples = 4, s.density = "0.6..0.3", s.clustering = c, s.seed = 3;
  const std::string dir = d / (c == Clustering::channel ? "channel" : "independent");
  write_synthetic_trace(g, s, dir, false, "test");
  return dir;
}

std::vector<std::string> relu_outputs(const Graph& g) {
  PenaltyConfig pc;
  pc.lambda = 1, pc.layers = "relu";
  std::vector<std::string> out;
  for (int i : resolve_penalty(g, pc)) out.push_back(g.nodes[size_t(i)].name);
  return out;
}

class MarginalEnergy : public ::testing::TestWithParam<const char*> {};

TEST_P(MarginalEnergy, PredictsTheSimulatedChangeOfAFurtherThinningWithin5Percent) {
  test::TempDir d("marginal");
  const HwConfig hw = load_hwconfig(GetParam());
  for (Clustering c : {Clustering::independent, Clustering::channel}) {
    TraceReader tr(resnet_trace(d, c));
    const std::vector<std::string> names = relu_outputs(tr.graph());
    MarginalResult m = marginal_energy(hw, tr, names);
    ASSERT_EQ(m.rows.size(), names.size());
    TraceData values(tr, m.samples);
    const double base = m.energy.total();
    int seen = 0;
    for (const MarginalRow& r : m.rows) {
      if (!r.seen) continue;
      ++seen;
      EXPECT_NEAR(r.removed, 0.05 * r.nonzero, 1.0) << r.tensor;
      double removed = 0;
      const double after =
          thinned_energy(hw, tr.graph(), values, r.tensor, 0.05, 99, m.samples, &removed).total();
      const double simulated = base - after, predicted = r.pj_per_nonzero() * removed;
      // A preset that ignores zeros changes by nothing, and predicts nothing.
      EXPECT_NEAR(predicted, simulated, std::max(0.05 * std::fabs(simulated), 1e-9 * base))
          << GetParam() << " " << r.tensor << ": predicted " << predicted << " pJ, simulated " << simulated;
    }
    EXPECT_GE(seen, 5) << "resnet8's ReLU outputs that a row reads or writes back";
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, MarginalEnergy,
                         ::testing::Values("cnvlutin_ws16", "dense_fp32", "eyeriss_os16", "scalesim32",
                                           "tpu_ws32"));

TEST(MarginalEnergy, SparsityFeaturesMakeNonZerosCostAndDenseHardwareDoesNot) {
  test::TempDir d("marginal");
  TraceReader tr(resnet_trace(d, Clustering::independent));
  const std::vector<std::string> names = relu_outputs(tr.graph());
  MarginalResult sparse = marginal_energy(load_hwconfig("cnvlutin_ws16"), tr, names);
  MarginalResult dense = marginal_energy(load_hwconfig("tpu_ws32"), tr, names);
  for (size_t i = 0; i < names.size(); ++i) {
    if (!sparse.rows[i].seen) continue;
    EXPECT_GT(sparse.rows[i].pj_per_nonzero(), 0) << names[i];
    EXPECT_EQ(dense.rows[i].pj_per_nonzero(), 0) << names[i];
  }
}

TEST(MarginalEnergy, CliWritesCsvAndJsonAndRefusesBadInput) {
  test::TempDir d("marginal");
  const std::string t = resnet_trace(d, Clustering::independent);
  auto r = test::run_cli("hw marginal cnvlutin_ws16 --trace " + t + " --csv " + (d / "m.csv") + " --json " +
                         (d / "m.json"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("layer1.0.relu1"), std::string::npos) << r.out;
  std::string csv = test::read_file(d / "m.csv");
  EXPECT_EQ(csv.rfind("tensor,seen,elements,nonzero,density,removed,pj_per_nonzero,pj_per_nonzero_mac", 0),
            0u);
  EXPECT_NE(test::read_file(d / "m.json").find("\"pj_per_nonzero_by_component\""), std::string::npos);
  auto bad = [&](const std::string& args, const std::string& needle) {
    auto b = test::run_cli("hw marginal " + args);
    EXPECT_EQ(b.code, 2) << args << "\n" << b.err;
    EXPECT_NE(b.err.find(needle), std::string::npos) << args << "\n" << b.err;
  };
  bad("cnvlutin_ws16 --trace " + (d / "nope"), "nope");
  bad("cnvlutin_ws16 --trace " + t + " --fraction 0", "--fraction");
  bad("cnvlutin_ws16 --trace " + t + " --penalty-layers nothere", "nothere");
  bad("no_such_preset --trace " + t, "no_such_preset");
}

}  // namespace
}  // namespace eatsim::sim
