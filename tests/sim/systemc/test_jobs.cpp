// --jobs: samples simulated on several workers (threads for fast/step, forked processes for the
// clocked model) give the very report one worker gives; the CLI's cycle fidelity reports what the
// fast one does.
#include <gtest/gtest.h>

#include "base/errors.hpp"
#include "sim/report.hpp"
#include "sim/run.hpp"
#include "sim/systemc/clocked.hpp"
#include "sim/trace_data.hpp"
#include "tests/helpers.hpp"
#include "traces/synth.hpp"
#include "traces/trace.hpp"

namespace eatsim::sim {
namespace {

Graph small_resnet() {
  ParamOverrides over;
  over.has_width = over.has_input_size = true;
  over.p.width = 0.125, over.p.input_h = over.p.input_w = 16;
  return load_graph("resnet18", over);
}

TEST(Jobs, ReportsDoNotDependOnTheNumberOfWorkersInEitherFidelity) {
  sysc::install();
  Graph g = small_resnet();
  // Batch residency makes samples differ (sample 0 of a batch fetches the weights), so a worker
  // mixing up samples would show.
  HwConfig hw = load_hwconfig("tpu_ws32", {"array.rows=8", "array.cols=8", "batch=2"});
  const int64_t samples = 5;
  std::string one = to_json(simulate_network(hw, g, {samples, Fidelity::fast, 1, false}));
  auto r = simulate_network(hw, g, {samples, Fidelity::fast, 1, false});
  ASSERT_NE(r.layers[1].samples[0].dram_weights_rd_bytes, r.layers[1].samples[1].dram_weights_rd_bytes);
  for (int jobs : {2, 3, 8}) {
    EXPECT_EQ(to_json(simulate_network(hw, g, {samples, Fidelity::fast, jobs, false})), one) << jobs;
    EXPECT_EQ(to_json(simulate_network(hw, g, {samples, Fidelity::cycle, jobs, false})), one) << jobs;
  }
  EXPECT_EQ(to_json(simulate_network(hw, g, {samples, Fidelity::cycle, 1, false})), one);
}

TEST(Jobs, SparseRunsWithTheCheckKeepTheirDenseTwinsAndCheckFiguresOnAnyWorkerCount) {
  sysc::install();
  test::TempDir d("jobs-sparse");
  Graph g = small_resnet();
  SynthOptions o;
  o.samples = 3, o.density = "0.3", o.clustering = Clustering::channel;
  write_synthetic_trace(g, o, d / "tr", true, "test");
  TraceReader tr(d / "tr");
  TraceData values(tr, 3);
  DataSource src = values.source();
  HwConfig hw = load_hwconfig("cnvlutin_ws16", {"array.rows=8", "array.cols=8", "batch=2"});
  SimResult one = simulate_network(hw, tr.graph(), {3, Fidelity::fast, 1, true}, &src);
  ASSERT_EQ(one.layers[0].dense.size(), 3u);
  ASSERT_EQ(one.layers[0].verified.size(), 3u);
  const std::string want = to_json(one);
  ASSERT_NE(want.find("\"check\""), std::string::npos);
  EXPECT_EQ(to_json(simulate_network(hw, tr.graph(), {3, Fidelity::fast, 2, true}, &src)), want);
  EXPECT_EQ(to_json(simulate_network(hw, tr.graph(), {3, Fidelity::cycle, 3, true}, &src)), want);
  EXPECT_EQ(to_json(simulate_network(hw, tr.graph(), {3, Fidelity::cycle, 1, true}, &src)), want);
}

TEST(Jobs, AWorkerErrorReachesTheCallerWithItsType) {
  sysc::install();
  Graph g = small_resnet();
  HwConfig hw = load_hwconfig("tpu_ws32", {"array.rows=8", "array.cols=8"});
  DataSource bad = [](int, int64_t s) -> LayerData {
    if (s == 2) throw TraceError("sample 2 is unreadable");
    return {};
  };
  for (Fidelity f : {Fidelity::fast, Fidelity::cycle}) {
    try {
      simulate_network(hw, g, {4, f, 3, false}, &bad);
      ADD_FAILURE() << "no error with " << fidelity_name(f);
    } catch (const TraceError& e) {  // the type survives the worker process: exit code and hint
      EXPECT_NE(std::string(e.what()).find("sample 2 is unreadable"), std::string::npos) << e.what();
    }
  }
}

TEST(Jobs, CliCycleFidelityAndJobsWriteTheFastReport) {
  test::TempDir d("jobs");
  auto r = test::run_cli("trace synth resnet8 --out " + (d / "tr") + " -n 3 --width 0.25 --cluster channel");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string base = "sim --hw eyeriss_os16 --trace " + (d / "tr");
  r = test::run_cli(base + " --out " + (d / "fast"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = test::run_cli(base + " --fidelity cycle --jobs 2 --out " + (d / "cycle"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("cycle fidelity, 2 job(s)"), std::string::npos) << r.err;
  r = test::run_cli(base + " --jobs 0 --out " + (d / "all"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(test::read_file(d / "fast.json"), test::read_file(d / "cycle.json"));
  EXPECT_EQ(test::read_file(d / "fast.csv"), test::read_file(d / "cycle.csv"));
  EXPECT_EQ(test::read_file(d / "fast.json"), test::read_file(d / "all.json"));
  r = test::run_cli(base + " --fidelity slow");
  EXPECT_EQ(r.code, 2);
  r = test::run_cli(base + " --jobs -1");
  EXPECT_EQ(r.code, 2);
}

}  // namespace
}  // namespace eatsim::sim
