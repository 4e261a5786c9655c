// eatsim trace export: the trace holds exactly what the network computes, quantised storage stays
// within half a step, and bad requests are refused without leaving anything behind.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "tests/helpers.hpp"
#include "traces/trace.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

class Export : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("export");
    auto r = test::run_cli(
        "train --model smallcnn --train-limit 512 --test-limit 100 --batch 64 --threads 1 -q "
        "--epochs 1 --lambda 0.5 --out " +
        (*dir_ / "run"));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
};
test::TempDir* Export::dir_ = nullptr;

TEST_F(Export, TraceHoldsTheNetworksTensors) {
  auto r = test::run_cli("trace export " + (*dir_ / "run") + " --samples 5 --first 3 --out " + (*dir_ / "t"));
  ASSERT_EQ(r.code, 0) << r.err;
  TraceReader tr(*dir_ / "t");
  const Manifest& m = tr.manifest();
  EXPECT_EQ(m.num_samples(), 5);
  EXPECT_EQ(m.sample_ids.front(), 3);
  EXPECT_EQ(m.meta.dataset, "fashion-mnist");
  EXPECT_DOUBLE_EQ(m.meta.lambda, 0.5);
  EXPECT_GE(m.meta.accuracy, 0.0);
  // Rerun the network on the trace's own input: every edge must match what was stored.
  Net net(m.graph);
  load_checkpoint(*dir_ / "run/checkpoint", net);
  auto input = tr.load("input");
  auto edges = net.infer_edges(input.data(), 5);
  for (size_t i = 0; i < m.graph.nodes.size(); ++i) {
    auto stored = tr.load(m.graph.nodes[i].name);
    ASSERT_EQ(stored.size(), edges[i + 1].data.size());
    for (size_t k = 0; k < stored.size(); ++k)
      ASSERT_EQ(stored[k], edges[i + 1].data[k]) << m.graph.nodes[i].name;
  }
  // Weights with BN unfolded, as in the checkpoint.
  EXPECT_EQ(tr.load("bn1.running_var"), net.get("bn1.running_var").data);
  // Predictions are the argmax of the output.
  auto out = tr.load(m.graph.nodes[m.graph.output].name);
  for (int s = 0; s < 5; ++s)
    EXPECT_EQ(m.predictions[s],
              std::max_element(out.begin() + 10 * s, out.begin() + 10 * s + 10) - (out.begin() + 10 * s));
}

TEST_F(Export, Int8StorageIsWithinHalfAStep) {
  ASSERT_EQ(test::run_cli("trace export " + (*dir_ / "run") + " --samples 4 --out " + (*dir_ / "f")).code, 0);
  ASSERT_EQ(
      test::run_cli("trace export " + (*dir_ / "run") + " --samples 4 --dtype int8 --out " + (*dir_ / "q"))
          .code,
      0);
  TraceReader f(*dir_ / "f"), q(*dir_ / "q");
  for (const char* name : {"conv1", "relu1", "conv2.weight"}) {
    auto a = f.load(name), b = q.load(name);
    double scale = q.manifest().find(name)->scale;
    ASSERT_GT(scale, 0);
    for (size_t k = 0; k < a.size(); ++k) ASSERT_LE(std::fabs(a[k] - b[k]), scale / 2 + 1e-6) << name;
  }
  EXPECT_EQ(q.manifest().find("relu1")->dtype, DType::u8);
}

TEST_F(Export, BadRequestsExit2AndLeaveNothing) {
  auto r = test::run_cli("trace export " + (*dir_ / "run") + " --samples 20000 --out " + (*dir_ / "x"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("has only 10000 samples"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(*dir_ / "x"));
  ASSERT_EQ(test::run_cli("trace export " + (*dir_ / "run") + " --samples 1 --out " + (*dir_ / "y")).code, 0);
  auto again = test::run_cli("trace export " + (*dir_ / "run") + " --samples 1 --out " + (*dir_ / "y"));
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find("--force"), std::string::npos);
  EXPECT_EQ(
      test::run_cli("trace export " + (*dir_ / "run") + " --samples 2 --force --out " + (*dir_ / "y")).code,
      0);
  EXPECT_EQ(TraceReader(*dir_ / "y").manifest().num_samples(), 2);
  EXPECT_EQ(test::run_cli("trace export " + (*dir_ / "nothing") + " --out " + (*dir_ / "z")).code, 2);
  // A checkpoint whose tensor does not fit the graph: named in the message.
  fs::copy(*dir_ / "run", *dir_ / "bad", fs::copy_options::recursive);
  fs::remove(*dir_ / "bad/checkpoint/conv2.weight.npy");
  auto bad = test::run_cli("trace export " + (*dir_ / "bad") + " --out " + (*dir_ / "z"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("conv2.weight"), std::string::npos) << bad.err;
  for (auto& e : fs::directory_iterator(dir_->path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos)
        << "staging left behind: " << e.path();
}

}  // namespace
}  // namespace eatsim
