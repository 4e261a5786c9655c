// eatsim train end to end on real Fashion-MNIST (small net, small subset): it learns, it resumes
// bit for bit, it stops cleanly on divergence, and it refuses bad input with exit code 2.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "base/errors.hpp"
#include "tests/helpers.hpp"
#include "traces/npy.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

// One thread: ctest runs two test processes at once on a 2-core machine.
const std::string kSmall = "train --model smallcnn --width 2 --test-limit 1000 --batch 128 --threads 1 -q ";

double last_test_acc(const std::string& csv_path) {
  std::string csv = test::read_file(csv_path);
  std::string last = csv.substr(csv.rfind('\n', csv.size() - 2) + 1);
  // epoch,lr,loss,ce,penalty,train_acc,test_acc,...
  size_t p = 0;
  for (int i = 0; i < 6; ++i) p = last.find(',', p) + 1;
  return std::stod(last.substr(p, last.find(',', p) - p));
}

TEST(Train, SmallNetLearnsFashionMnist) {
  test::TempDir d("train");
  const std::string cfg =
      kSmall + "--train-limit 4096 --epochs 4 --schedule cosine --lr 0.2 --out " + (d / "run");
  auto r = test::run_cli(cfg);
  ASSERT_EQ(r.code, 0) << r.err;
  double acc = last_test_acc(d / "run/metrics.csv");
  EXPECT_GE(acc, 0.60) << "4 epochs of 4096 Fashion-MNIST images reach 67 % (measured); chance is 10 %";
  std::string csv = test::read_file(d / "run/metrics.csv");
  EXPECT_NE(csv.find("epoch,lr,loss,ce,penalty,train_acc,test_acc,test_loss,firing_relu"), std::string::npos);
  EXPECT_NE(csv.find("firing.relu2"), std::string::npos);
  EXPECT_TRUE(fs::exists(d / "run/checkpoint/conv1.weight.npy"));
  // Nothing left to do when all epochs are finished.
  auto again = test::run_cli(cfg + " --resume");
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("nothing to do"), std::string::npos);
}

TEST(Train, EatPenaltyLowersFiring) {
  test::TempDir d("train");
  std::string common =
      kSmall + "--train-limit 4096 --epochs 2 --schedule cosine --lr 0.1 --penalty-layers relu ";
  ASSERT_EQ(test::run_cli(common + "--out " + (d / "st")).code, 0);
  ASSERT_EQ(test::run_cli(common + "--lambda 2 --sigma 1e-4 --out " + (d / "eat")).code, 0);
  auto firing = [](const std::string& p) {
    std::string csv = test::read_file(p);
    std::string last = csv.substr(csv.rfind('\n', csv.size() - 2) + 1);
    size_t q = 0;
    for (int i = 0; i < 8; ++i) q = last.find(',', q) + 1;
    return std::stod(last.substr(q, last.find(',', q) - q));
  };
  EXPECT_LT(firing(d / "eat/metrics.csv"), 0.8 * firing(d / "st/metrics.csv"));
}

TEST(Train, ResumeContinuesBitForBit) {
  test::TempDir d("train");
  std::string cfg = kSmall + "--train-limit 2048 --epochs 2 --lambda 0.5 --out ";
  ASSERT_EQ(test::run_cli(cfg + (d / "whole")).code, 0);
  // Interrupted twice (after 5 steps, then 20 more: across the epoch boundary), then finished.
  ASSERT_EQ(test::run_cli(cfg + (d / "parts") + " --max-steps 5").code, 0);
  EXPECT_FALSE(fs::exists(d / "parts/metrics.csv") &&
               test::read_file(d / "parts/metrics.csv").find("\n1,") != std::string::npos);
  ASSERT_EQ(test::run_cli(cfg + (d / "parts") + " --resume --max-steps 20").code, 0);
  auto r = test::run_cli(cfg + (d / "parts") + " --resume");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f :
       {"conv1.weight.npy", "bn2.running_var.npy", "fc.bias.npy", "optimizer/momentum.conv2.weight.npy"})
    EXPECT_EQ(test::read_file(d / ("whole/checkpoint/" + std::string(f))),
              test::read_file(d / ("parts/checkpoint/" + std::string(f))))
        << f;
  // Same losses and accuracies per epoch (seconds and images/s differ).
  auto strip = [](std::string csv) {
    std::string out;
    size_t p = 0;
    while (p < csv.size()) {
      size_t e = csv.find('\n', p);
      std::string line = csv.substr(p, e - p);
      size_t c = 0;
      for (int i = 0; i < 10; ++i) c = line.find(',', c) + 1;
      out += line.substr(0, c) + "\n";
      p = e + 1;
    }
    return out;
  };
  EXPECT_EQ(strip(test::read_file(d / "whole/metrics.csv")), strip(test::read_file(d / "parts/metrics.csv")));
}

// --precision bf16: learns like fp32 on the small net and resumes bit for bit.
TEST(Train, Bf16LearnsAndResumesBitForBit) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no bf16 instructions (avx512_bf16 or AMX)";
  test::TempDir d("train");
  std::string cfg = kSmall + "--precision bf16 --train-limit 2048 --epochs 2 --lambda 0.5 --out ";
  ASSERT_EQ(test::run_cli(cfg + (d / "whole")).code, 0);
  ASSERT_EQ(test::run_cli(cfg + (d / "parts") + " --max-steps 7").code, 0);
  auto r = test::run_cli(cfg + (d / "parts") + " --resume");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"conv1.weight.npy", "bn2.running_var.npy", "optimizer/momentum.fc.weight.npy"})
    EXPECT_EQ(test::read_file(d / ("whole/checkpoint/" + std::string(f))),
              test::read_file(d / ("parts/checkpoint/" + std::string(f))))
        << f;
  // Learns as fp32 does: 67.4 % (fp32) and 66.8 % (bf16) after 3 epochs of 4096 images (measured).
  const std::string learn = kSmall + "--train-limit 4096 --epochs 3 --schedule cosine --lr 0.2 --out ";
  ASSERT_EQ(test::run_cli(learn + (d / "fp32")).code, 0);
  ASSERT_EQ(test::run_cli(learn + (d / "bf16") + " --precision bf16").code, 0);
  EXPECT_NEAR(last_test_acc(d / "bf16/metrics.csv"), last_test_acc(d / "fp32/metrics.csv"), 0.03);
  EXPECT_GT(last_test_acc(d / "bf16/metrics.csv"), 0.6) << "chance is 10 %";
  // Checkpoints stay fp32.
  EXPECT_NE(test::read_file(d / "whole/checkpoint/conv1.weight.npy").find("'<f4'"), std::string::npos);
}

TEST(Train, CtrlCSavesAndResumeFinishes) {
  test::TempDir d("train");
  std::string out = d / "run";
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    int log = ::open((d / "out.txt").c_str(), O_WRONLY | O_CREAT, 0644);
    dup2(log, 1);
    execl(EATSIM_BIN, EATSIM_BIN, "train", "--model", "smallcnn", "--width", "2", "--train-limit", "8192",
          "--test-limit", "500", "--batch", "64", "--threads", "1", "-q", "--epochs", "20", "--out",
          out.c_str(), (char*)nullptr);
    _exit(127);
  }
  // Interrupt once the first epoch has been written.
  for (int i = 0; i < 600 && !fs::exists(out + "/metrics.csv"); ++i) usleep(100000);
  usleep(300000);
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st)) << "killed by a signal instead of saving and exiting";
  // The conventional interrupted status, so `eatsim train ... && eatsim trace export ...` stops.
  EXPECT_EQ(WEXITSTATUS(st), 128 + SIGINT);
  std::string said = test::read_file(d / "out.txt");
  EXPECT_NE(said.find("interrupted; checkpoint saved"), std::string::npos) << said;
  EXPECT_NE(said.find("--resume"), std::string::npos) << said;
  auto r = test::run_cli(
      "train --model smallcnn --width 2 --train-limit 8192 --test-limit 500 --batch 64 --threads 1 -q "
      "--epochs 2 --resume --out " +
      out);
  EXPECT_EQ(r.code, 0) << r.err;
  std::string csv = test::read_file(out + "/metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3) << csv;  // header + 2 epochs
}

TEST(Train, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  test::TempDir d("train");
  std::string cfg = kSmall + "--train-limit 2048 --epochs 1 --lr 1e5 --out " + (d / "run");
  ASSERT_EQ(test::run_cli(cfg + " --max-steps 1").code, 0);
  std::string good = test::read_file(d / "run/checkpoint/conv1.weight.npy");
  auto r = test::run_cli(cfg + " --resume");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("diverged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("learning rate"), std::string::npos) << r.err;
  EXPECT_EQ(test::read_file(d / "run/checkpoint/conv1.weight.npy"), good);
  EXPECT_NE(r.err.find("last good checkpoint (epoch 1, sample 128) is kept"), std::string::npos) << r.err;
}

// Every float tensor of a checkpoint directory (parameters, buffers, optimiser state) is finite.
void expect_all_finite(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() != ".npy" || npy_read_info(e.path()).dtype != DType::f32) continue;
    for (float v : npy_load_f32(e.path())) ASSERT_TRUE(std::isfinite(v)) << e.path();
  }
}

TEST(Train, DivergenceInTheFirstEpochClaimsNoCheckpoint) {
  test::TempDir d("train");
  auto r = test::run_cli(kSmall + "--train-limit 2048 --epochs 1 --lr 1e5 --out " + (d / "run"));
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("diverged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no checkpoint was written"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("is kept in"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(d / "run/checkpoint"));
}

TEST(Train, ANonFiniteStateIsNeverPublished) {
  // A learning rate that explodes after the first epoch: whatever breaks first (loss, gradient or a
  // BN running variance), the checkpoint left behind is the finite one of epoch 1.
  test::TempDir d("train");
  auto r = test::run_cli(kSmall + "--train-limit 1024 --epochs 4 --schedule exponential --gamma 1e6 --out " +
                         (d / "run"));
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("diverged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(after epoch 1) is kept"), std::string::npos) << r.err;
  ASSERT_TRUE(fs::exists(d / "run/checkpoint/checkpoint.yaml"));
  expect_all_finite(d / "run/checkpoint");
  // The kept checkpoint is usable downstream.
  auto t = test::run_cli("trace export " + (d / "run") + " --samples 2 --out " + (d / "t"));
  EXPECT_EQ(t.code, 0) << t.err;
}

TEST(Checkpoint, StateWithInfIsRefusedAndTheOldOneStays) {
  test::TempDir d("train");
  Graph g = load_graph("smallcnn");
  Net a(g, 1);
  save_checkpoint(d / "c", a, {});
  std::string before = test::read_file(d / "c/bn1.running_var.npy");
  Tensor v = a.get("bn1.running_var");
  v.data[3] = INFINITY;
  a.set("bn1.running_var", v);
  try {
    save_checkpoint(d / "c", a, {});
    ADD_FAILURE() << "a checkpoint with inf was written";
  } catch (const NumericError& e) {
    EXPECT_NE(std::string(e.what()).find("'bn1.running_var' holds inf at index 3"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(test::read_file(d / "c/bn1.running_var.npy"), before);
}

TEST(Train, BadInputExits2WithOneLine) {
  test::TempDir d("train");
  auto expect2 = [&](const std::string& args, const std::string& needle) {
    auto r = test::run_cli(kSmall + "--train-limit 1024 --epochs 1 " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
  };
  expect2("--data mnist:" + (d / "nope") + " --out " + (d / "a"), "not a directory");
  fs::create_directories(d / "junk");
  test::write_file(d / "junk/train-images-idx3-ubyte", "garbage");
  test::write_file(d / "junk/train-labels-idx1-ubyte", "garbage");
  expect2("--data mnist:" + (d / "junk") + " --out " + (d / "b"), "not an IDX image file");
  expect2("--input-size 16 --out " + (d / "c"), "do not fit the model's 16x16 input");
  expect2("--in-channels 3 --out " + (d / "c"), "1 channel(s) but the model expects 3");
  expect2("--sigma 0 --out " + (d / "c"), "--sigma");
  expect2("--lambda -1 --out " + (d / "c"), "--lambda");
  expect2("--penalty-layers relu1,nothere --out " + (d / "c"), "nothere");
  ASSERT_EQ(test::run_cli(kSmall + "--train-limit 1024 --epochs 1 --max-steps 1 --out " + (d / "r")).code, 0);
  expect2("--resume --lambda 1 --out " + (d / "r"), "another run configuration");
  expect2("--resume --conv direct --out " + (d / "r"), "conv=winograd (checkpoint) vs conv=direct (now)");
  expect2("--conv fft --out " + (d / "c"), "--conv fft");
  expect2("--precision fp16 --out " + (d / "c"), "--precision: 'fp16'");
  expect2("--resume --precision bf16 --out " + (d / "r"), "precision=bf16 is new");
  // A CPU without bf16 (oneDNN told to stop below avx512_bf16): refused before --out exists.
  setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE", 1);
  expect2("--precision bf16 --out " + (d / "nobf16"), "has no bf16 instructions");
  unsetenv("ONEDNN_MAX_CPU_ISA");
  EXPECT_FALSE(fs::exists(d / "nobf16"));
  expect2("--out " + (d / "r"), "--resume");
}

}  // namespace
}  // namespace eatsim
