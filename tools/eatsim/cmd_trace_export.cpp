// eatsim trace export: a v1 trace from a checkpoint and N samples of a dataset split.
#include <fmt/format.h>

#include <iostream>

#include "base/errors.hpp"
#include "tools/eatsim/command.hpp"
#include "trainer/export.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("checkpoint", po::value<std::string>()->required(),
                     "checkpoint directory (or a run directory)")(
      "out,o", po::value<std::string>()->required(), "output trace directory")(
      "data", po::value<std::string>()->default_value(""), "dataset (default: the checkpoint's)")(
      "inputs", po::value<std::string>()->default_value(""),
      "your own inputs instead of a dataset: float32 .npy of N×C×H×W, as the network takes them "
      "(normalised); every row unless --first/--samples")(
      "labels", po::value<std::string>()->default_value(""),
      "with --inputs: int64/int32 .npy of N labels (default: unknown, stored as -1)")(
      "split", po::value<std::string>()->default_value("test"), "train | test")(
      "samples,n", po::value<int64_t>()->default_value(8), "number of samples (with --inputs: all rows)")(
      "first", po::value<int64_t>()->default_value(0), "index of the first sample in the split")(
      "dtype", po::value<std::string>()->default_value("float32"),
      "float32 | float16 | bfloat16 (numpy: traces/FORMAT.md) | int8 (per-tensor scales)")(
      "batch", po::value<int>()->default_value(64), "inference batch size")(
      "force", po::bool_switch(), "replace an existing output directory");
  po::positional_options_description pos;
  pos.add("checkpoint", 1);
  po::variables_map vm;
  if (!parse("trace export",
             "CHECKPOINT --out DIR [--samples N --split test | --inputs X.npy [--labels Y.npy]] [--dtype "
             "float32]",
             args, opts, pos, vm))
    return 0;
  ExportOptions o;
  o.checkpoint = vm["checkpoint"].as<std::string>();
  o.out = vm["out"].as<std::string>();
  o.dataset = vm["data"].as<std::string>();
  o.split = vm["split"].as<std::string>();
  o.inputs = vm["inputs"].as<std::string>();
  o.labels = vm["labels"].as<std::string>();
  o.samples = !o.inputs.empty() && vm["samples"].defaulted() ? -1 : vm["samples"].as<int64_t>();
  if (!vm["samples"].defaulted() && o.samples < 1) throw UsageError("--samples must be at least 1");
  o.first = vm["first"].as<int64_t>();
  o.batch = vm["batch"].as<int>();
  o.force = vm["force"].as<bool>();
  o.producer = "eatsim " EATSIM_VERSION " trace export";
  std::string dt = vm["dtype"].as<std::string>();
  o.dtype = storage_dtype(dt);
  require_range("batch", o.batch, 1, 1 << 16, "1..65536");
  ExportSummary s = export_trace(o);
  std::cout << fmt::format(
      "wrote {}: {} samples ({}), {:.1f} MB ({:.2f} MB per sample), {:.2f} s\n", o.out, s.samples,
      s.labelled ? fmt::format("{} of {} labelled ones predicted correctly", s.correct, s.labelled)
                 : std::string("no labels"),
      s.bytes / 1e6, s.bytes / 1e6 / s.samples, s.seconds);
  return 0;
}

Register reg("trace export",
             "write a trace from a checkpoint: every tensor of N samples run in inference mode", run);

}  // namespace
}  // namespace eatsim::cli
