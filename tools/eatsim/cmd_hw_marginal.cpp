// eatsim hw marginal: the simulator's energy per non-zero of each penalised tensor of a trace on a
// hardware configuration (sim/marginal.hpp): a table, and CSV/JSON others can load.
#include <fmt/format.h>

#include <iostream>

#include "base/files.hpp"
#include "base/json.hpp"
#include "sim/hwconfig.hpp"
#include "sim/marginal.hpp"
#include "tools/eatsim/command.hpp"
#include "traces/trace.hpp"
#include "trainer/penalty.hpp"

namespace eatsim::cli {
namespace {

// Columns of the CSV and keys of the JSON, per tensor: pJ per non-zero by energy component.
std::vector<std::pair<std::string, double>> per_nonzero(const sim::MarginalRow& r) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [name, pj] : r.delta.components())
    out.emplace_back(name, r.removed > 0 ? pj / r.removed : 0.0);
  return out;
}

std::string csv(const sim::MarginalResult& m) {
  std::string s = "tensor,seen,elements,nonzero,density,removed,pj_per_nonzero";
  if (!m.rows.empty())
    for (const auto& [name, v] : per_nonzero(m.rows[0])) s += ",pj_per_nonzero_" + name;
  s += "\n";
  for (const sim::MarginalRow& r : m.rows) {
    s += fmt::format("{},{},{},{},{},{},{}", r.tensor, r.seen ? 1 : 0, r.elements, r.nonzero,
                     r.elements ? r.nonzero / double(r.elements) : 0.0, r.removed, r.pj_per_nonzero());
    for (const auto& [name, v] : per_nonzero(r)) s += fmt::format(",{}", v);
    s += "\n";
  }
  return s;
}

std::string json(const sim::MarginalResult& m, double fraction) {
  Json j;
  j["hw"] = m.hw, j["trace"] = m.trace, j["samples"] = m.samples, j["fraction"] = fraction;
  j["energy_pj_per_sample"] = m.energy.total();
  Json rows = Json::array();
  for (const sim::MarginalRow& r : m.rows) {
    Json o;
    o["tensor"] = r.tensor, o["seen"] = r.seen, o["elements"] = r.elements, o["nonzero"] = r.nonzero,
    o["removed"] = r.removed;
    o["pj_per_nonzero"] = r.pj_per_nonzero();
    Json c;
    for (const auto& [name, v] : per_nonzero(r)) c[name] = v;
    o["pj_per_nonzero_by_component"] = c;
    rows.push_back(o);
  }
  j["tensors"] = rows;
  return write_json(j);
}

void print_table(const sim::MarginalResult& m) {
  std::cout << fmt::format("{} on {}: {:.4g} uJ per sample over {} sample(s)\n", m.trace, m.hw,
                           m.energy.total() * 1e-6, m.samples);
  std::cout << fmt::format("{:<28} {:>10} {:>8} {:>12}  {}\n", "tensor", "elements", "density", "pJ/non-zero",
                           "largest components (pJ/non-zero)");
  for (const sim::MarginalRow& r : m.rows) {
    if (!r.seen) {
      std::cout << fmt::format("{:<28} not seen by the simulator (consumed inside a row's PPU chain): 0\n",
                               r.tensor);
      continue;
    }
    auto parts = per_nonzero(r);
    std::sort(parts.begin(), parts.end(),
              [](const auto& a, const auto& b) { return std::fabs(a.second) > std::fabs(b.second); });
    std::string top;
    for (size_t i = 0; i < std::min<size_t>(3, parts.size()); ++i)
      if (parts[i].second != 0)
        top += fmt::format("{}{} {:.3g}", top.empty() ? "" : ", ", parts[i].first, parts[i].second);
    std::cout << fmt::format("{:<28} {:>10} {:>8.4f} {:>12.4g}  {}\n", r.tensor, r.elements,
                             r.nonzero / double(r.elements), r.pj_per_nonzero(), top);
  }
}

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("config", po::value<std::string>()->required(), "hwconfig file or preset name")(
      "trace", po::value<std::string>()->required(), "trace directory")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a key: --set array.rows=16")(
      "penalty-layers", po::value<std::string>()->default_value("relu"),
      "tensors: reference | relu | activations | all | comma-separated node names (as eatsim train)")(
      "fraction", po::value<double>()->default_value(0.05),
      "share of a tensor's non-zeros zeroed to difference")("seed", po::value<uint64_t>()->default_value(1),
                                                            "which non-zeros")(
      "samples,n", po::value<int64_t>()->default_value(0), "the first N samples of the trace (0: all)")(
      "csv", po::value<std::string>(), "also write the table as CSV")("json", po::value<std::string>(),
                                                                      "also write it as JSON");
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  if (!parse("hw marginal", "FILE|PRESET --trace DIR [--penalty-layers relu] [--csv F] [--json F]", args,
             opts, pos, vm))
    return 0;
  std::vector<std::string> sets;
  if (vm.count("set")) sets = vm["set"].as<std::vector<std::string>>();
  sim::HwConfig hw = sim::load_hwconfig(vm["config"].as<std::string>(), sets);
  TraceReader tr(vm["trace"].as<std::string>());
  sim::MarginalOptions o;
  o.fraction = vm["fraction"].as<double>();
  require_range("fraction", o.fraction, 1e-9, 1, "in (0, 1]");
  o.seed = vm["seed"].as<uint64_t>();
  o.samples = vm["samples"].as<int64_t>();
  require_range("samples", double(o.samples), 0, 1e12, "zero (all) or positive");
  PenaltyConfig pc;
  pc.lambda = 1, pc.layers = vm["penalty-layers"].as<std::string>();
  std::vector<std::string> names;
  for (int i : resolve_penalty(tr.graph(), pc)) names.push_back(tr.graph().nodes[size_t(i)].name);
  if (names.empty()) throw UsageError("--penalty-layers selects no tensor of " + tr.dir());
  const sim::MarginalResult m = sim::marginal_energy(hw, tr, names, o);
  if (vm.count("csv")) atomic_write(vm["csv"].as<std::string>(), csv(m));
  if (vm.count("json")) atomic_write(vm["json"].as<std::string>(), json(m, o.fraction));
  print_table(m);
  return 0;
}

Register reg("hw marginal",
             "energy per non-zero of each penalised tensor of a trace on a hardware configuration", run);

}  // namespace
}  // namespace eatsim::cli
