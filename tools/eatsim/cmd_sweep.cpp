// eatsim sweep: a grid of hardware configurations × traces, in parallel, resumable, shardable.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/sweep/sim_evaluator.hpp"
#include "tools/eatsim/command.hpp"
#include "tools/eatsim/plot.hpp"

namespace eatsim::cli {
namespace {

// Co-design: with several traces that all carry their checkpoint's test accuracy (trained networks),
// the points of every (hardware point, network) pair that no other pair beats on the metrics and
// on accuracy at once.
void print_codesign_front(const plot::Csv& c, const std::vector<std::string>& metrics,
                          const std::vector<int>& mi, const std::vector<int>& ki, const sweep::Spec& s) {
  int ai = -1, ti = c.col("trace");
  for (size_t i = 0; i < c.header.size(); ++i)
    if (c.header[i] == "trace_accuracy") ai = static_cast<int>(i);
  if (ai < 0 || s.traces.size() < 2) return;
  std::vector<std::vector<double>> m;
  for (size_t r = 0; r < c.rows.size(); ++r) {
    if (!(c.num(r, ai) >= 0)) return;  // a trace without accuracy (synthetic): no joint front
    std::vector<double> v;
    for (int i : mi) v.push_back(c.num(r, i));
    v.push_back(-c.num(r, ai));  // maximise accuracy
    m.push_back(v);
  }
  auto front = sweep::pareto_front(m);
  std::cout << fmt::format(
      "\nCo-design Pareto front over hardware points and networks ({} of {}; minimising {}, "
      "maximising accuracy):\n",
      front.size(), m.size(), fmt::join(metrics, ", "));
  std::string head = fmt::format("  {:>5}  {:<16}", "point", "trace");
  for (const auto& k : s.keys()) head += fmt::format("  {:>14}", k.substr(k.rfind('.') + 1));
  for (const auto& k : metrics) head += fmt::format("  {:>14}", k);
  std::cout << head << fmt::format("  {:>9}\n", "accuracy");
  for (size_t f : front) {
    std::string line = fmt::format("  {:>5}  {:<16}", c.rows[f][0], c.rows[f][ti]);
    for (int i : ki) line += fmt::format("  {:>14}", c.rows[f][i]);
    for (size_t k = 0; k + 1 < m[f].size(); ++k) line += fmt::format("  {:>14.6g}", m[f][k]);
    std::cout << line << fmt::format("  {:>8.2f}%\n", -100 * m[f].back());
  }
}

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
  print_codesign_front(c, metrics, mi, ki, s);
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The documented Slurm job array as files: N shards, each `eatsim sweep --shard K/N` into
// OUT/shards/K, then `eatsim sweep merge` into OUT/merged once every shard succeeded.
int emit_slurm(const sweep::Spec& s, const std::string& sweep_file, const std::string& out, int n, int jobs) {
  require_range("emit-slurm", n, 1, 100000, "1..100000 shards");
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string exe = fs::read_symlink("/proc/self/exe", ec).string();
  const std::string bin = ec ? "eatsim" : exe;
  const std::string file = fs::absolute(sweep_file).lexically_normal().string();
  const std::string dir = fs::absolute(out).lexically_normal().string();
  fs::create_directories(dir + "/slurm", ec);
  if (ec) throw FileError(fmt::format("{}/slurm: cannot create it ({})", dir, ec.message()));
  const std::string cpus = jobs > 0 ? std::to_string(jobs) : "${SLURM_CPUS_PER_TASK:-1}";
  atomic_write(
      dir + "/slurm/sweep.sbatch",
      fmt::format("#!/bin/bash\n"
                  "#SBATCH --job-name=eatsim-{0}\n"
                  "#SBATCH --array=1-{1}\n"
                  "#SBATCH --output={2}/slurm/shard-%a.log\n"
                  "# One shard of sweep {3}; rerunning a shard resumes it (finished results are kept).\n"
                  "set -euo pipefail\n"
                  "exec {4} sweep {5} --shard ${{SLURM_ARRAY_TASK_ID}}/{1} --jobs {6} -q --out "
                  "{7}/shards/${{SLURM_ARRAY_TASK_ID}}\n",
                  s.name, n, dir, file, shell_quote(bin), shell_quote(file), cpus, shell_quote(dir)));
  atomic_write(dir + "/slurm/merge.sbatch",
               fmt::format("#!/bin/bash\n"
                           "#SBATCH --job-name=eatsim-{0}-merge\n"
                           "#SBATCH --output={1}/slurm/merge.log\n"
                           "set -euo pipefail\n"
                           "shards=()\n"
                           "for k in $(seq 1 {4}); do shards+=({3}/shards/$k); done\n"
                           "exec {2} sweep merge --out {3}/merged \"${{shards[@]}}\"\n",
                           s.name, dir, shell_quote(bin), shell_quote(dir), n));
  atomic_write(
      dir + "/slurm/submit.sh",
      fmt::format(
          "#!/bin/bash\n"
          "# Submits the {0} shards of sweep {1} as a job array and the merge after them.\n"
          "set -euo pipefail\n"
          "cd {2}/slurm\n"
          "array=$(sbatch --parsable sweep.sbatch)\n"
          "merge=$(sbatch --parsable --dependency=afterok:${{array%%;*}} merge.sbatch)\n"
          "echo \"array job ${{array%%;*}}, merge job ${{merge%%;*}}: results in {3}/merged/results.csv\"\n",
          n, file, shell_quote(dir), dir));
  fs::permissions(dir + "/slurm/submit.sh",
                  fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add, ec);
  std::cout << fmt::format(
      "wrote {0}/slurm/sweep.sbatch ({1} shards), merge.sbatch and submit.sh; run: bash "
      "{0}/slurm/submit.sh\n",
      dir, n);
  return 0;
}

int run(const Args& args) {
  po::options_description opts("options");
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  opts.add_options()("sweep", po::value<std::string>()->required(), "sweep file (docs/sweeps.md)")(
      "out,o", po::value<std::string>(), "output directory (default: the sweep's name)")(
      "jobs,j", po::value<int>()->default_value(static_cast<int>(cores)), "parallel workers")(
      "shard", po::value<std::string>()->default_value("1/1"), "run only shard K of N (K/N) of the grid")(
      "quiet,q", po::bool_switch(), "no progress bar")(
      "emit-slurm", po::value<int>(),
      "write OUT/slurm/{sweep,merge}.sbatch and submit.sh for N shards (a job array, then the merge as a "
      "dependent job) instead of running; docs/sweeps.md");
  po::positional_options_description pos;
  pos.add("sweep", 1);
  po::variables_map vm;
  if (!parse("sweep", "SWEEP.yaml [--out DIR --jobs N --shard K/N | --emit-slurm N]", args, opts, pos, vm))
    return 0;
  sweep::Spec s = sweep::load_spec(vm["sweep"].as<std::string>());
  if (vm.count("emit-slurm")) {
    const std::string out = vm.count("out") ? vm["out"].as<std::string>() : s.name;
    return emit_slurm(s, vm["sweep"].as<std::string>(), out, vm["emit-slurm"].as<int>(),
                      vm["jobs"].defaulted() ? 0 : vm["jobs"].as<int>());
  }
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
