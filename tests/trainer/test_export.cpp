// eatsim trace export: the trace holds exactly what the network computes, quantised storage stays
// within half a step, and bad requests are refused without leaving anything behind.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "tests/helpers.hpp"
#include "traces/npy.hpp"
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

TEST_F(Export, UsersOwnInputsAreTracedExactly) {
  // The inputs of an earlier trace, given back as a user's array: the same tensors come out.
  ASSERT_EQ(
      test::run_cli("trace export " + (*dir_ / "run") + " --samples 3 --first 7 --out " + (*dir_ / "ds"))
          .code,
      0);
  TraceReader ds(*dir_ / "ds");
  auto x = ds.load("input");
  npy_save_f32(*dir_ / "x.npy", {3, 1, 28, 28}, x.data());
  std::vector<int64_t> y(ds.manifest().labels.begin(), ds.manifest().labels.end());
  npy_save(*dir_ / "y.npy", DType::i64, {3}, y.data());
  auto r = test::run_cli("trace export " + (*dir_ / "run") + " --inputs " + (*dir_ / "x.npy") + " --labels " +
                         (*dir_ / "y.npy") + " --out " + (*dir_ / "mine"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("3 samples"), std::string::npos) << r.out;
  TraceReader mine(*dir_ / "mine");
  EXPECT_EQ(mine.manifest().labels, ds.manifest().labels);
  EXPECT_EQ(mine.manifest().predictions, ds.manifest().predictions);
  EXPECT_EQ(mine.manifest().meta.dataset.rfind("file:", 0), 0u) << mine.manifest().meta.dataset;
  for (const char* t : {"input", "relu1", "fc"}) EXPECT_EQ(mine.load(t), ds.load(t)) << t;
  // Without labels: unknown (-1); a range of rows with --first/--samples.
  r = test::run_cli("trace export " + (*dir_ / "run") + " --inputs " + (*dir_ / "x.npy") +
                    " --first 1 --samples 2 --out " + (*dir_ / "nolab"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("no labels"), std::string::npos) << r.out;
  TraceReader nolab(*dir_ / "nolab");
  EXPECT_EQ(nolab.manifest().labels, (std::vector<int64_t>{-1, -1}));
  auto all = ds.load("relu1");
  EXPECT_EQ(nolab.load("relu1"), std::vector<float>(all.begin() + all.size() / 3, all.end()));
  // Wrong shapes, dtypes and label counts are refused, naming the file and the fix.
  npy_save_f32(*dir_ / "bad.npy", {3, 28, 28}, x.data());
  auto bad = test::run_cli("trace export " + (*dir_ / "run") + " --inputs " + (*dir_ / "bad.npy") +
                           " --out " + (*dir_ / "z"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("bad.npy: inputs must be float32 N×[1, 28, 28]"), std::string::npos) << bad.err;
  npy_save(*dir_ / "y2.npy", DType::i64, {2}, y.data());
  bad = test::run_cli("trace export " + (*dir_ / "run") + " --inputs " + (*dir_ / "x.npy") + " --labels " +
                      (*dir_ / "y2.npy") + " --out " + (*dir_ / "z"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("y2.npy: labels must be int64 or int32 of shape (3,)"), std::string::npos)
      << bad.err;
  EXPECT_FALSE(fs::exists(*dir_ / "z"));
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
  // A count that would overflow the range check, and a batch that would exhaust memory.
  auto huge = test::run_cli("trace export " + (*dir_ / "run") +
                            " --first 1 --samples 9223372036854775807 --out " + (*dir_ / "z"));
  EXPECT_EQ(huge.code, 2) << huge.err;
  EXPECT_NE(huge.err.find("has only 10000 samples"), std::string::npos) << huge.err;
  EXPECT_EQ(
      test::run_cli("trace export " + (*dir_ / "run") + " --batch 2000000000 --out " + (*dir_ / "z")).code,
      2);
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
