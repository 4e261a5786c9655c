// Energy regression check: compares a simulation report (JSON) with a golden one, metric by metric
// and layer by layer, under per-metric relative and absolute tolerances.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace eatsim::sim {

struct Tolerance {
  double rel = 0, abs = 0;  // |report − golden| ≤ abs + rel·|golden| passes
};

struct Tolerances {
  Tolerance counters;                    // integer event counts, cycles, bytes: exact by default
  Tolerance floats{1e-9, 0};             // energies, power, EDP, utilisation, ratios
  std::map<std::string, Tolerance> per;  // per metric name; NaN fields fall back to the metric's class
  std::string source = "built-in defaults";
  Tolerance of(const std::string& metric, bool is_float) const;
};

// Reads a tolerance file (docs/regression.md); `known` lists the metric names a report carries,
// and any other name is an error (ConfigError with file:line).
Tolerances load_tolerances(const std::string& path, const std::vector<std::string>& known);

struct Report {
  std::string file;
  int format = 0;
  std::string model, hw_name, hw_hash, trace_hash;
  int64_t samples = 0;
  std::vector<std::string> layers;  // in order, "total" last
  // layer -> metric -> mean over samples
  std::map<std::string, std::map<std::string, double>> values;
  std::vector<std::string> metrics;      // every metric name, report order
  std::map<std::string, bool> is_float;  // metric -> derived floating value
};
// Parses a report written by `eatsim sim --out`; a truncated or foreign file is a TraceError.
Report read_report(const std::string& path);

struct Moved {
  std::string layer, metric;
  double golden = 0, report = 0;
  Tolerance tol;
  bool fail = false;
};

struct CheckOutcome {
  std::vector<Moved> moved;  // every metric that differs at all
  int failures = 0;
  int compared = 0;
};

// Refuses (ConfigError) a comparison across report formats, networks, hwconfigs or traces.
CheckOutcome compare(const Report& report, const Report& golden, const Tolerances& tol);
std::string format_outcome(const CheckOutcome& o, size_t max_rows = 40);

}  // namespace eatsim::sim
