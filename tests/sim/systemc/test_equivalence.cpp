// The clocked SystemC model (cycle fidelity) against the fast engine: cycles, stalls and every
// event count equal, exactly, on random rows x random hardware (every dataflow; sparse features
// as soon as the engine accepts them) and on whole small networks from synthetic traces. A
// difference names the layer, the config and the counter.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "base/errors.hpp"
#include "sim/report.hpp"
#include "sim/run.hpp"
#include "sim/systemc/clocked.hpp"
#include "sim/trace_data.hpp"
#include "tests/helpers.hpp"
#include "tests/sim/systemc/random_cases.hpp"
#include "traces/synth.hpp"
#include "traces/trace.hpp"

namespace eatsim::sim {
namespace {

using test::counter_diff;

class ClockedModel : public ::testing::Test {
 protected:
  void SetUp() override { sysc::install(); }
};

TEST_F(ClockedModel, EveryCounterEqualsTheFastEngineOnRandomRowsAndHardware) {
  std::mt19937 rng(2026);
  int ran = 0, sparse_ran = 0, dataflows[3] = {0, 0, 0};
  std::map<std::string, int> features;
  for (int trial = 0; trial < 240; ++trial) {
    test::RandomHw h = test::random_hw(rng);
    LayerGroup row = test::random_row(rng, fmt::format("layer{}", trial));
    test::RowData data = test::random_data(rng, row);
    LayerData view = data.view();
    int64_t sample = std::uniform_int_distribution<int>(0, 3)(rng);
    Counters fast, cycle;
    try {
      fast = simulate_group(h.hw, row, sample, Fidelity::fast, {&view});
    } catch (const ConfigError&) {
      continue;  // a random buffer too small for one tile: refused the same way in both modes
    }
    cycle = simulate_group(h.hw, row, sample, Fidelity::cycle, {&view});
    std::string diff = counter_diff(fast, cycle);
    EXPECT_EQ(diff, "") << "layer " << row.name << " (M=" << row.shape.M << " K=" << row.shape.K
                        << " N=" << row.shape.N << " groups=" << row.shape.groups << ", sample " << sample
                        << ", " << data.pattern << ")\nconfig: " << h.text;
    ++ran, sparse_ran += h.sparse, ++dataflows[int(h.hw.array.dataflow)];
    const SparsityConfig& sp = h.hw.sparsity;
    features["gate"] += sp.gate;
    features[std::string("skip ") + dataflow_name(h.hw.array.dataflow)] += sp.skip.enabled;
    features["compress"] += sp.compress.format != CompressFormat::none;
    features["grouped"] += row.shape.groups > 1;
    features["depthwise"] += row.shape.groups > 1 && row.shape.cin == 1;
    features["dilated"] += row.shape.dh > 1 || row.shape.dw > 1;
  }
  EXPECT_GT(ran, 100);
  for (const char* f : {"grouped", "depthwise", "dilated"})
    EXPECT_GE(features[f], 10) << "too few random rows: " << f;
  for (int d = 0; d < 3; ++d) EXPECT_GT(dataflows[d], 10) << dataflow_name(Dataflow(d));
  // Sparse configs join the suite by themselves once the engine accepts the Cnvlutin preset.
  bool sparse_supported = true;
  try {
    check_supported(load_hwconfig("cnvlutin_ws16"));
  } catch (const ConfigError&) {
    sparse_supported = false;
  }
  if (sparse_supported) {
    EXPECT_GT(sparse_ran, 20);
    for (const char* f : {"gate", "skip ws", "skip os", "skip is", "compress"})
      EXPECT_GE(features[f], 5) << "too few random rows with " << f;
  }
  for (const auto& [f, n] : features) RecordProperty(f, n);
  RecordProperty("rows", ran);
  RecordProperty("sparse_rows", sparse_ran);
}

TEST_F(ClockedModel, PpuOnlyRowsEqualTheFastEngineWithTheirOwnDramTraffic) {
  std::mt19937 rng(11);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int waited = 0;
  for (int trial = 0; trial < 60; ++trial) {
    test::RandomHw h = test::random_hw(rng);
    LayerGroup row;
    row.name = fmt::format("pool{}", trial);
    row.in_elems = pick(0, 3) == 0 ? 0 : pick(1, 5000);
    row.residual_elems = pick(0, 1) ? pick(1, 3000) : 0;
    row.out_elems = pick(0, 3) == 0 ? 0 : pick(1, 5000);
    row.ppu_ops = pick(0, 3) == 0 ? 0 : pick(1, 20000);
    Counters fast = simulate_group(h.hw, row, 0, Fidelity::fast);
    Counters cycle = simulate_group(h.hw, row, 0, Fidelity::cycle);
    EXPECT_EQ(test::counter_diff(fast, cycle), "")
        << "PPU-only row " << row.name << " (in " << row.in_elems << ", residual " << row.residual_elems
        << ", out " << row.out_elems << ", ops " << row.ppu_ops << ")\nconfig: " << h.text;
    waited += fast.cycles_stall > 0;
  }
  EXPECT_GT(waited, 10) << "rows that wait for DRAM after their work";
}

// A whole network from a synthetic trace (random or clustered zeros), every row of every sample.
void expect_network_equal(const std::string& model, const std::string& preset, Clustering cl,
                          const std::vector<std::string>& sets) {
  ParamOverrides over;
  over.has_width = over.has_input_size = true;
  over.p.width = 0.125, over.p.input_h = over.p.input_w = model == "vgg16" ? 32 : 16;
  Graph g = load_graph(model, over);
  test::TempDir dir("sysc");
  SynthOptions o;
  o.samples = 2, o.density = "0.6..0.2", o.clustering = cl;
  write_synthetic_trace(g, o, dir / "trace", true, "test");
  TraceReader tr(dir / "trace");
  TraceData values(tr, 2);
  DataSource src = values.source();
  HwConfig hw = load_hwconfig(preset, sets);
  SimResult fast = simulate_network(hw, tr.graph(), {2, Fidelity::fast}, &src);
  SimResult cycle = simulate_network(hw, tr.graph(), {2, Fidelity::cycle}, &src);
  ASSERT_EQ(fast.layers.size(), cycle.layers.size());
  for (size_t l = 0; l < fast.layers.size(); ++l) {
    for (int64_t s = 0; s < 2; ++s) {
      EXPECT_EQ(counter_diff(fast.layers[l].samples[s], cycle.layers[l].samples[s]), "")
          << model << " layer " << fast.layers[l].group.name << " sample " << s << " on " << preset;
    }
  }
  EXPECT_EQ(to_json(fast), to_json(cycle)) << model << " on " << preset;
}

TEST_F(ClockedModel, WholeResNet18AndVgg16ReportsEqualTheFastEngineOnEveryPreset) {
  const std::vector<std::string> dense = {"sparsity.gate=false", "sparsity.skip.enabled=false",
                                          "sparsity.compress.format=none"};
  expect_network_equal("resnet18", "tpu_ws32", Clustering::independent, {"array.rows=8", "array.cols=8"});
  expect_network_equal("resnet18", "eyeriss_os16", Clustering::channel, {});
  expect_network_equal("vgg16", "dense_fp32", Clustering::blob, {"array.dataflow=is", "array.rows=8"});
  expect_network_equal("vgg16", "scalesim32", Clustering::independent, {"array.rows=8", "array.cols=8"});
  std::vector<std::string> cnv = {"array.rows=8", "array.cols=8"};
  try {
    check_supported(load_hwconfig("cnvlutin_ws16"));
  } catch (const ConfigError&) {
    cnv.insert(cnv.end(), dense.begin(), dense.end());  // sparse features not simulated yet
  }
  expect_network_equal("resnet18", "cnvlutin_ws16", Clustering::channel, cnv);
}

// Depthwise and grouped convolutions, ReLU6, residual adds without a ReLU, dropout: MobileNetV2
// with skipping and compression on, and on the SCALE-Sim-compatible preset (groups as layers).
TEST_F(ClockedModel, WholeMobileNetV2ReportsEqualTheFastEngine) {
  expect_network_equal("mobilenetv2", "cnvlutin_ws16", Clustering::channel,
                       {"array.rows=8", "array.cols=8", "sparsity.compress.format=bitmap"});
  expect_network_equal("mobilenetv2", "scalesim32", Clustering::independent,
                       {"array.rows=8", "array.cols=8"});
}

}  // namespace
}  // namespace eatsim::sim
