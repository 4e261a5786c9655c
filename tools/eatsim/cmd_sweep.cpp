// eatsim sweep: a grid of hardware configurations × traces, in parallel, resumable, shardable.
#include <fmt/format.h>

#include <iostream>
#include <thread>

#include "base/errors.hpp"
#include "sim/sweep/sim_evaluator.hpp"
#include "tools/eatsim/command.hpp"
#include "tools/eatsim/plot.hpp"

namespace eatsim::cli {
namespace {

// Prints each trace's non-dominated points for the evaluator's Pareto metrics.
void print_pareto(const std::string& csv_path, const std::vector<std::string>& metrics,
                  const sweep::Spec& s) {
  plot::Csv c = plot::read_csv(csv_path);
  if (c.rows.empty()) return;
  int ti = c.col("trace");
  std::vector<int> mi;
  for (const auto& m : metrics) mi.push_back(c.col(m));
  std::vector<int> ki;
  for (const auto& k : s.keys()) ki.push_back(c.col(k));
  for (const auto& tr : s.traces) {
    std::vector<size_t> rows;
    std::vector<std::vector<double>> m;
    for (size_t r = 0; r < c.rows.size(); ++r)
      if (c.rows[r][ti] == tr.name) {
        rows.push_back(r);
        std::vector<double> v;
        for (int i : mi) v.push_back(c.num(r, i));
        m.push_back(v);
      }
    auto front = sweep::pareto_front(m);
    std::cout << fmt::format("\nPareto front for trace {} ({} of {} points; minimising {}):\n", tr.name,
                             front.size(), rows.size(), fmt::join(metrics, ", "));
    std::string head = "  point";
    for (const auto& k : s.keys()) head += fmt::format("  {:>14}", k.substr(k.rfind('.') + 1));
    for (const auto& k : metrics) head += fmt::format("  {:>14}", k);
    std::cout << head << "\n";
    for (size_t f : front) {
      std::string line = fmt::format("  {:>5}", c.rows[rows[f]][0]);
      for (int i : ki) line += fmt::format("  {:>14}", c.rows[rows[f]][i]);
      for (double v : m[f]) line += fmt::format("  {:>14.6g}", v);
      std::cout << line << "\n";
    }
  }
}

int run(const Args& args) {
  po::options_description opts("options");
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  opts.add_options()("sweep", po::value<std::string>()->required(), "sweep file (docs/sweeps.md)")(
      "out,o", po::value<std::string>(), "output directory (default: the sweep's name)")(
      "jobs,j", po::value<int>()->default_value(static_cast<int>(cores)), "parallel workers")(
      "shard", po::value<std::string>()->default_value("1/1"), "run only shard K of N (K/N) of the grid")(
      "quiet,q", po::bool_switch(), "no progress bar");
  po::positional_options_description pos;
  pos.add("sweep", 1);
  po::variables_map vm;
  if (!parse("sweep", "SWEEP.yaml [--out DIR --jobs N --shard K/N]", args, opts, pos, vm)) return 0;
  sweep::Spec s = sweep::load_spec(vm["sweep"].as<std::string>());
  sweep::RunOptions o;
  o.out_dir = vm.count("out") ? vm["out"].as<std::string>() : s.name;
  o.jobs = vm["jobs"].as<int>();
  require_range("jobs", o.jobs, 1, kMaxWorkers, fmt::format("1..{}", kMaxWorkers));
  if (o.out_dir.empty()) throw UsageError("--out '': give an output directory");
  o.shard = sweep::parse_shard(vm["shard"].as<std::string>());
  o.progress = !vm["quiet"].as<bool>();
  sweep::SimEvaluator ev(s);
  sweep::RunSummary r = sweep::run(s, ev, o);
  std::cout << fmt::format(
      "sweep {}: {} grid points, {} after constraints, {} in shard {}/{}; {} results ({} reused, "
      "{} computed) in {}/results.csv\n",
      s.name, r.grid, r.points, r.in_shard, o.shard.k, o.shard.n, r.results, r.reused, r.computed, o.out_dir);
  print_pareto(o.out_dir + "/results.csv", ev.pareto_metrics(), s);
  return 0;
}

Register reg("sweep", "co-design sweep: hwconfig grid x traces, parallel, resumable, shardable (--shard K/N)",
             run);

}  // namespace
}  // namespace eatsim::cli
