// tools/torch2trace.py: traces of kuangliu ResNet18 / VGG16-BN at reduced widths are valid v1 traces
// whose tensors follow the graph (functional ReLU and add found, in-place ReLU not leaking into the
// stored BN output), and bad input is refused with exit code 2 and no partial trace.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "sim/estimator/estimator.hpp"
#include "tests/helpers.hpp"
#include "traces/trace.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

std::string tool() { return test::python() + " " + test::source_dir() + "/tools/torch2trace.py"; }

int sh(const std::string& cmd) {
  int st = std::system(("EATSIM=" + std::string(EATSIM_BIN) + " " + cmd).c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// Writes a random-weight case for ARCH at width W into d and returns the torch2trace arguments.
std::string make_case(const test::TempDir& d, const std::string& arch, const std::string& width, int cin,
                      int size) {
  EXPECT_TRUE(test::python_has("torch")) << test::python() << " lacks torch (this test does not skip)";
  EXPECT_EQ(sh(test::python() + " " + test::source_dir() + "/tests/sim/estimator/make_torch_case.py " + arch +
               " " + width + " " + std::to_string(cin) + " " + std::to_string(size) + " 3 " + d.path()),
            0);
  return " --arch " + arch + " --width " + width + " --in-channels " + std::to_string(cin) +
         " --state-dict " + (d / "model.pt") + " --inputs " + (d / "inputs.npy");
}

TEST(Torch2Trace, ResNet18AtQuarterWidthFollowsTheGraph) {
  test::TempDir d("t2t-resnet");
  std::string args = make_case(d, "resnet18", "0.25", 1, 16);
  ASSERT_EQ(sh(tool() + args + " --out " + (d / "t") + " >/dev/null"), 0);
  TraceReader r(d / "t");  // validates every tensor against the graph
  EXPECT_EQ(r.graph().name, "resnet18");
  EXPECT_EQ(r.graph().nodes[r.graph().find("conv1")].out_shape, (Shape{16, 16, 16}));
  EXPECT_EQ(r.manifest().producer, "torch2trace.py");
  EXPECT_EQ(r.manifest().predictions.size(), 3u);
  // Functional nodes were found in the fx trace: relu = max(bn, 0), add = bn2 + shortcut exactly.
  auto bn = r.load("layer1.0.bn1"), relu = r.load("layer1.0.relu1");
  ASSERT_EQ(bn.size(), relu.size());
  for (size_t i = 0; i < bn.size(); ++i) ASSERT_EQ(relu[i], std::max(bn[i], 0.0f)) << i;
  auto bn2 = r.load("layer2.0.bn2"), sc = r.load("layer2.0.shortcut.1"), add = r.load("layer2.0.add");
  for (size_t i = 0; i < add.size(); ++i) ASSERT_EQ(add[i], bn2[i] + sc[i]) << i;
  EXPECT_TRUE(std::any_of(bn2.begin(), bn2.end(), [](float x) { return x < 0; }));  // stored before `out +=`
  auto x = r.load("layer1.0.shortcut"), in = r.load("relu1");
  EXPECT_EQ(x, in);  // the empty Sequential shortcut is the identity
  // A graph derived from the model's torch.fx trace (functional nodes named by fx) gives the same
  // trace content and the same estimates in both conventions.
  ASSERT_EQ(sh(tool() + args + " --graph-from-fx --out " + (d / "fx") + " >/dev/null"), 0);
  TraceReader f(d / "fx");
  EXPECT_EQ(f.graph().nodes.size(), r.graph().nodes.size());
  EXPECT_EQ(f.load("layer2.0.bn2"), bn2);
  for (auto conv : {sponge::Convention::reference, sponge::Convention::graph}) {
    sponge::Estimate a = sponge::estimate(sponge::census_from_trace(r, 32), conv, 0, 3);
    sponge::Estimate b = sponge::estimate(sponge::census_from_trace(f, 32), conv, 0, 3);
    EXPECT_EQ(a.layers.size(), b.layers.size());
    EXPECT_EQ(a.totals.in_nnz, b.totals.in_nnz);
    EXPECT_EQ(a.totals.param_total, b.totals.param_total);
    EXPECT_EQ(a.totals.ops, b.totals.ops);
    EXPECT_EQ(a.ratio, b.ratio);
  }
  // The numpy-only reader example of traces/FORMAT.md reads the manifest torch2trace wrote.
  std::string md = test::read_file(test::source_dir() + "/traces/FORMAT.md");
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(md, m, std::regex("<!-- python-reader-begin -->\\n```python\\n([\\s\\S]*?)```")));
  test::write_file(d / "read_trace.py", m[1]);
  ASSERT_EQ(sh(test::python() + " " + (d / "read_trace.py") + " " + (d / "t") + " > " + (d / "out.txt")), 0);
  std::string out = test::read_file(d / "out.txt");
  EXPECT_NE(out.find("3 samples, input (3, 1, 16, 16)"), std::string::npos) << out;
  EXPECT_NE(out.find("layer4.1.relu2"), std::string::npos) << out;
}

TEST(Torch2Trace, Vgg16AtEighthWidthKeepsBatchNormOutputBeforeTheInPlaceReLU) {
  test::TempDir d("t2t-vgg");
  std::string args = make_case(d, "vgg16", "0.125", 3, 32);
  ASSERT_EQ(sh(tool() + args + " --dtype float16 --out " + (d / "t") + " >/dev/null"), 0);
  TraceReader r(d / "t");
  EXPECT_EQ(r.manifest().find("features.1")->dtype, DType::f16);
  auto bn = r.load("features.1"), relu = r.load("features.2");
  EXPECT_TRUE(std::any_of(bn.begin(), bn.end(), [](float v) { return v < 0; }));
  for (size_t i = 0; i < bn.size(); ++i) ASSERT_EQ(relu[i], std::max(bn[i], 0.0f)) << i;
}

TEST(Torch2Trace, ModelOutsideModelsGetsItsGraphFromFxOrAClearRefusal) {
  test::TempDir d("t2t-custom");
  std::string net = test::source_dir() + "/tests/sim/estimator/custom_net.py";
  ASSERT_EQ(sh(test::python() + " " + net + " " + d.path()), 0);
  ASSERT_EQ(sh(tool() + " --model-py " + net + ":make --state-dict " + (d / "net.pt") + " --inputs " +
               (d / "x.npy") + " --out " + (d / "t") + " >/dev/null"),
            0);
  TraceReader r(d / "t");
  std::vector<std::string> names;
  for (const auto& n : r.graph().nodes)
    names.push_back(n.name + ":" + op_name(n.op) + (n.module ? "" : "(f)"));
  EXPECT_EQ(names, (std::vector<std::string>{"c1:conv2d", "b1:batchnorm2d", "relu:relu(f)", "p:maxpool2d",
                                             "c2:conv2d", "relu_1:relu(f)", "gap:global_avgpool",
                                             "flatten:flatten(f)", "drop:dropout", "fc:linear"}));
  EXPECT_EQ(r.graph().nodes.back().out_shape, (Shape{3}));
  // Every operation the graph format lacks is listed with its node name, in one message.
  EXPECT_EQ(sh(tool() + " --model-py " + net + ":make_bad --state-dict " + (d / "empty.pt") + " --inputs " +
               (d / "x.npy") + " --out " + (d / "c") + " 2>" + (d / "err.txt")),
            2);
  std::string err = test::read_file(d / "err.txt");
  EXPECT_NE(
      err.find(
          "3 operation(s) have no eatsim graph op: 'tanh' (tanh), 'transpose' (transpose), 'cat_1' (cat)"),
      std::string::npos)
      << err;
  EXPECT_FALSE(fs::exists(d / "c"));
}

TEST(Torch2Trace, RefusesExistingOutputMismatchedWeightsAndWrongGraph) {
  test::TempDir d("t2t-bad");
  std::string args = make_case(d, "resnet18", "0.125", 1, 16);
  fs::create_directory(d / "exists");
  test::write_file(d / "exists/keep", "x");
  EXPECT_EQ(sh(tool() + args + " --out " + (d / "exists") + " 2>/dev/null"), 2);
  EXPECT_TRUE(fs::exists(d / "exists/keep"));
  ASSERT_EQ(sh(tool() + args + " --out " + (d / "exists") + " --force >/dev/null"), 0);
  EXPECT_TRUE(fs::exists(d / "exists/trace.yaml"));
  EXPECT_FALSE(fs::exists(d / "exists/keep"));
  // Inputs with the wrong channel count: the forward pass fails with a clear error, not a traceback.
  std::vector<float> x3(2 * 3 * 16 * 16, 0.5f);
  npy_save_f32(d / "x3.npy", {2, 3, 16, 16}, x3.data());
  std::string three = args;
  three.replace(three.find("--inputs"), std::string::npos, "--inputs " + (d / "x3.npy"));
  EXPECT_EQ(sh(tool() + three + " --out " + (d / "w") + " 2>" + (d / "err.txt")), 2);
  EXPECT_NE(test::read_file(d / "err.txt").find("error: the forward pass failed"), std::string::npos)
      << test::read_file(d / "err.txt");
  // Weights of another width.
  std::string wrong = args;
  wrong.replace(wrong.find("--width 0.125"), 13, "--width 0.25");
  EXPECT_EQ(sh(tool() + wrong + " --out " + (d / "w") + " 2>/dev/null"), 2);
  // A graph the model does not match (VGG's graph for a ResNet).
  test::write_file(d / "vgg.yaml", "");
  ASSERT_EQ(sh(std::string(EATSIM_BIN) +
               " model show vgg16 --width 0.125 --in-channels 1 --input-size 32 --yaml >" + (d / "vgg.yaml")),
            0);
  EXPECT_EQ(sh(tool() + args + " --graph " + (d / "vgg.yaml") + " --out " + (d / "g") + " 2>/dev/null"), 2);
  EXPECT_FALSE(fs::exists(d / "w"));
  EXPECT_FALSE(fs::exists(d / "g"));
  for (const auto& e : fs::directory_iterator(d.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();  // no staging left
}

}  // namespace
}  // namespace eatsim
