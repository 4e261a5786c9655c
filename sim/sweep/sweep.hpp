// Co-design sweeps: a grid of hardware-config overrides × traces, expanded deterministically,
// evaluated in parallel, resumable after any kill (one atomically written JSON per result; the
// CSV is rebuilt from them), shardable across machines, and mergeable.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "sim/sweep/expr.hpp"

namespace eatsim::sweep {

struct Param {
  std::string key;                  // a hwconfig key path, e.g. "array.rows"
  std::vector<std::string> values;  // as written (numbers keep their spelling)
};

struct TraceRef {
  std::string name, path;  // path resolved relative to the sweep file
  bool topology = false;   // a SCALE-Sim topology CSV (`topology:` instead of `path:`), shapes only
  bool gemm = false;       // its rows are GEMMs ('Layer, M, N, K')
};

struct Spec {
  std::string file;  // the sweep file
  std::string text;  // its contents (copied into outputs, hashed)
  std::string hash;  // FNV-1a of the contents, hex
  std::string name;
  std::string base;                        // hwconfig preset name or path (resolved), or a SCALE-Sim .cfg
  std::vector<std::vector<Param>> groups;  // each group is zipped; groups are crossed
  std::vector<Expr> constraints;
  std::vector<TraceRef> traces;
  int64_t max_points = 1000000;  // `max_points:` in the file: a larger grid is refused before it is built
  std::vector<std::string> keys() const;  // every varied key, in order
};

// Parses a sweep file (format in docs/sweeps.md); every problem is a ConfigError with file:line.
Spec load_spec(const std::string& path);
Spec parse_spec(const std::string& text, const std::string& file);

using Assignment = std::vector<std::pair<std::string, std::string>>;  // key -> value, in Spec::keys() order

struct Point {
  int64_t id = 0;  // index in the full crossed grid (stable under constraints and sharding)
  Assignment assign;
};

// Every point that satisfies the constraints, in id order. `total` receives the grid size before
// constraints. Throws ConfigError when the constraints remove every point.
std::vector<Point> expand(const Spec& s, int64_t* total = nullptr);

// Evaluates one (point, trace): returns named metrics in a fixed order. Must be thread-safe.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual std::vector<std::pair<std::string, double>> evaluate(const Point& p, size_t trace) const = 0;
  // Per-trace descriptive columns (accuracy, lambda, sigma, ...), same keys for every trace.
  virtual std::vector<std::pair<std::string, std::string>> trace_columns(size_t trace) const = 0;
  // The three metrics the Pareto summary minimises (e.g. energy, cycles, an area proxy).
  virtual std::vector<std::string> pareto_metrics() const = 0;
};

struct Shard {
  int k = 1, n = 1;  // this is shard k of n (1-based)
};
Shard parse_shard(const std::string& s);  // "K/N"; throws UsageError when out of range

struct RunOptions {
  std::string out_dir;
  int jobs = 1;
  Shard shard;
  bool progress = true;
};

struct RunSummary {
  int64_t grid = 0, points = 0, in_shard = 0, results = 0, reused = 0, computed = 0;
};

RunSummary run(const Spec& s, const Evaluator& ev, const RunOptions& o);

// Rebuilds DIR/results.csv from DIR/points/*.json (sorted by point id, then trace).
void write_csv(const Spec& s, const std::string& dir, const Evaluator* ev);

struct MergeReport {
  int64_t expected = 0, found = 0;
  std::vector<std::string> missing, duplicated;
};
// Joins shard output directories into `out`; refuses shards of different sweep files.
MergeReport merge(const std::vector<std::string>& shard_dirs, const std::string& out);

// A number as sweeps write it (range values, CSV metrics): integers without a decimal point.
std::string format_number(double v);

// Non-dominated rows (indices) for minimising every column of `m`.
std::vector<size_t> pareto_front(const std::vector<std::vector<double>>& m);

}  // namespace eatsim::sweep
