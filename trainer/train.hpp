// The training loop behind `eatsim train`: SGD with the paper's recipe as defaults, EAT penalty,
// per-epoch metrics CSV, atomic checkpoints every epoch (and on interruption), exact resume, and
// a clean stop on NaN/inf that keeps the last good checkpoint.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "trainer/data/batcher.hpp"
#include "trainer/net.hpp"
#include "trainer/penalty.hpp"

namespace eatsim {

enum class Schedule { exponential, step, cosine };
Schedule schedule_from_name(const std::string& s);  // throws UsageError
const char* schedule_name(Schedule s);

struct TrainConfig {
  std::string model = "resnet18";
  ParamOverrides model_params;
  std::string dataset = "fashion-mnist";
  int64_t train_limit = 0, test_limit = 0;  // use only the first N samples (0: all)
  int epochs = 10;
  int batch = 512;
  double lr = 0.1;
  Schedule schedule = Schedule::exponential;
  double gamma = 0.95;  // exponential: lr·γ^epoch; step: lr·γ^(epoch / step_size)
  int step_size = 30;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
  PenaltyConfig penalty;
  // Winograd where it suits (Net::set_fast_conv, winograd_suits): about 2x faster convolutions and
  // trains as well as direct ones (docs/benchmarks.md); false: direct everywhere, the numerics
  // closest to PyTorch's (gradients within ~1e-4 instead of ~1e-2).
  bool fast_conv = true;
  // Convolutions and linear layers in bf16 with fp32 accumulation (Net::set_precision); part of the
  // resume fingerprint.
  Precision precision = Precision::fp32;
  // Hardware in the loop (trainer/hw_loop.hpp): each penalised tensor's EAT term weighted by its
  // energy per non-zero on this hwconfig (file or preset), refreshed every epoch from the first
  // hw_samples training samples; part of the resume fingerprint. Empty: the plain penalty.
  std::string hw;
  int64_t hw_samples = 16;
  // Simulated energy per sample on this hwconfig (default: hw) over the first hw_report_samples
  // test samples, each epoch, in metrics.csv's sim_energy_uj column.
  std::string report_hw;
  int64_t hw_report_samples = 64;
  AugmentOptions augment{4, true, 0.0};
  uint64_t seed = 1;
  int eval_batch = 500;
  // Estimator (sponge) ratio on the first N test samples each epoch (0: off).
  int64_t ratio_samples = 256;
  std::string out_dir;
  bool resume = false;
  // A checkpoint (trained or `eatsim model import`ed) whose weights start a new run: fine-tuning.
  // Its model must be the run's model. Ignored when resuming (the run's own checkpoint wins).
  std::string init;
  bool progress = true;
  int64_t max_steps = 0;  // stop (as if interrupted) after this many steps in this invocation; 0: never
};

struct EpochMetrics {
  int epoch = 0;
  double lr = 0, loss = 0, ce = 0, penalty = 0, train_acc = 0, test_acc = 0, test_loss = 0;
  double firing = 0;                 // ReLU outputs, element-weighted, test set, eval mode
  std::vector<double> layer_firing;  // per ReLU node, execution order
  double sponge_ratio = -1;          // estimator ratio (reference convention), -1 when off
  double sim_energy_uj = -1;         // simulated energy per sample (--hw / --report-hw), -1 when off
  double seconds = 0, images_per_s = 0;
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;  // the epochs finished by this invocation (metrics.csv has them all)
  bool finished = false;             // all epochs done (false: interrupted or max_steps)
  bool interrupted = false;          // stopped by request_stop() (Ctrl-C), not by max_steps
  std::string checkpoint;            // the last checkpoint written
};

// Runs (or resumes) a training run in cfg.out_dir. Throws UsageError/DataError on bad input and
// NumericError on NaN/inf (the last good checkpoint stays).
TrainResult train(const TrainConfig& cfg);

// Column names of metrics.csv for a graph (firing columns name the ReLU nodes).
// sim_energy: the run reports simulated energy (--hw or --report-hw): one more column, last.
std::vector<std::string> metrics_columns(const Graph& g, bool sim_energy = false);

// Asks a running train() to stop at the next step boundary, save, and return (SIGINT handler).
void request_stop();

}  // namespace eatsim
