// eatsim energy and eatsim firing from the command line: reports, files, and exit code 2 on bad input.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "sim/estimator/estimator.hpp"
#include "tests/helpers.hpp"
#include "traces/synth.hpp"
#include "traces/trace.hpp"

namespace eatsim {
namespace {

std::string synth(const test::TempDir& d, const std::string& name, const std::string& model,
                  const std::string& density) {
  ParamOverrides o;
  o.has_width = o.has_in_channels = o.has_input_size = true;
  o.p.width = 0.125, o.p.in_channels = 1, o.p.input_h = o.p.input_w = 16;
  SynthOptions so;
  so.samples = 4;
  so.density = density;
  write_synthetic_trace(load_graph(model, o), so, d / name, false, "test");
  return d / name;
}

TEST(EnergyCli, ReportsTheLibrarysRatioAndWritesJsonAndCsv) {
  test::TempDir d("energy-cli");
  std::string t = synth(d, "t", "resnet8", "0.3");
  auto r = test::run_cli("energy " + t + " --reduction per-batch --batch 3 --json " + (d / "r.json") +
                         " --csv " + (d / "r.csv"));
  ASSERT_EQ(r.code, 0) << r.err;
  sponge::Report want = sponge::analyse(sponge::census_from_trace(TraceReader(t), 32),
                                        {sponge::Convention::reference, sponge::Reduction::per_batch, 3});
  EXPECT_NE(r.out.find(fmt::format("ratio (per-batch): {:.6f}", want.ratio)), std::string::npos) << r.out;
  YAML::Node j = YAML::LoadFile(d / "r.json");
  EXPECT_DOUBLE_EQ(j["ratio"].as<double>(), want.ratio);
  EXPECT_EQ(j["chunked"]["n_chunks"].as<int>(), 2);
  EXPECT_EQ(j["whole"]["leaves"].size(), want.whole.layers.size());
  std::string csv = test::read_file(d / "r.csv");
  EXPECT_EQ(csv.rfind("layer,type,op_rule,", 0), 0u);
  EXPECT_NE(csv.find("\nlayer1.0.conv1,Conv2d,conv2d:out.numel*kh*kw*Cin,"), std::string::npos);
  EXPECT_NE(csv.find("\ntotal,"), std::string::npos);
  auto g = test::run_cli("energy " + t + " --convention graph --bits 8");
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_NE(g.out.find("layer1.0.relu1"), std::string::npos);  // functional ReLU counted in `graph`
  EXPECT_EQ(r.out.find("layer1.0.relu1"), std::string::npos);
}

TEST(EnergyCli, TwoTracesGiveTheDecreaseAsInTable1) {
  test::TempDir d("energy-two");
  std::string a = synth(d, "a", "resnet8", "0.5"), b = synth(d, "b", "resnet8", "0.1");
  auto r = test::run_cli("energy " + a + " " + b);
  ASSERT_EQ(r.code, 0) << r.err;
  double ra = sponge::energy_ratio(sponge::census_from_trace(TraceReader(a), 32));
  double rb = sponge::energy_ratio(sponge::census_from_trace(TraceReader(b), 32));
  EXPECT_LT(rb, ra);
  EXPECT_NE(r.out.find(fmt::format("decrease (A - B) / A: {:.2f} %", 100 * (ra - rb) / ra)),
            std::string::npos)
      << r.out;
  EXPECT_EQ(test::run_cli("energy " + a + " " + b + " --csv " + (d / "x.csv")).code, 2);
  EXPECT_EQ(test::run_cli("energy " + a + " " + synth(d, "c", "smallcnn", "0.5")).code, 2);
}

TEST(EnergyCli, BadInputExitsTwoWithOneLine) {
  test::TempDir d("energy-bad");
  std::string t = synth(d, "t", "resnet8", "0.5");
  for (const char* args : {" --convention original", " --reduction mean", " --reduction per-batch",
                           " --batch 2", " --reduction per-batch --batch 0", " --bits 12"}) {
    auto r = test::run_cli("energy " + t + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.err.find("error"), std::string::npos) << args << ": " << r.err;
  }
  std::filesystem::remove(d / "t/act.layer1.0.conv1.npy");
  auto r = test::run_cli("energy " + t);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("act.layer1.0.conv1.npy"), std::string::npos) << r.err;
  EXPECT_EQ(test::run_cli("energy " + (d / "nothing")).code, 2);
}

TEST(FiringCli, ShowsTwoTracesSideBySideAndRefusesDifferentModels) {
  test::TempDir d("firing-cli");
  std::string a = synth(d, "a", "resnet8", "0.5"), b = synth(d, "b", "resnet8", "0.1");
  auto r = test::run_cli("firing " + a + " " + b + " --csv " + (d / "f.csv"));
  ASSERT_EQ(r.code, 0) << r.err;
  std::string csv = test::read_file(d / "f.csv");
  EXPECT_EQ(csv.rfind("kind,layer,op,numel,nnz_a,firing_a,nnz_b,firing_b,b_over_a\n", 0), 0u);
  EXPECT_NE(csv.find("\nlayer,layer1.0.relu1,relu,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find(",batchnorm2d,"), std::string::npos);  // BN left out, as in the paper
  EXPECT_EQ(csv.find(",flatten,"), std::string::npos);
  EXPECT_NE(csv.find("\ntype,,relu,"), std::string::npos);
  EXPECT_NE(csv.find("\ntotal,,,"), std::string::npos);
  // Synthetic ReLU densities 0.5 vs 0.1: the relu row's B/A is near 0.2.
  auto pos = csv.find("\ntype,,relu,");
  std::string line = csv.substr(pos + 1, csv.find('\n', pos + 1) - pos - 1);
  double ratio = std::stod(line.substr(line.rfind(',') + 1));
  EXPECT_NEAR(ratio, 0.2, 0.03) << line;
  std::string other = synth(d, "c", "smallcnn", "0.5");
  EXPECT_EQ(test::run_cli("firing " + a + " " + other).code, 2);
  EXPECT_EQ(test::run_cli("firing " + a + " --convention x").code, 2);
}

}  // namespace
}  // namespace eatsim
