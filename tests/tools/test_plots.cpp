// eatsim plot: every figure is produced as PNG and SVG and carries the series it should.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

class Plots : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    d_ = new test::TempDir("plots");
    ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 2 --density 0.5 --out " + (*d_ / "st")).code, 0);
    ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 2 --density 0.1 --out " + (*d_ / "eat")).code, 0);
  }
  static void TearDownTestSuite() { delete d_; }
  static void expect_figure(const std::string& prefix, const std::vector<std::string>& needles) {
    ASSERT_TRUE(fs::exists(prefix + ".png")) << prefix;
    EXPECT_GT(fs::file_size(prefix + ".png"), 5000u);
    std::string svg = test::read_file(prefix + ".svg");
    for (const auto& n : needles) EXPECT_NE(svg.find(n), std::string::npos) << prefix << ": " << n;
  }
  static test::TempDir* d_;
};
test::TempDir* Plots::d_ = nullptr;

TEST_F(Plots, FiringBarsStandardVsEat) {
  ASSERT_EQ(test::run_cli("firing " + (*d_ / "st") + " " + (*d_ / "eat") + " --convention graph --csv " +
                          (*d_ / "f.csv"))
                .code,
            0);
  auto r = test::run_cli("plot firing " + (*d_ / "f.csv") + " --labels ST,EAT --out " + (*d_ / "firing"));
  ASSERT_EQ(r.code, 0) << r.err;
  expect_figure(*d_ / "firing", {"ST", "EAT", "relu1", "relu2", "firing (% of outputs non-zero)"});
}

TEST_F(Plots, EnergyBreakdownStackedByComponent) {
  ASSERT_EQ(test::run_cli("sim --hw tpu_ws32 --trace " + (*d_ / "st") + " --out " + (*d_ / "s")).code, 0);
  auto r = test::run_cli("plot breakdown " + (*d_ / "s.csv") + " --labels standard --out " + (*d_ / "bd"));
  ASSERT_EQ(r.code, 0) << r.err;
  expect_figure(*d_ / "bd", {"dram", "mac", "sram_ifmap", "conv2", "energy per sample (µJ)", "standard"});
  EXPECT_EQ(test::run_cli("plot breakdown " + (*d_ / "f.csv") + " --out " + (*d_ / "x")).code, 2);
}

TEST_F(Plots, AccuracyVsRatioAndTrainingCurves) {
  for (const char* l : {"0", "1"}) {
    auto r = test::run_cli(
        "train --model smallcnn --train-limit 512 --test-limit 200 --batch 64 --threads 1 -q "
        "--epochs 1 --ratio-samples 32 --lambda " +
        std::string(l) + " --out " + (*d_ / ("run" + std::string(l))));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  auto r = test::run_cli("plot lambda " + (*d_ / "run0") + " " + (*d_ / "run1") + " --out " + (*d_ / "lam"));
  ASSERT_EQ(r.code, 0) << r.err;
  expect_figure(*d_ / "lam", {"standard training", "EAT, σ = 0.0001", "λ=1", "test accuracy (%)"});
  EXPECT_EQ(test::run_cli("plot lambda " + (*d_ / "st") + " --out " + (*d_ / "x")).code, 2);
}

TEST_F(Plots, MissingColumnsAndFilesExit2) {
  test::write_file(*d_ / "bad.csv", "a,b\n1,2\n");
  auto r = test::run_cli("plot pareto " + (*d_ / "bad.csv") + " --out " + (*d_ / "x"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no column 'cycles'"), std::string::npos) << r.err;
  EXPECT_EQ(test::run_cli("plot firing " + (*d_ / "nothere.csv") + " --out " + (*d_ / "x")).code, 2);
}

}  // namespace
}  // namespace eatsim
