// eatsim check: passes on identical reports, catches an altered energy entry (exit 1), honours
// tolerance files, refuses comparisons across networks, hardware, traces and formats (exit 2),
// and --update rewrites the golden saying what changed.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "sim/regression.hpp"
#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

class Check : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    d_ = new test::TempDir("check");
    ASSERT_EQ(
        test::run_cli("trace synth resnet8 --width 0.25 --samples 2 --density 0.3 --out " + (*d_ / "t")).code,
        0);
    ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 2 --out " + (*d_ / "small")).code, 0);
    sim("golden", "");
  }
  static void TearDownTestSuite() { delete d_; }
  static void sim(const std::string& name, const std::string& extra, const std::string& trace = "t") {
    auto r =
        test::run_cli("sim --hw tpu_ws32 --trace " + (*d_ / trace) + " --out " + (*d_ / name) + " " + extra);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static test::CliResult check(const std::string& report, const std::string& extra = "") {
    return test::run_cli("check " + (*d_ / (report + ".json")) + " " + (*d_ / "golden.json") + " " + extra);
  }
  static test::TempDir* d_;
};
test::TempDir* Check::d_ = nullptr;

TEST_F(Check, IdenticalReportPasses) {
  sim("same", "");
  auto r = check("same");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("0 moved"), std::string::npos);
}

TEST_F(Check, AlteredEnergyEntryIsARegression) {
  sim("mac", "--set energy.per_datatype.int8.mac.pj=0.31");
  auto r = check("mac");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(total\s+energy_mac_pj .* REGRESSION)"))) << r.out;
  // Counters did not move: only energy-derived metrics are listed.
  EXPECT_EQ(r.out.find("mac_effective"), std::string::npos);
  // A tolerance file that allows it.
  test::write_file(*d_ / "loose.yaml", "floats: {rel: 0.05}\nmetrics:\n  energy_mac_pj: {rel: 0.04}\n");
  auto ok = check("mac", "--tolerance " + (*d_ / "loose.yaml"));
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("within tolerance"), std::string::npos);
  test::write_file(*d_ / "tight.yaml", "floats: {rel: 0.05}\nmetrics:\n  energy_mac_pj: {rel: 0.01}\n");
  EXPECT_EQ(check("mac", "--tolerance " + (*d_ / "tight.yaml")).code, 1);
}

TEST_F(Check, BadToleranceFilesExit2) {
  test::write_file(*d_ / "unknown.yaml", "metrics:\n  energy_unicorn_pj: {rel: 0.1}\n");
  auto r = check("golden", "--tolerance " + (*d_ / "unknown.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown.yaml:2:3: metrics.energy_unicorn_pj: unknown metric"), std::string::npos)
      << r.err;
  test::write_file(*d_ / "neg.yaml", "counters: {rel: -1}\n");
  EXPECT_EQ(check("golden", "--tolerance " + (*d_ / "neg.yaml")).code, 2);
}

TEST(Tolerances, APerMetricEntryKeepsItsClassForFieldsItDoesNotName) {
  test::TempDir d("tol");
  test::write_file(d / "t.yaml",
                   "counters: {rel: 0, abs: 2}\nfloats: {rel: 1e-6, abs: 5}\nmetrics:\n"
                   "  energy_dram_pj: {rel: 0.01}\n  cycles_stall: {rel: 0.5}\n");
  sim::Tolerances t = sim::load_tolerances(d / "t.yaml", {"energy_dram_pj", "cycles_stall"});
  sim::Tolerance e = t.of("energy_dram_pj", true), c = t.of("cycles_stall", false);
  EXPECT_EQ(e.rel, 0.01);
  EXPECT_EQ(e.abs, 5);  // from floats, not from counters
  EXPECT_EQ(c.rel, 0.5);
  EXPECT_EQ(c.abs, 2);
  EXPECT_EQ(t.of("energy_pj", true).rel, 1e-6);
}

TEST_F(Check, ComparisonsAcrossThingsAreRefused) {
  sim("othernet", "", "small");
  auto net = check("othernet");
  EXPECT_EQ(net.code, 2);
  EXPECT_NE(net.err.find("network"), std::string::npos) << net.err;
  sim("otherhw", "--set array.rows=16");
  auto hw = check("otherhw");
  EXPECT_EQ(hw.code, 2);
  EXPECT_NE(hw.err.find("hwconfig hash"), std::string::npos) << hw.err;
  ASSERT_EQ(test::run_cli("trace synth resnet8 --width 0.25 --samples 2 --density 0.3 --seed 9 --out " +
                          (*d_ / "t9"))
                .code,
            0);
  sim("othertrace", "", "t9");
  auto tr = check("othertrace");
  EXPECT_EQ(tr.code, 2);
  EXPECT_NE(tr.err.find("trace hash"), std::string::npos) << tr.err;
  std::string g = test::read_file(*d_ / "golden.json");
  test::write_file(*d_ / "future.json",
                   std::regex_replace(g, std::regex("\"report_format\": 1"), "\"report_format\": 2"));
  auto fmt = check("future");
  EXPECT_EQ(fmt.code, 2);
  EXPECT_NE(fmt.err.find("report format"), std::string::npos) << fmt.err;
  test::write_file(*d_ / "cut.json", g.substr(0, g.size() / 2));
  auto cut = check("cut");
  EXPECT_EQ(cut.code, 2);
  EXPECT_NE(cut.err.find("cut.json"), std::string::npos) << cut.err;
  EXPECT_EQ(std::count(cut.err.begin(), cut.err.end(), '\n'), 1) << cut.err;
}

TEST_F(Check, UpdateRewritesTheGoldenAndSaysWhatChanged) {
  fs::copy_file(*d_ / "golden.json", *d_ / "g2.json");
  sim("mac2", "--set energy.per_datatype.int8.mac.pj=0.5");
  auto u = test::run_cli("check " + (*d_ / "mac2.json") + " " + (*d_ / "g2.json") + " --update");
  EXPECT_EQ(u.code, 0) << u.err;
  EXPECT_NE(u.out.find("energy_mac_pj"), std::string::npos) << u.out;
  EXPECT_EQ(test::read_file(*d_ / "g2.json"), test::read_file(*d_ / "mac2.json"));
  EXPECT_EQ(test::run_cli("check " + (*d_ / "mac2.json") + " " + (*d_ / "g2.json")).code, 0);
}

}  // namespace
}  // namespace eatsim
