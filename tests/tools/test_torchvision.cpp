// torchvision's architectures through torch2trace, the estimator and the simulator at 224×224 with
// random weights (tests/tools/torchvision_coverage.py: parameter and MAC counts against an
// independent count from the PyTorch module, `eatsim energy`, `eatsim sim` on every preset); a
// module called more than once becomes one node per call; a model torch.fx cannot trace is refused
// naming what and where.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {

int sh(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(Torchvision, TenArchitecturesRunThroughEnergyAndEveryPresetWithPyTorchsCounts) {
  ASSERT_TRUE(test::python_has("torchvision"))
      << test::python() << " lacks torchvision: install Debian's python3-torchvision";
  test::TempDir d("torchvision");
  std::string out = d / "log.txt";
  int code = sh(test::python() + " " + test::source_dir() + "/tests/tools/torchvision_coverage.py --eatsim " +
                std::string(EATSIM_BIN) + " --out " + d.path() + " > " + out + " 2>&1");
  std::string log = test::read_file(out);
  EXPECT_EQ(code, 0) << log;
  EXPECT_EQ(log.find("FAIL"), std::string::npos) << log;
  for (const char* m :
       {"resnet50:", "mobilenet_v2:", "mobilenet_v3_small:", "efficientnet_b0:", "mnasnet0_5:",
        "squeezenet1_1:", "densenet121:", "regnet_x_400mf:", "googlenet:", "vgg11_bn:"})
    EXPECT_NE(log.find(m), std::string::npos) << m << "\n" << log;
  // torchvision's Bottleneck calls one ReLU module three times: three nodes, the module path first.
  std::string graph = test::read_file(d / "resnet50.graph.yaml");
  for (const char* n :
       {"{name: layer1.0.relu,", "{name: layer1.0.relu.call2,", "{name: layer1.0.relu.call3,"})
    EXPECT_NE(graph.find(n), std::string::npos) << n;
}

TEST(Torchvision, AModelTorchFxCannotTraceIsRefusedNamingWhereAndLeavesNothing) {
  ASSERT_TRUE(test::python_has("torchvision"));
  test::TempDir d("shufflenet");
  std::string err = d / "err.txt";
  EXPECT_EQ(
      sh("EATSIM=" + std::string(EATSIM_BIN) + " " + test::python() + " " + test::source_dir() +
         "/tools/torch2trace.py --torchvision shufflenet_v2_x0_5 --random-inputs 1 --input-size 64 --out " +
         (d / "t") + " 2> " + err),
      2);
  std::string msg = test::read_file(err);
  EXPECT_NE(msg.find("torch.fx cannot trace the model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shufflenetv2.py"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(channel_shuffle)"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(d / "t"));
}

}  // namespace
}  // namespace eatsim
