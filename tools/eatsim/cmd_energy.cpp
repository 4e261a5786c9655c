// eatsim energy: the paper's analytical energy estimator (sponge model) on a trace.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/estimator/report.hpp"
#include "tools/eatsim/command.hpp"
#include "traces/trace.hpp"

namespace eatsim::cli {
namespace {

using namespace eatsim::sponge;

// Writes a file through `fill` atomically: complete or not at all, even on a full disk.
template <class F>
void write_out(const std::string& path, F fill) {
  std::ostringstream o;
  fill(o);
  atomic_write(path, o.str());
}

void print_report(const std::string& dir, const Census& c, const Report& r, const Options& o, int bits) {
  const Estimate& w = r.whole;
  std::cout << fmt::format("sponge estimate of {} ({}, {} samples): convention {}, {}-bit non-zeros\n", dir,
                           c.graph.name, c.num_samples(), convention_name(o.convention), bits);
  std::cout << fmt::format("{:<22} {:<18} {:>11} {:>8} {:>11} {:>8} {:>10} {:>8} {:>14} {:>10}\n", "layer",
                           "type", "in", "in nz%", "out", "out nz%", "params", "par nz%", "ops",
                           "E opt/worst");
  auto pct = [](int64_t nz, int64_t n) {
    return n ? fmt::format("{:.2f}", 100.0 * nz / n) : std::string("-");
  };
  for (const auto& l : w.layers) {
    double ew = layer_energy_worst_pj(l);
    std::cout << fmt::format("{:<22} {:<18} {:>11} {:>8} {:>11} {:>8} {:>10} {:>8} {:>14} {:>10.4f}\n",
                             l.name, l.type, l.in_total, pct(l.in_nnz, l.in_total), l.out_total,
                             pct(l.out_nnz, l.out_total), l.param_total, pct(l.param_nnz, l.param_total),
                             l.ops, ew > 0 ? layer_energy_opt_pj(l, w.f()) / ew : 1.0);
  }
  const Totals& t = w.totals;
  std::cout << fmt::format(
      "\n{} layer calls counted; parameters {} ({} non-zero), input activations {} ({}), "
      "output activations {} ({}), ops {}\n",
      w.layers.size(), t.param_total, t.param_nnz, t.in_total, t.in_nnz, t.out_total, t.out_nnz, t.ops);
  std::cout << fmt::format(
      "one pass over {} samples: weight density {:.6f}, input density {:.6f}, f = {:.6f}\n", w.samples,
      w.weight_density, w.input_density, w.f());
  std::cout << fmt::format("energy worst case {:.6g} pJ, optimised {:.6g} pJ, ratio {:.6f}\n",
                           w.energy_worst_pj, w.energy_opt_pj, w.ratio);
  if (!r.chunks.empty())
    std::cout << fmt::format(
        "{} over {} chunks of {} sample(s): mean ratio {:.6f} (std {:.2e}), mean energy worst "
        "{:.6g} pJ, optimised {:.6g} pJ\n",
        reduction_name(o.reduction), r.chunks.size(), o.reduction == Reduction::per_sample ? 1 : o.batch,
        r.ratio, r.ratio_std, r.energy_worst_mean_pj, r.energy_opt_mean_pj);
  std::cout << fmt::format("ratio ({}): {:.6f}  (saves {:.2f} % of the worst case)\n",
                           reduction_name(o.reduction), r.ratio, 100.0 * (1.0 - r.ratio));
}

// --convention, --reduction and --batch.
Options estimator_options(const po::variables_map& vm) {
  Options o;
  o.convention = convention_from_name(vm["convention"].as<std::string>());
  o.reduction = reduction_from_name(vm["reduction"].as<std::string>());
  if (vm.count("batch")) {
    if (o.reduction != Reduction::per_batch) throw UsageError("--batch goes with --reduction per-batch");
    o.batch = vm["batch"].as<int64_t>();
    if (o.batch < 1) throw UsageError(fmt::format("--batch {}: must be at least 1", o.batch));
  } else if (o.reduction == Reduction::per_batch) {
    throw UsageError("--reduction per-batch needs --batch B");
  }
  return o;
}

// A second trace of the same model: its report, then the decrease from the first.
void compare(const std::string& dir, const Census& c, const Report& r, const std::string& db,
             const Options& o, int bits) {
  Census cb = census_from_trace(TraceReader(db), bits);
  if (cb.graph.name != c.graph.name)
    throw UsageError(
        fmt::format("{} ({}) and {} ({}): not the same model", dir, c.graph.name, db, cb.graph.name));
  Report rb = analyse(cb, o);
  std::cout << "\n";
  print_report(db, cb, rb, o, bits);
  std::cout << fmt::format("\nA {}: ratio {:.6f}\nB {}: ratio {:.6f}\ndecrease (A - B) / A: {:.2f} %\n", dir,
                           r.ratio, db, rb.ratio, 100.0 * (r.ratio - rb.ratio) / r.ratio);
}

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("trace", po::value<std::string>()->required(), "trace directory")(
      "trace-b", po::value<std::string>(),
      "a second trace of the same model (e.g. EAT): both reports and the decrease")(
      "convention", po::value<std::string>()->default_value("reference"),
      "reference (the original estimator on the kuangliu PyTorch models) | graph (every node)")(
      "reduction", po::value<std::string>()->default_value("whole"),
      "whole (one pass over all samples) | per-sample (mean of per-sample ratios) | per-batch (mean over "
      "batches)")("batch", po::value<int64_t>(), "samples per batch for --reduction per-batch")(
      "bits", po::value<int>()->default_value(32),
      "non-zero threshold: 32 (2^-126) | 16 (2^-30) | 8 (2^-14)")(
      "csv", po::value<std::string>(), "write the per-layer table to this CSV file")(
      "json", po::value<std::string>(), "write the full report (totals, layers, chunks) to this JSON file");
  po::positional_options_description pos;
  pos.add("trace", 1).add("trace-b", 1);
  po::variables_map vm;
  if (!parse(
          "energy",
          "TRACE [TRACE_B] [--convention reference|graph] [--reduction whole|per-sample|per-batch --batch B] "
          "[--bits 32|16|8] [--csv FILE] [--json FILE]",
          args, opts, pos, vm))
    return 0;
  Options o = estimator_options(vm);
  int bits = vm["bits"].as<int>();
  nonzero_threshold(bits);  // reject a bad width before reading the trace
  std::string dir = vm["trace"].as<std::string>();
  bool two = vm.count("trace-b") > 0;
  if (two && (vm.count("csv") || vm.count("json")))
    throw UsageError("--csv and --json take one trace; run eatsim energy once per trace to write files");
  Census c = census_from_trace(TraceReader(dir), bits);
  Report r = analyse(c, o);
  print_report(dir, c, r, o, bits);
  if (two) compare(dir, c, r, vm["trace-b"].as<std::string>(), o, bits);
  if (vm.count("csv")) {
    write_out(vm["csv"].as<std::string>(), [&](std::ostream& f) { write_layer_csv(f, r); });
  }
  if (vm.count("json")) {
    write_out(vm["json"].as<std::string>(), [&](std::ostream& f) { write_json(f, r, dir, c.graph.name); });
  }
  return 0;
}

Register reg("energy",
             "the paper's analytical energy estimator (sponge model) on a trace: ratio, per-layer counts",
             run);

}  // namespace
}  // namespace eatsim::cli
