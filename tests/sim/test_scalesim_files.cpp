// SCALE-Sim v2 files in, SCALE-Sim reports out. The reference numbers of the first test are SCALE-Sim
// v2's own regression golden (its test/golden_trace for configs/scale.cfg switched to ws, on
// topologies/conv_nets/alexnet_part.csv): cycles, utilisations and SRAM traffic must equal them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "base/errors.hpp"
#include "models/graph.hpp"
#include "sim/gemm.hpp"
#include "sim/network.hpp"
#include "sim/scalesim_files.hpp"
#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;
using test::run_cli;

std::string cfg(const std::string& df, int size, int sram_kb = 64, const std::string& extra = "") {
  return "[general]\nrun_name = scale_example_run_" + std::to_string(size) + "_" + df +
         "\n\n[architecture_presets]\nArrayHeight:    " + std::to_string(size) +
         "\nArrayWidth:     " + std::to_string(size) + "\nIfmapSramSzkB:   " + std::to_string(sram_kb) +
         " \nFilterSramSzkB:  " + std::to_string(sram_kb) + " \nOfmapSramSzkB:   " + std::to_string(sram_kb) +
         " \nIfmapOffset:    0\nFilterOffset:   10000000\nOfmapOffset:    20000000\nBandwidth : 10\nDataflow "
         ": " +
         df + "\nMemoryBanks:   1\n" + extra + "\n[run_presets]\nInterfaceBandwidth: CALC \n";
}

std::vector<std::vector<std::string>> csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) {
      cell.erase(0, cell.find_first_not_of(' '));
      f.push_back(cell);
    }
    rows.push_back(f);
  }
  return rows;
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t closed_form(const std::string& df, int64_t R, int64_t C, int64_t P, int64_t K, int64_t N) {
  if (df == "os") return cdiv(P, R) * cdiv(N, C) * (K + R + C - 2) - 1;
  if (df == "ws") return cdiv(K, R) * cdiv(N, C) * (2 * R + C + P - 2) - 1;
  return cdiv(K, R) * cdiv(P, C) * (2 * R + C + N - 2) - 1;
}

TEST(ScaleSimFiles, AlexNetConv1MatchesScaleSimsOwnGoldenReports) {
  test::TempDir d("scalesim_golden");
  test::write_file(d / "scale.cfg", cfg("ws", 32));
  test::write_file(
      d / "alexnet_part.csv",
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\nConv1,  224, 224,    11, 11,    3,      96,     4,");
  auto r = run_cli("sim --scalesim-config " + (d / "scale.cfg") + " --topology " + (d / "alexnet_part.csv") +
                   " --scalesim-reports " + (d / "rep"));
  ASSERT_EQ(r.code, 0) << r.err;
  auto compute = csv(test::read_file(d / "rep/COMPUTE_REPORT.csv"));
  ASSERT_EQ(compute.size(), 2u);
  EXPECT_EQ(compute[0][1], "Total Cycles");
  EXPECT_EQ(compute[1][1], "112283");  // SCALE-Sim v2 golden
  EXPECT_EQ(compute[1][2], "0");
  EXPECT_NEAR(std::stod(compute[1][3]), 91.68309650614964, 1e-11);
  EXPECT_NEAR(std::stod(compute[1][4]), 94.53125, 1e-11);
  EXPECT_NEAR(std::stod(compute[1][5]), 90.78000992063492, 1e-11);
  auto bw = csv(test::read_file(d / "rep/BANDWIDTH_REPORT.csv"));
  EXPECT_NEAR(std::stod(bw[1][1]), 29.338590881967885, 1e-11);
  EXPECT_NEAR(std::stod(bw[1][2]), 0.31035864734643714, 1e-13);
  EXPECT_NEAR(std::stod(bw[1][3]), 31.035864734643713, 1e-11);
  auto detail = csv(test::read_file(d / "rep/DETAILED_ACCESS_REPORT.csv"));
  EXPECT_EQ(detail[0].size(), 19u);
  EXPECT_EQ(detail[1][3], "3294225");  // SRAM IFMAP Reads
  EXPECT_EQ(detail[1][6], "34848");    // SRAM Filter Reads
  EXPECT_EQ(detail[1][9], "3484800");  // SRAM OFMAP Writes
  EXPECT_EQ(detail[1][15], "34848");   // DRAM Filter Reads
}

TEST(ScaleSimFiles, ResNet18TopologyCyclesEqualTheGraphPathAndScaleSimsFormsOnEveryDataflow) {
  // The topology eatsim writes for its ResNet18 (sim --scalesim-topology), read back.
  Graph g = load_graph("resnet18");
  test::TempDir d("scalesim_r18");
  test::write_file(d / "r18.csv", sim::scalesim_topology(g));
  std::vector<scalesim::Layer> layers = scalesim::read_topology(d / "r18.csv");
  ASSERT_EQ(layers.size(), 21u);
  int checked = 0;
  for (const char* df : {"os", "ws", "is"})
    for (int size : {16, 32}) {
      test::write_file(d / "c.cfg", cfg(df, size, 1024));
      sim::HwConfig hw = scalesim::hwconfig_of(scalesim::read_config(d / "c.cfg"));
      EXPECT_EQ(hw.array.rows, size);
      sim::SimResult r = scalesim::simulate(hw, layers, {});
      ASSERT_EQ(r.layers.size(), 21u);
      // The same layers through the model graph.
      std::map<std::string, int64_t> graph_cycles;
      for (const auto& grp : sim::group_layers(g))
        if (grp.gemm >= 0)
          graph_cycles[grp.name] = sim::reported_cycles(hw, grp, sim::simulate_group(hw, grp, 0));
      auto rows = csv(scalesim::compute_report(r));
      for (size_t i = 0; i < layers.size(); ++i) {
        const auto& s = r.layers[i].group.shape;
        const int64_t want = closed_form(df, size, size, s.M, s.K, s.N);
        EXPECT_EQ(std::stoll(rows[i + 1][1]), want) << df << size << " " << layers[i].name;
        EXPECT_EQ(graph_cycles.at(layers[i].name), want) << df << size << " " << layers[i].name;
        ++checked;
      }
    }
  EXPECT_EQ(checked, 126);
}

TEST(ScaleSimFiles, GemmRowsAndDepthwiseRowsMapAsScaleSimMapsThem) {
  test::TempDir d("scalesim_gemm");
  test::write_file(d / "mnk.csv", "Layer, M, N, K,\nTest 1, 128, 64, 256,\nfc2, 7, 1000, 33,\n");
  auto layers = scalesim::read_topology(d / "mnk.csv");
  ASSERT_EQ(layers.size(), 2u);
  test::write_file(d / "c.cfg", cfg("os", 32));
  sim::HwConfig hw = scalesim::hwconfig_of(scalesim::read_config(d / "c.cfg"));
  sim::SimResult r = scalesim::simulate(hw, layers, {});
  EXPECT_EQ(r.layers[0].group.shape.M, 128);
  EXPECT_EQ(r.layers[0].group.shape.K, 256);
  EXPECT_EQ(r.layers[0].group.shape.N, 64);
  auto rows = csv(scalesim::compute_report(r));
  EXPECT_EQ(std::stoll(rows[1][1]), closed_form("os", 32, 32, 128, 256, 64));
  EXPECT_EQ(std::stoll(rows[2][1]), closed_form("os", 32, 32, 7, 33, 1000));
  // A 'DP' row is one layer per channel; an odd ifmap gets SCALE-Sim's ceil output size.
  test::write_file(
      d / "dw.csv",
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\nConv2_DP, 113, 113, 3, 3, 4, 1, 2,\n");
  auto dw = scalesim::read_topology(d / "dw.csv");
  ASSERT_EQ(dw.size(), 4u);
  EXPECT_EQ(dw[3].name, "Conv2_DPChannel_3");
  sim::SimResult rd = scalesim::simulate(hw, dw, {});
  EXPECT_EQ(rd.layers[0].group.shape.M, 56 * 56);  // ceil((113 - 3 + 2) / 2) = 56
  EXPECT_EQ(rd.layers[0].group.shape.K, 9);
}

// A sweep whose base is a SCALE-Sim config and whose "traces" are SCALE-Sim topologies: every
// point's cycles are the closed forms' sum over the topology's layers.
TEST(ScaleSimFiles, ASweepTakesAScaleSimConfigAndTopologies) {
  test::TempDir d("scalesim_sweep");
  test::write_file(d / "scale.cfg", cfg("os", 32, 1024));
  test::write_file(d / "mnk.csv", "Layer, M, N, K,\nA, 128, 64, 256,\nB, 49, 512, 4608,\n");
  test::write_file(
      d / "sweep.yaml",
      "name: ss\nbase: scale.cfg\nparams:\n  array.rows: [16, 32]\n  array.dataflow: [os, ws, is]\n"
      "traces:\n  - {name: mnk, topology: mnk.csv}\n");
  auto r = run_cli("sweep " + (d / "sweep.yaml") + " --out " + (d / "out"));
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = csv(test::read_file(d / "out/results.csv"));
  ASSERT_EQ(rows.size(), 7u);  // header + 2 x 3 points
  const auto& h = rows[0];
  auto col = [&](const std::string& name) {
    return static_cast<size_t>(std::find(h.begin(), h.end(), name) - h.begin());
  };
  ASSERT_LT(col("cycles"), h.size());
  for (size_t i = 1; i < rows.size(); ++i) {
    const std::string df = rows[i][col("array.dataflow")];
    const int64_t R = std::stoll(rows[i][col("array.rows")]);
    const int64_t want = closed_form(df, R, 32, 128, 256, 64) + closed_form(df, R, 32, 49, 4608, 512);
    EXPECT_EQ(std::stod(rows[i][col("cycles")]), double(want)) << df << " " << R;
  }
  // A sweep entry takes a trace or a topology, not both.
  test::write_file(
      d / "bad.yaml",
      "base: scale.cfg\nparams:\n  array.rows: [16]\ntraces:\n  - {topology: mnk.csv, path: x}\n");
  r = run_cli("sweep " + (d / "bad.yaml") + " --out " + (d / "out2"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("give path (a trace) or topology"), std::string::npos) << r.err;
}

TEST(ScaleSimFiles, BadFilesExitTwoNamingFileAndLine) {
  test::TempDir d("scalesim_bad");
  const std::string topo = d / "t.csv";
  test::write_file(
      topo,
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\nc1, 8, 8, 3, 3, 4, 8, 1,\n");
  auto refused = [&](const std::string& cfg_text, const std::string& topo_text, const std::string& want,
                     const std::string& extra = "") {
    test::write_file(d / "x.cfg", cfg_text);
    test::write_file(d / "x.csv", topo_text);
    auto r = run_cli("sim --scalesim-config " + (d / "x.cfg") + " --topology " + (d / "x.csv") + " " + extra);
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.err.find(want), std::string::npos) << "want '" << want << "' in: " << r.err;
  };
  const std::string good_topo = test::read_file(topo);
  refused(cfg("ws", 32, 64, "Fancy: 3\n"), good_topo,
          "x.cfg:16: [architecture_presets] fancy: not a SCALE-Sim");
  refused(cfg("zz", 32), good_topo, "'zz' is not a dataflow");
  refused("ArrayHeight: 4\n", good_topo, "x.cfg:1: a key before any [section]");
  std::string user = cfg("ws", 32);
  user.replace(user.find("CALC"), 4, "USER");
  refused(user, good_topo, "interfacebandwidth: USER: eatsim reproduces");
  std::string nonum = cfg("ws", 32);
  nonum.replace(nonum.find("ArrayHeight:    32"), 18, "ArrayHeight: lots");
  refused(nonum, good_topo, "x.cfg:5: arrayheight: 'lots' should be an integer");
  refused(cfg("ws", 32), "Layer, M, N, K,\ng, 0, 4, 4,\n", "x.csv:2: field 2: '0' should be an integer");
  refused(cfg("ws", 32), "Layer, M, N, K,\ng, 4, 4,\n", "x.csv:2: 3 fields, a GEMM row has 4");
  refused(
      cfg("ws", 32),
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
      "c, 2, 2, 3, 3, 1, 1, 1,\n",
      "x.csv:2: a 3x3 filter on a 2x2 ifmap");
  refused(cfg("ws", 32), "hello, world\n", "x.csv:1: not a SCALE-Sim topology header");
  // A 256x256 array's stationary tile (65,536 words) does not fit a 1 kB filter SRAM.
  refused(
      cfg("ws", 256, 1),
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
      "big, 32, 32, 3, 3, 256, 256, 1,\n",
      "x.csv:2: layer big: a fold's stationary 65536-word tile does not fit the filter SRAM");
  // The reports directory cannot be made: nothing else is left half-written either.
  test::write_file(d / "file", "x");
  refused(cfg("ws", 32), good_topo, "cannot create the directory", "--scalesim-reports " + (d / "file/rep"));
}

}  // namespace
}  // namespace eatsim
