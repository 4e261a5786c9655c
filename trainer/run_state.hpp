// Private to train.cpp: the state of a training run that its checkpoint carries beside the weights
// and the momentum (where the run stands, the running sums of the epoch in progress) and the rows
// of metrics.csv, with the one place that saves it and the one that restores it.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/net.hpp"
#include "trainer/sgd.hpp"
#include "trainer/train.hpp"

namespace eatsim {

// The learning rate of an epoch under the configured schedule (train.cpp).
double schedule_lr(const TrainConfig& c, int epoch);

// What must not change between a run and its resumption (epochs may grow; paths may move).
std::string run_fingerprint(const TrainConfig& c, const Graph& g);

class RunState {
 public:
  RunState(const TrainConfig& cfg, const Graph& g);

  // Where this invocation starts: an epoch and a sample position in it.
  int start_epoch = 0;
  int64_t start_pos = 0;
  int64_t total_steps = 0;  // over the whole run
  // Sums over the epoch in progress (per-sample means × samples), and its wall seconds.
  double sum_loss = 0, sum_ce = 0, sum_penalty = 0, seconds = 0;
  int64_t correct = 0, seen = 0;
  // More checkpoint.yaml info: written by save() (hardware-in-the-loop weights), and what restore()
  // read back.
  std::map<std::string, std::string> extra_info, restored_info;

  const std::string& checkpoint_dir() const { return ckpt_; }

  // Adds one step's loss parts (means over its n samples).
  void add_step(const LossParts& lp, int n);
  // Fills an epoch's training columns from the sums (the test columns are the caller's).
  void fill_train_metrics(EpochMetrics& m) const;
  // Appends a finished epoch's metrics.csv row, clears the sums and rewrites metrics.csv.
  void finish_epoch(const std::string& row);

  // A new run: refuses an out_dir that holds one already; creates the directory.
  void start_new() const;
  // --resume: checks the configuration against the checkpoint's, loads weights and momentum, and
  // restores the position, the sums and the rows of the finished epochs.
  void restore(Net& net, Sgd& sgd, int64_t batches_per_epoch);
  // Publishes the checkpoint for `epoch` epochs finished plus `pos` samples of the next; `step` and
  // test_acc (the last epoch's, when this invocation finished one) go into the messages and info.
  void save(const Net& net, Sgd& sgd, int epoch, int64_t pos, int64_t step, std::optional<double> test_acc);

  // The one message for every kind of divergence: what went wrong, the likely cause, and exactly
  // which checkpoint a resume would start from (or that there is none).
  NumericError diverged(int epoch, int64_t step, const std::string& what) const;

 private:
  void restore_sums(const CheckpointMeta& meta, int64_t batches_per_epoch);
  void read_csv_rows();
  void write_csv() const;

  const TrainConfig& cfg_;
  const Graph& g_;
  const std::string fp_, ckpt_, csv_path_;
  std::vector<std::string> csv_rows_;
  struct Kept {
    int epoch = -1;  // epochs finished when the last published checkpoint was taken; -1: none
    int64_t position = 0;
  } kept_;
};

}  // namespace eatsim
