// The simulator as a sweep evaluator: each point is the sweep's base hwconfig with the point's
// keys overridden (as `--set` would), run on each trace in fast mode; the row is the report's
// whole-network summary (sim/report.hpp summary_columns) plus energy in µJ.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "sim/sweep/sweep.hpp"

namespace eatsim::sweep {

class SimEvaluator : public Evaluator {
 public:
  explicit SimEvaluator(const Spec& s);  // opens every trace (TraceError names a bad one)
  ~SimEvaluator() override;
  std::vector<std::pair<std::string, double>> evaluate(const Point& p, size_t trace) const override;
  std::vector<std::pair<std::string, std::string>> trace_columns(size_t trace) const override;
  std::vector<std::string> pareto_metrics() const override {
    return {"energy_pj", "cycles", "pe_count", "sram_kb"};
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> p_;
};

}  // namespace eatsim::sweep
