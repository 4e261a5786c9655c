// eatsim sweep with the real simulator: killed at random moments (SIGKILL) it loses, duplicates
// and truncates nothing; results do not depend on --jobs; shards merge into the whole; bad sweep
// files exit 2.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

class SweepCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("sweepcli");
    ASSERT_EQ(
        test::run_cli("trace synth resnet8 --width 0.5 --samples 1 --density 0.4 --out " + (*dir_ / "a"))
            .code,
        0);
    ASSERT_EQ(test::run_cli("trace synth resnet8 --width 0.5 --samples 1 --density 0.2 --seed 2 --out " +
                            (*dir_ / "b"))
                  .code,
              0);
    test::write_file(*dir_ / "grid.yaml",
                     "name: grid\nbase: tpu_ws32\nparams:\n  array.rows: [8, 16, 32, 64]\n"
                     "  array.cols: [8, 16, 32, 64]\n  dram.bytes_per_cycle: [8, 16, 64]\n"
                     "constraints: [\"array.rows * array.cols <= 2048\"]\n"
                     "traces:\n  - {name: dense, path: a}\n  - {name: sparse, path: b}\n");
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
};
test::TempDir* SweepCli::dir_ = nullptr;

TEST_F(SweepCli, JobsDoNotChangeTheResults) {
  auto one = test::run_cli("sweep " + (*dir_ / "grid.yaml") + " -q --jobs 1 --out " + (*dir_ / "j1"));
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_NE(one.out.find("Pareto front for trace sparse"), std::string::npos);
  ASSERT_EQ(test::run_cli("sweep " + (*dir_ / "grid.yaml") + " -q --jobs 2 --out " + (*dir_ / "j2")).code, 0);
  std::string csv = test::read_file(*dir_ / "j1/results.csv");
  EXPECT_EQ(csv, test::read_file(*dir_ / "j2/results.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * 45);  // 48 points minus 3 (64x64), × 2 traces
  EXPECT_NE(csv.find("trace_accuracy"), std::string::npos);
  EXPECT_NE(csv.find("energy_pj"), std::string::npos);
}

TEST_F(SweepCli, SurvivesRepeatedSigkill) {
  ASSERT_EQ(test::run_cli("sweep " + (*dir_ / "grid.yaml") + " -q --out " + (*dir_ / "ref")).code, 0);
  std::mt19937 rng(12345);
  std::string out = *dir_ / "killed";
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      dup2(devnull, 1), dup2(devnull, 2);
      std::string sweep = *dir_ / "grid.yaml";
      execl(EATSIM_BIN, EATSIM_BIN, "sweep", sweep.c_str(), "-q", "--jobs", "2", "--out", out.c_str(),
            (char*)nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 120)(rng)));
    kills += kill(pid, SIGKILL) == 0;
    int st;
    waitpid(pid, &st, 0);
  }
  EXPECT_GT(kills, 0);
  auto fin = test::run_cli("sweep " + (*dir_ / "grid.yaml") + " -q --out " + out);
  ASSERT_EQ(fin.code, 0) << fin.err;
  EXPECT_EQ(test::read_file(out + "/results.csv"), test::read_file(*dir_ / "ref/results.csv"));
  for (auto& e : fs::directory_iterator(out + "/points"))
    EXPECT_EQ(e.path().extension(), ".json") << "a temporary file was left as a result: " << e.path();
}

TEST_F(SweepCli, ShardsMergeIntoTheWhole) {
  ASSERT_EQ(test::run_cli("sweep " + (*dir_ / "grid.yaml") + " -q --out " + (*dir_ / "whole")).code, 0);
  std::string dirs;
  for (int k = 1; k <= 3; ++k) {
    std::string d = *dir_ / ("s" + std::to_string(k));
    ASSERT_EQ(
        test::run_cli("sweep " + (*dir_ / "grid.yaml") + " -q --shard " + std::to_string(k) + "/3 --out " + d)
            .code,
        0);
    dirs += " " + d;
  }
  auto m = test::run_cli("sweep merge --out " + (*dir_ / "merged") + dirs);
  ASSERT_EQ(m.code, 0) << m.err;
  EXPECT_EQ(test::read_file(*dir_ / "merged/results.csv"), test::read_file(*dir_ / "whole/results.csv"));
  auto gap =
      test::run_cli("sweep merge --out " + (*dir_ / "gap") + " " + (*dir_ / "s1") + " " + (*dir_ / "s2"));
  EXPECT_EQ(gap.code, 1);
  EXPECT_NE(gap.out.find("missing"), std::string::npos);
}

TEST_F(SweepCli, BadSweepsExit2) {
  auto bad = [&](const std::string& body, const std::string& extra, const std::string& needle) {
    test::write_file(*dir_ / "bad.yaml", body);
    auto r = test::run_cli("sweep " + (*dir_ / "bad.yaml") + " -q --out " + (*dir_ / "badout") + extra);
    EXPECT_EQ(r.code, 2) << body << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  };
  const std::string tr = "traces:\n  - {name: dense, path: a}\n";
  bad("base: tpu_ws32\nparams:\n  array.rowz: [8]\n" + tr, "", "'array.rowz' is not a hwconfig key");
  bad("base: tpu_ws32\nparams:\n  array.rows: {from: 8, to: 4}\n" + tr, "", "empty");
  bad("base: tpu_ws32\nparams:\n  array.rows: [8]\nconstraints: [\"array.rows > 8\"]\n" + tr, "",
      "remove every");
  bad("base: tpu_ws32\nparams:\n  array.rows: [8]\n" + tr, " --shard 4/3", "--shard");
  bad("base: tpu_ws32\nparams:\n  array.rows: [8]\ntraces:\n  - {name: x, path: nothere}\n", "", "nothere");
  // Shards of two different sweep files do not merge.
  test::write_file(*dir_ / "other.yaml", "base: tpu_ws32\nparams:\n  array.rows: [8, 16]\n" + tr);
  ASSERT_EQ(test::run_cli("sweep " + (*dir_ / "other.yaml") + " -q --out " + (*dir_ / "o1")).code, 0);
  ASSERT_EQ(test::run_cli("sweep " + (*dir_ / "grid.yaml") + " -q --shard 1/2 --out " + (*dir_ / "g1")).code,
            0);
  auto m = test::run_cli("sweep merge --out " + (*dir_ / "mm") + " " + (*dir_ / "o1") + " " + (*dir_ / "g1"));
  EXPECT_EQ(m.code, 2);
  EXPECT_NE(m.err.find("another sweep file"), std::string::npos) << m.err;
}

TEST_F(SweepCli, ParetoPlotFromTheResults) {
  ASSERT_EQ(test::run_cli("sweep " + (*dir_ / "grid.yaml") + " -q --out " + (*dir_ / "p")).code, 0);
  auto r = test::run_cli("plot pareto " + (*dir_ / "p/results.csv") + " --out " + (*dir_ / "pareto"));
  ASSERT_EQ(r.code, 0) << r.err;
  std::string svg = test::read_file(*dir_ / "pareto.svg");
  for (const char* s :
       {"dense (Pareto front)", "sparse (all points)", "cycles per sample", "energy per sample"})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  EXPECT_GT(fs::file_size(*dir_ / "pareto.png"), 10000u);
}

}  // namespace
}  // namespace eatsim

namespace eatsim {
namespace {

// Sweeps read the traces' values when a point can turn a sparsity feature on: gating and skipping
// lower the energy of the sparse trace, and the dense point keeps its energy ratio of exactly 1.
TEST(SweepSparse, SparsityParametersUseTheTracesValues) {
  test::TempDir d("sweepsp");
  ASSERT_EQ(
      test::run_cli("trace synth resnet8 --width 0.25 --samples 1 --density 0.1 --out " + (d / "t")).code, 0);
  test::write_file(d / "sp.yaml",
                   "name: sp\nbase: cnvlutin_ws16\nparams:\n  sparsity.gate: [false, true]\n"
                   "  sparsity.skip.enabled: [false, true]\n  sparsity.compress.format: [none]\n"
                   "traces:\n  - {name: eat, path: t}\n");
  auto r = test::run_cli("sweep " + (d / "sp.yaml") + " -q --jobs 2 --out " + (d / "o"));
  ASSERT_EQ(r.code, 0) << r.err;
  std::string csv = test::read_file(d / "o/results.csv");
  std::vector<std::string> lines;
  for (size_t s = 0, e; s < csv.size(); s = e + 1)
    lines.push_back(csv.substr(s, (e = csv.find('\n', s)) - s));
  ASSERT_GE(lines.size(), 5u) << csv;
  // energy_ratio column: 1 for the dense point, below 1 for every sparse one.
  auto col = [&](const std::string& name) {
    size_t i = 0, pos = 0;
    const std::string& h = lines[0];
    for (size_t e; (e = h.find(',', pos)) != std::string::npos || pos < h.size(); pos = e + 1, ++i) {
      if (h.substr(pos, e == std::string::npos ? std::string::npos : e - pos) == name) return i;
      if (e == std::string::npos) break;
    }
    return size_t(-1);
  };
  size_t ci = col("energy_ratio");
  ASSERT_NE(ci, size_t(-1)) << lines[0];
  int below = 0, one = 0;
  for (size_t l = 1; l < lines.size(); ++l) {
    if (lines[l].empty()) continue;
    std::vector<std::string> f;
    for (size_t s = 0, e; s <= lines[l].size(); s = e + 1) {
      e = lines[l].find(',', s);
      if (e == std::string::npos) e = lines[l].size();
      f.push_back(lines[l].substr(s, e - s));
    }
    double v = std::stod(f[ci]);
    one += v == 1.0, below += v < 1.0;
  }
  EXPECT_EQ(one, 1) << csv;
  EXPECT_EQ(below, 3) << csv;
}

// Co-design: two trained networks (their traces carry the checkpoints' test accuracy) on a grid of
// hardware points: one front over (point, network) pairs, minimising the metrics and maximising
// accuracy, printed and drawn.
TEST(SweepCodesign, OneFrontSpansHardwarePointsAndTrainedNetworks) {
  test::TempDir d("codesign");
  const std::string train =
      "train --model resnet8 --width 0.25 --in-channels 1 --input-size 28 --train-limit 512 --test-limit 256 "
      "--batch 128 --epochs 1 --threads 1 -q --ratio-samples 0 --penalty-layers relu --out ";
  ASSERT_EQ(test::run_cli(train + (d / "st")).code, 0);
  ASSERT_EQ(test::run_cli(train + (d / "eat") + " --lambda 3").code, 0);
  for (const char* r : {"st", "eat"})
    ASSERT_EQ(
        test::run_cli("trace export " + (d / r) + " -n 2 --out " + (d / (std::string(r) + ".trace"))).code,
        0);
  test::write_file(
      d / "grid.yaml",
      "name: codesign\nbase: cnvlutin_ws16\nparams:\n  array.rows: [8, 16]\n  array.cols: [8, 16]\n"
      "traces:\n  - {name: standard, path: st.trace}\n  - {name: eat, path: eat.trace}\n");
  auto r = test::run_cli("sweep " + (d / "grid.yaml") + " -q --out " + (d / "out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const size_t at = r.out.find("Co-design Pareto front over hardware points and networks");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string front = r.out.substr(at);
  EXPECT_NE(front.find("accuracy"), std::string::npos);
  EXPECT_NE(front.find("%"), std::string::npos);
  // Every pair on the front is one of the 8 (4 points x 2 networks), and the front is not empty.
  size_t lines = std::count(front.begin(), front.end(), '\n');
  EXPECT_GE(lines, 3u) << front;
  EXPECT_LE(lines, 2u + 8u) << front;
  auto p = test::run_cli("plot pareto " + (d / "out/results.csv") + " --out " + (d / "pareto"));
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(test::read_file(d / "pareto-accuracy.gp").find("co-design Pareto front"), std::string::npos);
}

}  // namespace
}  // namespace eatsim
