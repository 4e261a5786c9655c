// eatsim train --hw / --report-hw (trainer/hw_loop.hpp): the weights follow the simulator's energy
// per non-zero and average 1 over the penalised elements, every epoch, logged; a run stopped inside
// an epoch resumes bit for bit; hardware that ignores zeros weighs every tensor alike (training
// equals plain EAT bit for bit), and reporting alone changes no training; bad input exits 2
// before anything is written.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

const std::string kNet =
    "train --model resnet8 --width 0.25 --in-channels 1 --input-size 28 --train-limit 1024 --test-limit 256 "
    "--batch 128 --epochs 2 --threads 1 -q --ratio-samples 0 --lambda 1 --sigma 1e-4 --penalty-layers relu "
    "--hw-samples 8 --hw-report-samples 16 ";

struct WeightRow {
  int epoch;
  std::string tensor;
  double elements, pj, weight;
  bool seen;
};

std::vector<WeightRow> read_weights(const std::string& path) {
  std::istringstream in(test::read_file(path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "epoch,tensor,elements,seen,pj_per_nonzero,weight,energy_pj_per_sample");
  std::vector<WeightRow> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string v; std::getline(ls, v, ',');) f.push_back(v);
    rows.push_back({std::stoi(f[0]), f[1], std::stod(f[2]), std::stod(f[4]), std::stod(f[5]), f[3] == "1"});
  }
  return rows;
}

const char* kFiles[] = {"conv1.weight.npy", "layer2.0.bn1.running_var.npy", "linear.weight.npy",
                        "optimizer/momentum.conv1.weight.npy"};

TEST(HwLoop, WeightsFollowTheSimulatorAverageOneAndResumeBitForBit) {
  test::TempDir d("hwloop");
  const std::string cfg = kNet + "--hw cnvlutin_ws16 --out ";
  auto r = test::run_cli(cfg + (d / "whole"));
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<WeightRow> rows = read_weights(d / "whole/hw_weights.csv");
  std::map<int, std::pair<double, double>> mean;  // epoch -> (Σ elements·weight, Σ elements)
  double lo = 1e9, hi = 0;
  for (const WeightRow& w : rows) {
    mean[w.epoch].first += w.elements * w.weight, mean[w.epoch].second += w.elements;
    if (!w.seen) {
      EXPECT_EQ(w.weight, 0) << w.tensor << ": the simulator never sees it, so it costs nothing there";
      continue;
    }
    EXPECT_GT(w.pj, 0) << w.tensor;
    lo = std::min(lo, w.weight), hi = std::max(hi, w.weight);
  }
  ASSERT_EQ(mean.size(), 2u) << "one set of weights per epoch";
  for (const auto& [e, m] : mean) EXPECT_NEAR(m.first / m.second, 1.0, 1e-9) << "epoch " << e;
  EXPECT_GT(hi, 1.2 * lo) << "tensors differ in energy per non-zero on cnvlutin_ws16";
  std::string csv = test::read_file(d / "whole/metrics.csv");
  EXPECT_NE(csv.find(",sim_energy_uj\n"), std::string::npos);
  // Stopped inside the first epoch and resumed: the same weights, checkpoints and logs.
  ASSERT_EQ(test::run_cli(cfg + (d / "parts") + " --max-steps 5").code, 0);
  r = test::run_cli(cfg + (d / "parts") + " --resume");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : kFiles) {
    const std::string a = test::read_file(d / ("whole/checkpoint/" + std::string(f)));
    ASSERT_FALSE(a.empty()) << f;
    EXPECT_EQ(a, test::read_file(d / ("parts/checkpoint/" + std::string(f)))) << f;
  }
  EXPECT_EQ(test::read_file(d / "whole/hw_weights.csv"), test::read_file(d / "parts/hw_weights.csv"));
}

TEST(HwLoop, HardwareBlindToZerosTrainsAsPlainEatAndReportingChangesNothing) {
  test::TempDir d("hwloop");
  ASSERT_EQ(test::run_cli(kNet + "--out " + (d / "plain")).code, 0);
  ASSERT_EQ(test::run_cli(kNet + "--hw tpu_ws32 --out " + (d / "blind")).code, 0);
  ASSERT_EQ(test::run_cli(kNet + "--report-hw cnvlutin_ws16 --out " + (d / "report")).code, 0);
  for (const WeightRow& w : read_weights(d / "blind/hw_weights.csv")) EXPECT_EQ(w.weight, 1.0) << w.tensor;
  for (const char* f : kFiles) {
    const std::string a = test::read_file(d / ("plain/checkpoint/" + std::string(f)));
    ASSERT_FALSE(a.empty()) << f;
    EXPECT_EQ(a, test::read_file(d / ("blind/checkpoint/" + std::string(f)))) << f;
    EXPECT_EQ(a, test::read_file(d / ("report/checkpoint/" + std::string(f)))) << f;
  }
  EXPECT_EQ(test::read_file(d / "plain/metrics.csv").find("sim_energy_uj"), std::string::npos);
  EXPECT_NE(test::read_file(d / "report/metrics.csv").find("sim_energy_uj"), std::string::npos);
  EXPECT_FALSE(fs::exists(d / "report/hw_weights.csv"));
}

TEST(HwLoop, BadInputExits2BeforeWritingAnything) {
  test::TempDir d("hwloop");
  auto expect2 = [&](const std::string& args, const std::string& needle) {
    auto r = test::run_cli(kNet + args + " --out " + (d / "x"));
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(d / "x")) << args;
  };
  expect2("--hw no_such_preset", "no_such_preset");
  test::write_file(d / "bad.yaml", "array: {rows: [\n");
  expect2("--hw " + (d / "bad.yaml"), "bad.yaml");
  expect2("--hw cnvlutin_ws16 --lambda 0", "--lambda");
  expect2("--hw cnvlutin_ws16 --hw-samples 0", "--hw-samples");
  expect2("--report-hw no_such_preset", "no_such_preset");
  // A model with nothing to penalise.
  test::write_file(d / "norelu.yaml",
                   "name: norelu\nparams: {width: 1, in_channels: 1, input_size: 28, classes: 10}\nnodes:\n"
                   "  - {name: c1, op: conv2d, inputs: [input], out_channels: 8, kernel: 3, pad: 1}\n"
                   "  - {name: gap, op: global_avgpool, inputs: [c1]}\n"
                   "  - {name: flat, op: flatten, inputs: [gap]}\n"
                   "  - {name: fc, op: linear, inputs: [flat], out_features: 10}\n");
  auto r = test::run_cli("train --model " + (d / "norelu.yaml") +
                         " --train-limit 256 --test-limit 128 --batch 64 --epochs 1 -q --lambda 1 "
                         "--penalty-layers relu --hw cnvlutin_ws16 --out " +
                         (d / "y"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("selects no node"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(d / "y"));
}

}  // namespace
}  // namespace eatsim
