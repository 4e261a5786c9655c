// Sweeps on a real Slurm: tools/slurm-local.sh starts a one-node Slurm (its own munge, config,
// state and ports in a private directory); the job array `eatsim sweep --emit-slurm` writes runs
// there and its merged results.csv equals a local run's byte for byte; a shard cancelled mid-run
// (scancel) and resubmitted still merges to the same file, nothing lost or duplicated; GNU
// parallel over the shards gives the same file too. Skipped (with the reason) where Slurm cannot
// start: not root, packages missing, or daemons refused (set EATSIM_SKIP_SLURM=1 to skip on purpose).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

int sh(const std::string& cmd) {
  int st = std::system(("bash -c " + std::string("'") + cmd + "'").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string out_of(const std::string& cmd) {
  std::string tmp = fs::temp_directory_path() / ("eatsim-slurm-out-" + std::to_string(::getpid()));
  sh("(" + cmd + ") > " + tmp + " 2>&1");
  std::string s = test::read_file(tmp);
  fs::remove(tmp);
  return s;
}

class LocalSlurm {
 public:
  explicit LocalSlurm(const std::string& dir) : dir_(dir) {
    const int port = 20000 + static_cast<int>(::getpid() % 20000);
    env_ = "SLURM_LOCAL_PORT=" + std::to_string(port) + " SLURM_CONF=" + dir + "/slurm.conf ";
    code_ = sh(env_ + test::source_dir() + "/tools/slurm-local.sh start " + dir + " > " + dir +
               ".start.log 2>&1");
    log_ = test::read_file(dir + ".start.log");
  }
  ~LocalSlurm() {
    sh(env_ + "timeout 60 " + test::source_dir() + "/tools/slurm-local.sh stop " + dir_ + " >/dev/null 2>&1");
  }
  bool up() const { return code_ == 0; }
  const std::string& log() const { return log_; }
  std::string env() const { return env_; }
  // Waits until the queue is empty (at most `seconds`).
  bool drain(int seconds = 180) const {
    for (int i = 0; i < seconds * 5; ++i) {
      if (out_of(env_ + "timeout 10 squeue -h || echo unreachable").empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

 private:
  std::string dir_, env_, log_;
  int code_ = -1;
};

std::string sweep_file(const std::string& dir) {
  const std::string s = dir + "/grid.yaml";
  test::write_file(s,
                   "name: grid\nbase: tpu_ws32\nparams:\n  array.rows: {from: 4, to: 64, step: 4}\n"
                   "  array.cols: {from: 4, to: 48, step: 4}\ntraces:\n  - {name: eat, path: " +
                       test::source_dir() + "/traces/reference/traces/smallcnn-eat}\n");
  return s;
}

TEST(Slurm, AJobArrayOfShardsMergesToTheLocalResultsEvenAfterACancelledShard) {
  if (std::getenv("EATSIM_SKIP_SLURM")) GTEST_SKIP() << "EATSIM_SKIP_SLURM is set";
  test::TempDir d("slurm");
  LocalSlurm slurm(d / "cluster");
  if (!slurm.up()) GTEST_SKIP() << "Slurm cannot start here: " << slurm.log();
  const std::string bin = EATSIM_BIN, grid = sweep_file(d.path());
  ASSERT_EQ(sh(bin + " sweep " + grid + " --jobs 2 -q --out " + (d / "local") + " >/dev/null"), 0);
  const std::string local = test::read_file(d / "local/results.csv");
  ASSERT_NE(local.find("\n"), std::string::npos);

  // The emitted job array and its dependent merge.
  ASSERT_EQ(sh(bin + " sweep " + grid + " --emit-slurm 3 --out " + (d / "array") + " >/dev/null"), 0);
  ASSERT_EQ(sh(slurm.env() + "timeout 60 bash " + (d / "array/slurm/submit.sh") + " >/dev/null"), 0);
  ASSERT_TRUE(slurm.drain()) << out_of(slurm.env() + "squeue");
  EXPECT_EQ(test::read_file(d / "array/merged/results.csv"), local)
      << test::read_file(d / "array/slurm/merge.log");

  // A shard cancelled while it runs, then resubmitted alone: the merge has every row once.
  ASSERT_EQ(sh(bin + " sweep " + grid + " --emit-slurm 2 --jobs 1 --out " + (d / "cancel") + " >/dev/null"),
            0);
  const std::string job =
      out_of(slurm.env() + "timeout 60 sbatch --parsable " + (d / "cancel/slurm/sweep.sbatch"));
  const std::string id = job.substr(0, job.find_first_of(";\n"));
  bool cancelled = false;
  for (int i = 0; i < 300 && !cancelled; ++i) {  // once shard 1 has written some results
    if (fs::exists(d / "cancel/shards/1/points") &&
        std::distance(fs::directory_iterator(d / "cancel/shards/1/points"), fs::directory_iterator{}) > 3) {
      sh(slurm.env() + "timeout 30 scancel " + id + "_1");
      cancelled = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(slurm.drain());
  const std::string state = out_of(slurm.env() + "timeout 10 sacct -n -j " + id + "_1 -o State 2>/dev/null");
  ASSERT_EQ(sh(slurm.env() + "sbatch --wait --array=1 " + (d / "cancel/slurm/sweep.sbatch") + " >/dev/null"),
            0);
  ASSERT_EQ(sh(bin + " sweep merge --out " + (d / "cancel/merged") + " " + (d / "cancel/shards/1") + " " +
               (d / "cancel/shards/2") + " >/dev/null"),
            0);
  EXPECT_EQ(test::read_file(d / "cancel/merged/results.csv"), local);
  EXPECT_TRUE(cancelled) << "shard 1 finished before it could be cancelled (" << state << ")";

  // GNU parallel over the same shards.
  if (sh("command -v parallel >/dev/null") == 0) {
    ASSERT_EQ(sh("parallel --will-cite " + bin + " sweep " + grid + " --shard {}/2 --jobs 1 -q --out " +
                 (d / "par") + "/{} ::: 1 2 >/dev/null"),
              0);
    ASSERT_EQ(sh(bin + " sweep merge --out " + (d / "par/all") + " " + (d / "par/1") + " " + (d / "par/2") +
                 " >/dev/null"),
              0);
    EXPECT_EQ(test::read_file(d / "par/all/results.csv"), local);
  }
}

}  // namespace
}  // namespace eatsim
