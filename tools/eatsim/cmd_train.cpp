// eatsim train: standard (λ = 0) or energy-aware training of a model on a dataset.
#include <fmt/format.h>

#include <filesystem>

#include <omp.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "base/errors.hpp"
#include "tools/eatsim/command.hpp"
#include "trainer/export.hpp"
#include "trainer/train.hpp"

namespace eatsim::cli {
namespace {

void on_sigint(int) { request_stop(); }

po::options_description train_options() {
  po::options_description opts("options");
  opts.add_options()("model", po::value<std::string>()->default_value("resnet18"),
                     "model name or .yaml path")(
      "data", po::value<std::string>()->default_value("fashion-mnist"),
      "dataset: fashion-mnist[:DIR] | mnist:DIR | cifar10:DIR | gtsrb:DIR")(
      "out,o", po::value<std::string>()->required(), "run directory (metrics.csv, checkpoint/)")(
      "epochs", po::value<int>()->default_value(10), "epochs")("batch", po::value<int>()->default_value(512),
                                                               "batch size")(
      "lr", po::value<double>()->default_value(0.1), "initial learning rate")(
      "schedule", po::value<std::string>()->default_value("exponential"),
      "exponential | step | cosine (to zero)")("gamma", po::value<double>()->default_value(0.95),
                                               "decay: lr·γ^epoch (exponential), lr·γ^(epoch/step) (step)")(
      "step-size", po::value<int>()->default_value(30), "epochs per decay (step schedule)")(
      "momentum", po::value<double>()->default_value(0.9), "SGD momentum")("nesterov", po::bool_switch(),
                                                                           "Nesterov momentum")(
      "conv", po::value<std::string>()->default_value("winograd"),
      "convolution algorithm: winograd (3x3 stride-1 layers with >= 16 input channels; about 2x faster, "
      "trains as well) | direct (numerics closest to PyTorch's)")(
      "precision", po::value<std::string>()->default_value("fp32"),
      "fp32 | bf16: convolutions and linear layers multiply in bf16 with fp32 accumulation (weights, "
      "optimizer, BN, loss and penalty stay fp32; needs avx512_bf16 or AMX; direct convolutions)")(
      "hw", po::value<std::string>(),
      "hardware in the loop: weight each penalised tensor's EAT term by its energy per non-zero on this "
      "hwconfig (file or preset), refreshed every epoch (hw_weights.csv); also reports its energy")(
      "hw-samples", po::value<int64_t>()->default_value(16),
      "training samples the per-epoch simulation for --hw runs on")(
      "report-hw", po::value<std::string>(),
      "report the simulated energy per sample on this hwconfig each epoch (metrics.csv sim_energy_uj)")(
      "hw-report-samples", po::value<int64_t>()->default_value(64),
      "test samples that energy is measured on")("weight-decay", po::value<double>()->default_value(5e-4),
                                                 "weight decay")(
      "lambda", po::value<double>()->default_value(0.0), "EAT penalty weight λ (0: standard training)")(
      "sigma", po::value<double>()->default_value(1e-4), "EAT σ in x²/(x²+σ)")(
      "penalty-layers", po::value<std::string>()->default_value("reference"),
      "outputs penalised: reference (module nodes) | relu | activations (every activation op) | all | "
      "comma-separated node names")("penalty-norm", po::value<std::string>()->default_value("layer-mean"),
                                    "layer-mean | element")("crop-pad", po::value<int>()->default_value(4),
                                                            "random-crop padding in pixels (0: off)")(
      "no-flip", po::bool_switch(), "no random horizontal flips")(
      "rotate", po::value<double>()->default_value(0.0), "random rotation up to ± degrees")(
      "seed", po::value<uint64_t>()->default_value(1), "seed for initialisation, order and augmentation")(
      "train-limit", po::value<int64_t>()->default_value(0), "use only the first N training samples")(
      "test-limit", po::value<int64_t>()->default_value(0), "use only the first N test samples")(
      "ratio-samples", po::value<int64_t>()->default_value(256),
      "the paper's energy estimator on the first N test samples each epoch (0: off)")(
      "threads", po::value<int>(), "CPU threads (default: all cores)")(
      "resume", po::bool_switch(), "continue the run in --out exactly where it stopped")(
      "init", po::value<std::string>(),
      "start from this checkpoint's weights (fine-tuning; e.g. one `eatsim model import` wrote); --model "
      "defaults to its model.yaml")("max-steps", po::value<int64_t>()->default_value(0),
                                    "stop after N steps, saving a checkpoint (0: never)")(
      "quiet,q", po::bool_switch(), "no progress bar");
  add_model_options(opts);
  return opts;
}

// The run's configuration from the command line, range-checked (UsageError).
TrainConfig train_config(const po::variables_map& vm) {
  TrainConfig c;
  c.model = vm["model"].as<std::string>();
  if (vm.count("init")) {
    c.init = vm["init"].as<std::string>();
    const std::string own = resolve_checkpoint_dir(c.init) + "/model.yaml";
    if (vm["model"].defaulted() && std::filesystem::exists(own)) c.model = own;
  }
  c.model_params = model_overrides(vm);
  c.dataset = vm["data"].as<std::string>();
  c.out_dir = vm["out"].as<std::string>();
  if (c.out_dir.empty()) throw UsageError("--out '': give a run directory");
  c.epochs = vm["epochs"].as<int>();
  c.batch = vm["batch"].as<int>();
  c.eval_batch = c.batch;
  c.lr = vm["lr"].as<double>();
  c.schedule = schedule_from_name(vm["schedule"].as<std::string>());
  c.gamma = vm["gamma"].as<double>();
  c.step_size = vm["step-size"].as<int>();
  c.momentum = vm["momentum"].as<double>();
  c.nesterov = vm["nesterov"].as<bool>();
  require_range("momentum", c.momentum, 0, 0.9999, "in [0, 1)");
  require_range("gamma", c.gamma, 1e-12, 1e6, "positive (the per-epoch or per-step LR factor)");
  require_range("step-size", c.step_size, 1, 1e9, "at least 1 (epochs between LR steps)");
  require_range("batch", c.batch, 1, 1 << 16, "1..65536");
  const std::string conv = vm["conv"].as<std::string>();
  if (conv != "winograd" && conv != "direct")
    throw UsageError(fmt::format("--conv {}: unknown convolution algorithm (winograd | direct)", conv));
  c.fast_conv = conv == "winograd";
  c.precision = parse_precision(vm["precision"].as<std::string>());
  if (vm.count("hw")) c.hw = vm["hw"].as<std::string>();
  if (vm.count("report-hw")) c.report_hw = vm["report-hw"].as<std::string>();
  c.hw_samples = vm["hw-samples"].as<int64_t>();
  c.hw_report_samples = vm["hw-report-samples"].as<int64_t>();
  if (c.precision == Precision::bf16) require_bf16_cpu();  // before anything is written to --out
  c.weight_decay = vm["weight-decay"].as<double>();
  c.penalty.lambda = vm["lambda"].as<double>();
  c.penalty.sigma = vm["sigma"].as<double>();
  c.penalty.layers = vm["penalty-layers"].as<std::string>();
  c.penalty.norm = penalty_norm_from_name(vm["penalty-norm"].as<std::string>());
  c.augment.crop_pad = vm["crop-pad"].as<int>();
  c.augment.flip = !vm["no-flip"].as<bool>();
  c.augment.rotate_deg = vm["rotate"].as<double>();
  c.seed = vm["seed"].as<uint64_t>();
  c.train_limit = vm["train-limit"].as<int64_t>();
  c.test_limit = vm["test-limit"].as<int64_t>();
  c.resume = vm["resume"].as<bool>();
  c.max_steps = vm["max-steps"].as<int64_t>();
  c.ratio_samples = vm["ratio-samples"].as<int64_t>();
  if (c.ratio_samples < 0) throw UsageError("--ratio-samples must be zero or positive");
  require_range("weight-decay", c.weight_decay, 0, 1, "in [0, 1]");
  require_range("crop-pad", c.augment.crop_pad, 0, 64, "0..64 (pixels of padding for random crops)");
  require_range("rotate", c.augment.rotate_deg, 0, 180, "0..180 (degrees)");
  require_range("train-limit", static_cast<double>(c.train_limit), 0, 1e12, "zero (all) or positive");
  require_range("test-limit", static_cast<double>(c.test_limit), 0, 1e12, "zero (all) or positive");
  require_range("max-steps", static_cast<double>(c.max_steps), 0, 1e15, "zero (no limit) or positive");
  c.progress = !vm["quiet"].as<bool>();
  if (c.penalty.lambda < 0)
    throw UsageError(fmt::format("--lambda {}: must be zero or positive", c.penalty.lambda));
  if (!(c.penalty.sigma > 0)) throw UsageError(fmt::format("--sigma {}: must be positive", c.penalty.sigma));
  return c;
}

int run(const Args& args) {
  po::options_description opts = train_options();
  po::variables_map vm;
  if (!parse("train", "--out DIR [--model M --data D --epochs E --lambda L --sigma S ...]", args, opts, {},
             vm))
    return 0;
  if (vm.count("threads")) {
    int t = vm["threads"].as<int>();
    require_range("threads", t, 1, kMaxWorkers, fmt::format("1..{}", kMaxWorkers));
    omp_set_num_threads(t);
  }
  TrainConfig c = train_config(vm);
  std::signal(SIGINT, on_sigint);
  TrainResult r = train(c);
  std::signal(SIGINT, SIG_DFL);
  if (!r.finished) {
    std::cout << fmt::format("{}; checkpoint saved in {} (continue with the same options and --resume)\n",
                             r.interrupted ? "interrupted" : "stopped after --max-steps", r.checkpoint);
    // 128 + SIGINT, as a shell reports a Ctrl-C: `train && trace export` must not carry on.
    return r.interrupted ? 128 + SIGINT : 0;
  }
  if (!r.epochs.empty()) {
    const auto& m = r.epochs.back();
    std::cout << fmt::format(
        "done: {} epochs, test accuracy {:.2f}%, ReLU firing {:.1f}%; checkpoint {}, metrics "
        "{}/metrics.csv\n",
        m.epoch, 100 * m.test_acc, 100 * m.firing, r.checkpoint, c.out_dir);
  } else {
    std::cout << fmt::format("nothing to do: all {} epochs are finished (checkpoint {})\n", c.epochs,
                             r.checkpoint);
  }
  return 0;
}

Register reg("train", "train a model, standard (lambda 0) or energy-aware; checkpoints, resume, metrics CSV",
             run);

}  // namespace
}  // namespace eatsim::cli
