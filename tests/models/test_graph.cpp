// Model graphs: the reference architectures' sizes and keys, and every bad-input case.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <regex>

#include "base/errors.hpp"
#include "models/graph.hpp"
#include "tests/helpers.hpp"

namespace eatsim {
namespace {

// keys_<arch>.json is [[key, [shape...], dtype], ...]; a tiny reader for that exact shape.
std::vector<std::pair<std::string, Shape>> read_keys(const std::string& path) {
  std::string s = test::read_file(path);
  std::vector<std::pair<std::string, Shape>> out;
  std::regex item(R"re(\["([^"]+)",\s*\[([0-9,\s]*)\],\s*"(\w+)"\])re");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), item); it != std::sregex_iterator(); ++it) {
    Shape shape;
    std::string dims = (*it)[2];
    std::regex num("[0-9]+");
    for (auto j = std::sregex_iterator(dims.begin(), dims.end(), num); j != std::sregex_iterator(); ++j)
      shape.push_back(std::stoll(j->str()));
    out.emplace_back((*it)[1], shape);
  }
  return out;
}

TEST(ModelGraph, ResNet18MatchesPyTorchCountsAndKeys) {
  Graph g = load_graph("resnet18");
  EXPECT_EQ(g.trainable_count(), 11173962);
  EXPECT_EQ(g.total_macs(), 555422720);
  auto keys = read_keys(test::source_dir() + "/tests/fixtures/sponge/keys_resnet18.json");
  auto params = g.parameters();
  ASSERT_EQ(keys.size(), 122u);
  ASSERT_EQ(params.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(params[i].key, keys[i].first) << "at " << i;
    EXPECT_EQ(params[i].shape, keys[i].second) << keys[i].first;
  }
  EXPECT_EQ(g.nodes[g.output].out_shape, Shape({10}));
}

TEST(ModelGraph, Vgg16MatchesPyTorchCountsAndKeys) {
  Graph g = load_graph("vgg16");
  EXPECT_EQ(g.trainable_count(), 14728266);
  EXPECT_EQ(g.total_macs(), 313201664);
  auto keys = read_keys(test::source_dir() + "/tests/fixtures/sponge/keys_vgg16.json");
  auto params = g.parameters();
  ASSERT_EQ(keys.size(), 93u);
  ASSERT_EQ(params.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(params[i].key, keys[i].first) << "at " << i;
    EXPECT_EQ(params[i].shape, keys[i].second) << keys[i].first;
  }
}

TEST(ModelGraph, ModuleNodesAreTheReferenceEstimatorsLeaves) {
  // The original estimator hooks 46 leaves in each reference net (REFERENCES.md).
  for (const char* name : {"resnet18", "vgg16"}) {
    Graph g = load_graph(name);
    int modules = 0;
    for (const auto& n : g.nodes) modules += n.module;
    EXPECT_EQ(modules, 46) << name;
  }
}

TEST(ModelGraph, WidthAndInputOverridesScaleShapes) {
  ParamOverrides o;
  o.has_width = o.has_in_channels = o.has_input_size = true;
  o.p.width = 0.25, o.p.in_channels = 1, o.p.input_h = o.p.input_w = 28;
  Graph g = load_graph("resnet18", o);
  EXPECT_EQ(g.nodes[g.find("conv1")].out_shape, Shape({16, 28, 28}));
  EXPECT_EQ(g.nodes[g.find("layer4.1.relu2")].out_shape, Shape({128, 4, 4}));
  EXPECT_EQ(g.nodes[g.find("linear")].out_shape, Shape({10}));
  // Channel counts round to nearest and never drop below one.
  o.p.width = 0.001;
  Graph tiny = load_graph("resnet18", o);
  EXPECT_EQ(tiny.nodes[tiny.find("conv1")].out_shape[0], 1);
}

TEST(ModelGraph, ResolvedYamlRoundTrips) {
  for (const auto& name : embedded_model_names()) {
    ParamOverrides o;
    o.has_width = true, o.p.width = 0.5;
    Graph a = load_graph(name, o);
    Graph b = parse_graph(graph_to_yaml(a), "roundtrip.yaml");
    ASSERT_EQ(a.nodes.size(), b.nodes.size()) << name;
    EXPECT_EQ(a.trainable_count(), b.trainable_count()) << name;
    EXPECT_EQ(a.total_macs(), b.total_macs()) << name;
    for (size_t i = 0; i < a.nodes.size(); ++i) {
      EXPECT_EQ(a.nodes[i].out_shape, b.nodes[i].out_shape) << name << " " << a.nodes[i].name;
      EXPECT_EQ(a.nodes[i].module, b.nodes[i].module);
      EXPECT_EQ(a.nodes[i].inplace, b.nodes[i].inplace);
    }
  }
}

TEST(ModelGraph, ExecutionOrderFollowsDependenciesNotFileOrder) {
  const char* yaml = R"(name: t
params: {in_channels: 1, input_size: 4}
nodes:
  - {name: b, op: relu, inputs: [a]}
  - {name: a, op: relu, inputs: [input]}
)";
  Graph g = parse_graph(yaml, "t.yaml");
  ASSERT_EQ(g.order.size(), 2u);
  EXPECT_EQ(g.nodes[g.order[0]].name, "a");
  EXPECT_EQ(g.nodes[g.output].name, "b");
}

// PyTorch's ceil_mode sizes (checked against torch.nn.MaxPool2d): rounded up, less one where the last
// window would start past the input and its left padding; the attribute survives the round trip.
TEST(ModelGraph, MaxPoolCeilModeFollowsPyTorch) {
  struct Case {
    int h, k, s, p;
    int64_t floor_out, ceil_out;
  };
  for (Case c : {Case{7, 2, 2, 0, 3, 4}, Case{3, 2, 2, 1, 2, 2}, Case{8, 3, 3, 1, 3, 3},
                 Case{5, 3, 2, 1, 3, 3}, Case{6, 2, 2, 1, 4, 4}, Case{10, 3, 2, 0, 4, 5}}) {
    for (bool ceil : {false, true}) {
      std::string yaml = fmt::format(
          "name: t\nparams: {{in_channels: 2, input_size: {}}}\nnodes:\n  - {{name: p, op: maxpool2d, "
          "inputs: [input], kernel: {}, stride: {}, pad: {}{}}}\n",
          c.h, c.k, c.s, c.p, ceil ? ", ceil_mode: true" : "");
      Graph g = parse_graph(yaml, "t.yaml");
      int64_t want = ceil ? c.ceil_out : c.floor_out;
      EXPECT_EQ(g.nodes[0].out_shape, (Shape{2, want, want})) << yaml;
      Graph back = parse_graph(graph_to_yaml(g), "back.yaml");
      EXPECT_EQ(back.nodes[0].ceil_mode, ceil);
      EXPECT_EQ(back.nodes[0].out_shape, g.nodes[0].out_shape);
    }
  }
  // Only max pooling has it (an average's divisor would differ at the clipped edge).
  EXPECT_THROW(parse_graph("name: t\nparams: {in_channels: 1, input_size: 7}\nnodes:\n  - {name: p, op: "
                           "avgpool2d, inputs: [input], kernel: 2, ceil_mode: true}\n",
                           "t.yaml"),
               ModelError);
}

// Each bad model gives exit code 2 and one clear line naming the file and line.
struct BadModel {
  const char* what;
  const char* yaml;
  const char* expect;  // a regex the message must match
};
// Test names in listings (and so in ctest) show the case, not the object's bytes.
void PrintTo(const BadModel& c, std::ostream* os) { *os << c.what; }

class BadModelTest : public ::testing::TestWithParam<BadModel> {};

TEST_P(BadModelTest, RejectedWithLineAndExit2) {
  const BadModel& c = GetParam();
  try {
    parse_graph(c.yaml, "bad.yaml");
    FAIL() << c.what << ": accepted";
  } catch (const ModelError& e) {
    EXPECT_TRUE(std::regex_search(e.what(), std::regex(c.expect))) << c.what << ": " << e.what();
  }
  test::TempDir dir("badmodel");
  test::write_file(dir / "bad.yaml", c.yaml);
  auto r = test::run_cli("model show " + (dir / "bad.yaml"));
  EXPECT_EQ(r.code, 2) << c.what << r.err;
  EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

const char* kHead = "name: t\nparams: {in_channels: 3, input_size: 8}\nnodes:\n";
std::string with_head(const char* body) { return std::string(kHead) + body; }
static const std::string kCycle = with_head(
    "  - {name: a, op: relu, inputs: [c]}\n  - {name: b, op: relu, inputs: [a]}\n  - {name: c, op: relu, "
    "inputs: [b]}\n");
static const std::string kUnknownOp = with_head("  - {name: a, op: softmax, inputs: [input]}\n");
static const std::string kMissingInput = with_head("  - {name: a, op: relu, inputs: [nothere]}\n");
static const std::string kAddMismatch = with_head(
    "  - {name: a, op: conv2d, inputs: [input], out_channels: 4, kernel: 3, pad: 1}\n"
    "  - {name: b, op: conv2d, inputs: [input], out_channels: 4, kernel: 3, stride: 2, pad: 1}\n"
    "  - {name: s, op: add, inputs: [a, b]}\n");
static const std::string kNegativeWidth =
    "name: t\nparams: {width: -0.5, in_channels: 3, input_size: 8}\nnodes:\n  - {name: a, op: relu, inputs: "
    "[input]}\n";
static const std::string kUnknownKey = with_head("  - {name: a, op: relu, inputs: [input], colour: red}\n");
static const std::string kSyntax = with_head("  - {name: a, op: relu, inputs: [input]\n  - oops: [\n");
static const std::string kWrongType =
    with_head("  - {name: a, op: conv2d, inputs: [input], out_channels: 4, kernel: big}\n");
static const std::string kMissingKey = with_head("  - {name: a, op: conv2d, inputs: [input], kernel: 3}\n");
static const std::string kDuplicate =
    with_head("  - {name: a, op: relu, inputs: [input]}\n  - {name: a, op: relu, inputs: [input]}\n");
static const std::string kLinearOnImage =
    with_head("  - {name: a, op: linear, inputs: [input], out_features: 3}\n");
static const std::string kSelfLoop = with_head("  - {name: a, op: relu, inputs: [a]}\n");

INSTANTIATE_TEST_SUITE_P(
    Cases, BadModelTest,
    ::testing::Values(
        BadModel{"cycle", kCycle.c_str(), R"(bad\.yaml:\d+: .*cycle: .* <- )"},
        BadModel{"self loop", kSelfLoop.c_str(), R"(bad\.yaml:4:\d+: .*cycle)"},
        BadModel{"unknown op", kUnknownOp.c_str(), R"(bad\.yaml:4:\d+: .*op: unknown op 'softmax')"},
        BadModel{"missing input", kMissingInput.c_str(), R"(bad\.yaml:4:\d+: .*unknown input 'nothere')"},
        BadModel{"add mismatch", kAddMismatch.c_str(),
                 R"(bad\.yaml:6: .*\[4, 8, 8\] \(a\) and \[4, 4, 4\] \(b\))"},
        BadModel{"negative width", kNegativeWidth.c_str(), R"(bad\.yaml:2:\d+: params.width: -0.5)"},
        BadModel{"unknown key", kUnknownKey.c_str(), R"(bad\.yaml:4:\d+: .*colour: unknown key)"},
        BadModel{"yaml syntax", kSyntax.c_str(), R"(bad\.yaml:\d+:\d+: yaml: )"},
        BadModel{"wrong type", kWrongType.c_str(), R"(bad\.yaml:4:\d+: .*kernel: expected an integer)"},
        BadModel{"missing key", kMissingKey.c_str(), R"(bad\.yaml:4:\d+: .*out_channels: missing)"},
        BadModel{"duplicate name", kDuplicate.c_str(), R"(bad\.yaml:5:\d+: .*duplicate node name 'a')"},
        BadModel{"linear on image", kLinearOnImage.c_str(), R"(bad\.yaml:4: .*flatten)"}),
    [](const ::testing::TestParamInfo<BadModel>& i) {
      std::string s = i.param.what;
      for (auto& ch : s)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

TEST(ModelGraph, SeveralErrorsAreReportedAtOnce) {
  std::string y =
      with_head("  - {name: a, op: relu, inputs: [input], x: 1}\n  - {name: b, op: foo, inputs: [a]}\n");
  try {
    parse_graph(y, "bad.yaml");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_EQ(e.lines().size(), 2u) << e.what();
  }
}

TEST(ModelCli, ShowPrintsShapesAndTotals) {
  auto r = test::run_cli("model show resnet18 --width 0.25 --in-channels 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("layer4.1.conv2"), std::string::npos);
  EXPECT_NE(r.out.find("[128, 4, 4]"), std::string::npos);
  auto k = test::run_cli("model show vgg16 --keys");
  EXPECT_NE(k.out.find("features.1.num_batches_tracked"), std::string::npos);
  auto bad = test::run_cli("model show nosuchnet");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("no such model"), std::string::npos);
  auto badw = test::run_cli("model show resnet18 --width -1");
  EXPECT_EQ(badw.code, 2);
  EXPECT_NE(badw.err.find("width"), std::string::npos);
}

TEST(ModelCli, UnknownCommandAndOptionExit2) {
  EXPECT_EQ(test::run_cli("frobnicate").code, 2);
  auto r = test::run_cli("model show resnet18 --bogus");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--help"), std::string::npos);
  EXPECT_EQ(test::run_cli("--help").code, 0);
}

}  // namespace
}  // namespace eatsim
