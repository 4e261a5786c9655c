// The simulator as a sweep evaluator; see sim_evaluator.hpp.
#include "sim/sweep/sim_evaluator.hpp"

#include <fmt/format.h>

#include "base/errors.hpp"
#include "sim/hwconfig.hpp"
#include "sim/report.hpp"
#include "sim/run.hpp"
#include "sim/scalesim_files.hpp"
#include "sim/trace_data.hpp"
#include "traces/trace.hpp"

namespace eatsim::sweep {

namespace {
bool is_scalesim_config(const std::string& base) {
  return base.size() > 4 && base.compare(base.size() - 4, 4, ".cfg") == 0;
}
}  // namespace

struct SimEvaluator::Impl {
  const Spec& spec;
  std::vector<std::unique_ptr<TraceReader>> traces;     // null for a topology
  std::vector<std::unique_ptr<sim::TraceData>> values;  // loaded once, shared read-only by the workers
  std::vector<std::vector<scalesim::Layer>> layers;     // a topology's layers
  std::unique_ptr<scalesim::Config> scalesim;           // the base, when it is a SCALE-Sim config

  sim::HwConfig hw(const std::vector<std::string>& overrides) const {
    return scalesim ? scalesim::hwconfig_of(*scalesim, overrides) : sim::load_hwconfig(spec.base, overrides);
  }
};

SimEvaluator::SimEvaluator(const Spec& s) : p_(new Impl{s, {}, {}, {}, nullptr}) {
  if (is_scalesim_config(s.base))
    p_->scalesim = std::make_unique<scalesim::Config>(scalesim::read_config(s.base));
  // The traces' values are loaded only when some point can turn a sparsity feature on.
  bool values = p_->hw({}).sparsity.any();  // a bad base config fails here, once, not at every point
  for (const auto& g : s.groups)
    for (const auto& prm : g) values |= prm.key.rfind("sparsity.", 0) == 0;
  for (const auto& t : s.traces) {
    if (t.topology) {
      p_->traces.push_back(nullptr), p_->values.push_back(nullptr);
      p_->layers.push_back(scalesim::read_topology(t.path, t.gemm));
      continue;
    }
    p_->traces.push_back(std::make_unique<TraceReader>(t.path));
    p_->layers.emplace_back();
    const TraceReader& tr = *p_->traces.back();
    p_->values.push_back(values ? std::make_unique<sim::TraceData>(tr, tr.manifest().num_samples())
                                : nullptr);
  }
  // An unknown or mistyped key fails here too, naming the sweep file.
  for (const auto& g : s.groups)
    for (const auto& prm : g) {
      try {
        p_->hw({prm.key + "=" + prm.values.front()});
      } catch (const ConfigError& e) {
        std::string first = e.lines().empty() ? e.what() : e.lines().front();
        if (first.find(prm.key) != std::string::npos && first.find("unknown") != std::string::npos)
          throw ConfigError(
              fmt::format("{}: params: '{}' is not a hwconfig key ({})", s.file, prm.key, first));
      }
    }
}

SimEvaluator::~SimEvaluator() = default;

std::vector<std::pair<std::string, double>> SimEvaluator::evaluate(const Point& p, size_t t) const {
  std::vector<std::string> overrides;
  for (const auto& [k, v] : p.assign) overrides.push_back(k + "=" + v);
  sim::HwConfig hw = p_->hw(overrides);
  sim::SimResult r = p_->traces[t] ? sim::simulate(hw, *p_->traces[t], {}, p_->values[t].get())
                                   : scalesim::simulate(hw, p_->layers[t], {});
  auto cols = sim::summary_columns(r);
  double e = 0;
  for (const auto& [k, v] : cols)
    if (k == "energy_pj") e = v;
  cols.insert(cols.begin(), {"energy_uj", e / 1e6});
  return cols;
}

std::vector<std::pair<std::string, std::string>> SimEvaluator::trace_columns(size_t t) const {
  if (!p_->traces[t])  // a SCALE-Sim topology: shapes only, no training behind it
    return {{"model", p_->spec.traces[t].name},
            {"dataset", ""},
            {"samples", "1"},
            {"accuracy", "nan"},
            {"lambda", "nan"},
            {"sigma", "nan"}};
  const Manifest& m = p_->traces[t]->manifest();
  return {{"model", m.graph.name},
          {"dataset", m.meta.dataset},
          {"samples", std::to_string(m.num_samples())},
          {"accuracy", fmt::format("{}", m.meta.accuracy)},
          {"lambda", fmt::format("{}", m.meta.lambda)},
          {"sigma", fmt::format("{}", m.meta.sigma)}};
}

}  // namespace eatsim::sweep
