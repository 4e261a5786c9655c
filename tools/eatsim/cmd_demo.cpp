// eatsim demo: the whole story on embedded defaults (see tools/eatsim/demo.hpp).
#include <fmt/format.h>
#include "base/errors.hpp"

#include "tools/eatsim/command.hpp"
#include "tools/eatsim/demo.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  demo::Options d;
  po::options_description opts("options");
  opts.add_options()("out,o", po::value<std::string>(&d.out)->default_value(d.out),
                     "output directory (reruns reuse finished stages)")(
      "epochs", po::value<int>(&d.epochs)->default_value(d.epochs), "training epochs per run")(
      "width", po::value<double>(&d.width)->default_value(d.width), "width multiplier of the model")(
      "model", po::value<std::string>(&d.model)->default_value(d.model), "model (a small ResNet by default)")(
      "lambda", po::value<double>(&d.lambda)->default_value(d.lambda), "EAT λ")(
      "sigma", po::value<double>(&d.sigma)->default_value(d.sigma), "EAT σ")(
      "samples", po::value<int64_t>(&d.samples)->default_value(d.samples),
      "test samples traced and simulated")(
      "preset", po::value<std::string>(&d.preset)->default_value(d.preset), "hardware preset to simulate")(
      "train-limit", po::value<int64_t>(&d.train_limit)->default_value(0),
      "use only N training images (0: all 60000)")("test-limit",
                                                   po::value<int64_t>(&d.test_limit)->default_value(0),
                                                   "use only N test images (0: all 10000)")(
      "threads", po::value<int>(&d.threads)->default_value(0), "CPU threads (0: all cores)")(
      "quick", po::bool_switch(), "a reduced demo for smoke tests (1 epoch on 2048 images, 2 samples)");
  po::variables_map vm;
  if (!parse("demo", "[--out DIR] [--epochs E] [--quick]", args, opts, {}, vm)) return 0;
  require_range("threads", d.threads, 0, kMaxWorkers, fmt::format("0 (every core) .. {}", kMaxWorkers));
  if (vm["quick"].as<bool>()) {
    if (vm["epochs"].defaulted()) d.epochs = 1;
    if (vm["train-limit"].defaulted()) d.train_limit = 2048;
    if (vm["test-limit"].defaulted()) d.test_limit = 500;
    if (vm["samples"].defaulted()) d.samples = 2;
  }
  if (d.epochs < 1 || d.samples < 1) throw UsageError("--epochs and --samples must be at least 1");
  demo::run(d);
  return 0;
}

Register reg("demo",
             "the whole story: train standard and EAT, export traces, estimate, simulate, compare, plot",
             run);

}  // namespace
}  // namespace eatsim::cli
