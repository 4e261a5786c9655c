// eatsim demo, reduced (--quick): every stage runs end to end, writes its outputs, and a rerun
// reuses the finished stages.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

TEST(Demo, QuickDemoRunsEveryStageAndRerunReuses) {
  test::TempDir d("demo");
  auto r = test::run_cli("demo --quick --threads 1 --out " + (d / "demo"));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* s :
       {"Headline", "test accuracy", "ReLU firing", "sponge ratio", "simulated energy per sample",
        "energy ratio (sparsity features on / off)", "speed-up", "layer1.0.conv1"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  for (const char* f :
       {"runs/standard/metrics.csv", "runs/eat/checkpoint/checkpoint.yaml", "traces/standard/trace.yaml",
        "traces/eat/trace.yaml", "energy-eat.json", "firing.csv", "plots/firing.png", "plots/firing.svg",
        "plots/energy.svg", "plots/training.png", "plots/accuracy-vs-ratio.svg", "headline.txt"})
    EXPECT_TRUE(fs::exists(d / ("demo/" + std::string(f)))) << f;
  EXPECT_EQ(test::read_file(d / "demo/headline.txt"), r.out.substr(r.out.find("\nPer layer")));
  auto again = test::run_cli("demo --quick --threads 1 --out " + (d / "demo"));
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("reused; test accuracy"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("standard reused, eat reused"), std::string::npos) << again.err;
  // The rerun keeps the first run's headline (its wall time) and says so.
  EXPECT_EQ(test::read_file(d / "demo/headline.txt"), r.out.substr(r.out.find("\nPer layer")));
  EXPECT_NE(again.out.find("keeps the run that computed these figures (wall time"), std::string::npos)
      << again.out;
  // One colour per energy component, and the plotted ratio is the headline's (traced samples).
  std::string gp = test::read_file(d / "demo/plots/energy.gp");
  std::set<std::string> colours;
  size_t components = 0;
  for (size_t p = gp.find("$e0 using"); p != std::string::npos && p < gp.find("$e1 using");
       p = gp.find("$e0 using", p + 1), ++components)
    colours.insert(gp.substr(gp.find("lc rgb '", p) + 8, 7));
  EXPECT_GE(components, 13u) << gp;
  EXPECT_EQ(colours.size(), components) << gp;
  EXPECT_NE(
      test::read_file(d / "demo/plots/accuracy-vs-ratio.gp").find("traced test samples, as in the headline"),
      std::string::npos);
}

}  // namespace
}  // namespace eatsim
