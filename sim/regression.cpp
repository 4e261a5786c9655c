// Energy regression check; see regression.hpp and docs/regression.md.
#include "sim/regression.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/json.hpp"
#include "base/yaml_util.hpp"

namespace eatsim::sim {

Tolerance Tolerances::of(const std::string& metric, bool is_float) const {
  Tolerance t = is_float ? floats : counters;
  auto it = per.find(metric);
  if (it != per.end()) {  // a per-metric entry overrides the fields it names; the rest stay its class's
    if (!std::isnan(it->second.rel)) t.rel = it->second.rel;
    if (!std::isnan(it->second.abs)) t.abs = it->second.abs;
  }
  return t;
}

namespace {
Tolerance read_tol(yamlu::Map& parent, const std::string& key, Tolerance fallback) {
  YAML::Node n = parent.node(key);
  if (!n) return fallback;
  yamlu::Map m(n, parent.key_path(key), parent.diag());
  Tolerance t = fallback;
  t.rel = m.get<double>("rel", t.rel);
  t.abs = m.get<double>("abs", t.abs);
  if (t.rel < 0 || t.abs < 0)  // NaN (unset) compares false
    parent.diag().error(n, parent.key_path(key), "tolerances must be zero or positive");
  m.done();
  return t;
}
}  // namespace

Tolerances load_tolerances(const std::string& path, const std::vector<std::string>& known) {
  std::string text = read_text<ConfigError>(path);
  YAML::Node root = yamlu::parse<ConfigError>(text, path);
  yamlu::Diag d{path, {}};
  Tolerances t;
  t.source = path;
  yamlu::Map top(root, "", d);
  d.throw_if_any<ConfigError>();
  t.counters = read_tol(top, "counters", t.counters);
  t.floats = read_tol(top, "floats", t.floats);
  if (YAML::Node ms = top.node("metrics")) {
    yamlu::Map m(ms, "metrics", d);
    if (m.ok())
      for (auto it = ms.begin(); it != ms.end(); ++it) {
        std::string name = it->first.Scalar();
        if (std::find(known.begin(), known.end(), name) == known.end()) {
          d.error(it->first, "metrics." + name,
                  "unknown metric (a report has: counters such as cycles_stall, "
                  "mac_effective, dram_wr_bytes; derived ones such as cycles, energy_pj, energy_dram_pj)");
          m.node(name);
          continue;
        }
        t.per[name] = read_tol(m, name, {NAN, NAN});
      }
    m.done();
  }
  top.done();
  d.throw_if_any<ConfigError>();
  return t;
}

namespace {

// One row's metrics (means over samples) into r.values[name], recording each metric's class.
void read_layer_metrics(const Json& l, const std::string& name, const std::string& path, Report& r) {
  auto& vals = r.values[name];
  for (const char* group : {"counters", "derived"}) {
    const bool derived = std::string(group) == "derived";
    const Json& g = l.contains(group) ? l[group] : Json::object();
    if (!g.is_object())
      throw ConfigError(fmt::format("{}: layer '{}': '{}' is not an object", path, name, group));
    for (auto it = g.begin(); it != g.end(); ++it) {
      const std::string& m = it.key();
      vals[m] =
          json_get<double, ConfigError>(it.value(), "mean", fmt::format("{}: layer '{}': {}", path, name, m));
      if (!r.is_float.count(m)) {
        r.metrics.push_back(m);
        r.is_float[m] =
            derived && m != "cycles" && m != "cycles_compute" && m.find("bytes") == std::string::npos;
      }
    }
  }
}

}  // namespace

Report read_report(const std::string& path) {
  const Json j = parse_json<ConfigError>(read_text<ConfigError>(path), path);
  if (!j.is_object() || !j.contains("layers") || !j["layers"].is_array())
    throw ConfigError(fmt::format("{}: not an eatsim simulation report (no layers)", path));
  Report r;
  r.file = path;
  r.format = j.contains("report_format") ? json_get<int, ConfigError>(j, "report_format", path) : 0;
  r.model = json_get<std::string, ConfigError>(j, "model", path);
  r.samples = json_get<int64_t, ConfigError>(j, "samples", path);
  r.hw_name = json_get<std::string, ConfigError>(j.contains("hw") ? j["hw"] : Json(), "name", path + ": hw");
  r.hw_hash = j.contains("hw_hash") ? json_get<std::string, ConfigError>(j, "hw_hash", path) : "";
  r.trace_hash = j.contains("trace_hash") ? json_get<std::string, ConfigError>(j, "trace_hash", path) : "";
  for (const Json& l : j["layers"]) {
    std::string name = json_get<std::string, ConfigError>(l, "name", path + ": layers");
    r.layers.push_back(name);
    read_layer_metrics(l, name, path, r);
  }
  if (r.layers.empty() || r.layers.back() != "total")
    throw ConfigError(fmt::format("{}: the report has no total row (truncated?)", path));
  return r;
}

CheckOutcome compare(const Report& rep, const Report& gold, const Tolerances& tol) {
  auto refuse = [&](const std::string& what, const std::string& a, const std::string& b) {
    throw ConfigError(
        fmt::format("{}: the golden has {} '{}' but the report {} has '{}' (compare like with like, or "
                    "--update on purpose)",
                    gold.file, what, b, rep.file, a));
  };
  if (rep.format != gold.format)
    refuse("report format", std::to_string(rep.format), std::to_string(gold.format));
  if (rep.model != gold.model) refuse("network", rep.model, gold.model);
  if (rep.hw_hash != gold.hw_hash) refuse("hwconfig hash", rep.hw_hash, gold.hw_hash);
  if (rep.trace_hash != gold.trace_hash) refuse("trace hash", rep.trace_hash, gold.trace_hash);
  if (rep.samples != gold.samples)
    refuse("sample count", std::to_string(rep.samples), std::to_string(gold.samples));
  if (rep.layers != gold.layers)
    refuse("layer list", fmt::format("{} layers", rep.layers.size()),
           fmt::format("{} layers", gold.layers.size()));
  CheckOutcome o;
  for (const auto& layer : gold.layers) {
    const auto& gv = gold.values.at(layer);
    const auto& rv = rep.values.at(layer);
    for (const auto& m : gold.metrics) {
      auto gi = gv.find(m);
      if (gi == gv.end()) continue;
      auto ri = rv.find(m);
      if (ri == rv.end()) refuse("metric", "(none)", m);
      ++o.compared;
      double g = gi->second, r = ri->second;
      if (g == r) continue;
      Moved mv{layer, m, g, r, tol.of(m, gold.is_float.at(m)), false};
      mv.fail = !(std::fabs(r - g) <= mv.tol.abs + mv.tol.rel * std::fabs(g));
      o.failures += mv.fail;
      o.moved.push_back(mv);
    }
  }
  // Every row of a report carries its metrics: a golden with none compares nothing and must not pass.
  for (const auto& layer : gold.layers)
    if (gold.values.at(layer).empty())
      throw ConfigError(
          fmt::format("{}: layer '{}' has no metrics (a cut or edited golden? write it again with "
                      "eatsim check --update)",
                      gold.file, layer));
  return o;
}

std::string format_outcome(const CheckOutcome& o, size_t max_rows) {
  std::string s = fmt::format("{:<24} {:<26} {:>16} {:>16} {:>10}  {}\n", "layer", "metric", "golden",
                              "report", "change", "verdict");
  std::vector<const Moved*> rows;
  for (const auto& m : o.moved) rows.push_back(&m);
  // Regressions first, the network total first among them.
  std::stable_sort(rows.begin(), rows.end(), [](const Moved* a, const Moved* b) {
    return std::make_pair(a->fail, a->layer == "total") > std::make_pair(b->fail, b->layer == "total");
  });
  for (size_t i = 0; i < rows.size() && i < max_rows; ++i) {
    const Moved& m = *rows[i];
    double rel = m.golden != 0 ? (m.report - m.golden) / std::fabs(m.golden) : INFINITY;
    s += fmt::format("{:<24} {:<26} {:>16.10g} {:>16.10g} {:>+9.3f}%  {} (tolerance rel {:g}, abs {:g})\n",
                     m.layer, m.metric, m.golden, m.report, 100 * rel,
                     m.fail ? "REGRESSION" : "within tolerance", m.tol.rel, m.tol.abs);
  }
  if (rows.size() > max_rows) s += fmt::format("... and {} more\n", rows.size() - max_rows);
  return s;
}

}  // namespace eatsim::sim
