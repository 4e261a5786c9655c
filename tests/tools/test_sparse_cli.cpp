// The sparse features from the command line and bad input: `eatsim sim --check`, settings that
// contradict the dataflow or each other, sparsity without values.
#include <gtest/gtest.h>

#include "base/errors.hpp"
#include "sim/hwconfig.hpp"
#include "sim/network.hpp"
#include "tests/helpers.hpp"

namespace eatsim {
namespace {

TEST(SparseCli, CheckRunsOnATraceAndNeedsOne) {
  test::TempDir d("spcli");
  auto s = test::run_cli("trace synth resnet8 --width 0.25 --samples 2 --density 0.2 --out " + (d / "t"));
  ASSERT_EQ(s.code, 0) << s.err;
  auto r = test::run_cli("sim --hw cnvlutin_ws16 --trace " + (d / "t") + " --check --out " + (d / "r"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("all layers within tolerance"), std::string::npos) << r.out;
  EXPECT_NE(test::read_file(d / "r.json").find("\"worst_over_tolerance\""), std::string::npos);
  auto st =
      test::run_cli("sim --hw cnvlutin_ws16 --trace " + (d / "t") + " --fidelity step --out " + (d / "s"));
  EXPECT_EQ(st.code, 0) << st.err;
  auto c = test::run_cli("check " + (d / "s.json") + " " + (d / "r.json"));
  EXPECT_EQ(c.code, 0) << c.out << c.err;  // step and fast: the same report
  auto m = test::run_cli("sim --hw tpu_ws32 --model resnet8 --check");
  EXPECT_EQ(m.code, 2);
  EXPECT_NE(m.err.find("--check needs a trace"), std::string::npos) << m.err;
}

TEST(SparseConfig, ContradictoryOrImpossibleSettingsAreClearErrors) {
  auto fails = [](std::vector<std::string> sets, const std::string& want) {
    try {
      sim::HwConfig hw = sim::load_hwconfig("tpu_ws32", sets);
      sim::check_supported(hw);
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "accepted: " << want;
  };
  std::vector<std::string> ws = {"sparsity.skip.enabled=true", "sparsity.skip.fifo_depth=2",
                                 "sparsity.skip.lookahead=2", "sparsity.skip.acc_ports=2"};
  auto with = [](std::vector<std::string> v, std::string x) { return v.push_back(x), v; };
  fails(with(ws, "sparsity.skip.group=5"), "must divide array.rows");
  fails(ws, "group");  // required under WS
  fails(with(with(ws, "sparsity.skip.group=4"), "sparsity.skip.weight_feeds=2"), "does not apply to the ws");
  fails({"array.dataflow=is", "sparsity.skip.enabled=true", "sparsity.skip.group=4"},
        "does not apply to the is");
  fails({"array.dataflow=is", "sparsity.skip.enabled=true", "sparsity.skip.fifo_depth=4"},
        "does not apply to the is");
  fails(with(with(with(ws, "sparsity.skip.group=1"), "array.rows=128"), "array.cols=8"), "more than 64");
  fails({"sparsity.compress.format=rle"}, "run_bits");
}

TEST(SparseConfig, SparsityWithoutValuesIsRefusedNamingTheLayer) {
  sim::HwConfig hw = sim::load_hwconfig("tpu_ws32", {"sparsity.gate=true"});
  Graph g = load_graph("resnet8");
  auto groups = sim::group_layers(g);
  EXPECT_THROW(sim::simulate_group(hw, groups.front(), 0), ConfigError);
}

}  // namespace
}  // namespace eatsim
