// Reports of a simulation (per-layer table, CSV, JSON, summary columns): see report.hpp.
#include "sim/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "base/errors.hpp"
#include "base/json.hpp"
#include "traces/trace.hpp"

namespace eatsim::sim {

Metrics metrics_of(const SimResult& r, const Counters& c, int64_t cycles, const Counters* dense,
                   int64_t dense_cycles) {
  const HwConfig& hw = r.hw;
  Metrics m;
  m.cycles = cycles;
  double slots = double(hw.pe_count()) * double(std::max<int64_t>(cycles, 1));
  m.util_effective = double(c.mac_effective) / slots;
  m.util_dense = double(c.mac_dense) / slots;
  m.energy = energy_of(r.energy, c);
  m.energy_pj = m.energy.total();
  double us = double(cycles) / hw.array.clock_mhz;
  m.power_mw = us > 0 ? m.energy_pj / us / 1000.0 : 0;  // pJ/us = uW
  m.edp_pj_us = m.energy_pj * us;
  m.dma_bound = c.dma_busy_cycles > c.compute_cycles();
  // With no sparsity feature the run is its own dense reference: both ratios are exactly 1.
  m.energy_ratio = 1, m.speedup = 1;
  if (dense) {
    double de = energy_of(r.energy_dense, *dense).total();
    m.energy_ratio = de > 0 ? m.energy_pj / de : 1;
    m.speedup = cycles > 0 ? double(dense_cycles) / double(cycles) : 1;
  }
  return m;
}

std::vector<Metrics> total_metrics(const SimResult& r) {
  std::vector<Counters> t = r.totals();
  const bool sparse = !r.layers.empty() && !r.layers.front().dense.empty();
  std::vector<Metrics> out;
  for (size_t s = 0; s < t.size(); ++s) {
    int64_t cycles = 0, dcycles = 0;
    Counters dt;
    for (const auto& l : r.layers) {
      cycles += reported_cycles(r.hw, l.group, l.samples[s]);
      if (sparse) dcycles += reported_cycles(r.hw, l.group, l.dense[s]), dt += l.dense[s];
    }
    out.push_back(metrics_of(r, t[s], cycles, sparse ? &dt : nullptr, dcycles));
  }
  return out;
}

std::vector<std::pair<std::string, double>> summary_columns(const SimResult& r) {
  std::vector<Metrics> m = total_metrics(r);
  std::vector<Counters> t = r.totals();
  double n = double(std::max<size_t>(m.size(), 1));
  auto mean = [&](auto f) {
    double s = 0;
    for (size_t i = 0; i < m.size(); ++i) s += f(i);
    return s / n;
  };
  std::vector<std::pair<std::string, double>> out = {
      {"energy_pj", mean([&](size_t i) { return m[i].energy_pj; })},
      {"cycles", mean([&](size_t i) { return double(m[i].cycles); })},
      {"util_effective", mean([&](size_t i) { return m[i].util_effective; })},
      {"util_dense", mean([&](size_t i) { return m[i].util_dense; })},
      {"power_mw", mean([&](size_t i) { return m[i].power_mw; })},
      {"edp_pj_us", mean([&](size_t i) { return m[i].edp_pj_us; })},
      {"dram_bytes", mean([&](size_t i) { return double(t[i].dram_rd_bytes() + t[i].dram_wr_bytes); })},
      {"energy_ratio", mean([&](size_t i) { return m[i].energy_ratio; })},
      {"speedup", mean([&](size_t i) { return m[i].speedup; })},
      {"pe_count", double(r.hw.pe_count())},
      {"sram_kb", r.hw.sram_kb()}};
  EnergyBreakdown probe;
  for (size_t k = 0; k < probe.components().size(); ++k)
    out.push_back({"energy_" + probe.components()[k].first + "_pj",
                   mean([&](size_t i) { return m[i].energy.components()[k].second; })});
  return out;
}

namespace {

struct Stat {
  double min = 0, mean = 0, max = 0;
};
template <class F>
Stat stat(size_t n, F f) {
  Stat s;
  for (size_t i = 0; i < n; ++i) {
    double v = f(i);
    if (i == 0 || v < s.min) s.min = v;
    if (i == 0 || v > s.max) s.max = v;
    s.mean += v;
  }
  if (n) s.mean /= double(n);
  return s;
}

// One row of the report (a layer or the total) as metrics per sample.
struct Row {
  std::string name, kind, fused, tiling;
  std::string sparsity;         // per-layer policy: "on" / "off"; "" otherwise
  int64_t M = 0, K = 0, N = 0;  // one group's GEMM
  int64_t groups = 0;           // GEMMs of that shape (grouped conv); 0 for PPU rows and the total
  std::vector<Counters> c;
  std::vector<Metrics> m;
};

std::vector<Row> rows_of(const SimResult& r) {
  std::vector<Row> rows;
  for (const auto& l : r.layers) {
    Row row{l.group.name,
            l.group.kind(),
            l.fused,
            l.tiling,
            l.sparsity_on < 0 ? "" : (l.sparsity_on ? "on" : "off"),
            l.group.shape.M,
            l.group.shape.K,
            l.group.shape.N,
            l.group.gemm >= 0 ? l.group.shape.groups : 0,
            l.samples,
            {}};
    for (size_t s = 0; s < l.samples.size(); ++s) {
      const Counters& c = l.samples[s];
      const Counters* d = l.dense.empty() ? nullptr : &l.dense[s];
      row.m.push_back(
          metrics_of(r, c, reported_cycles(r.hw, l.group, c), d, d ? reported_cycles(r.hw, l.group, *d) : 0));
    }
    rows.push_back(std::move(row));
  }
  rows.push_back(Row{"total", "total", "", "", "", 0, 0, 0, 0, r.totals(), total_metrics(r)});
  return rows;
}

std::string num(double v) { return fmt::format("{}", v); }

int64_t sram_bytes(const HwConfig& hw, const Counters& c, int b, bool rd) {
  return (rd ? c.sram_rd(b) : c.sram_wr(b)) * hw.buf[b].word_bits / 8;
}

// Named per-sample values every report shows, beyond the raw counters.
using DerivedList = std::vector<std::pair<std::string, std::function<double(const Row&, size_t)>>>;
DerivedList derived(const HwConfig& hw) {
  DerivedList d = {
      {"cycles", [](const Row& r, size_t s) { return double(r.m[s].cycles); }},
      {"cycles_compute", [](const Row& r, size_t s) { return double(r.c[s].compute_cycles()); }},
      {"dma_bound", [](const Row& r, size_t s) { return r.m[s].dma_bound ? 1.0 : 0.0; }},
      {"util_effective", [](const Row& r, size_t s) { return r.m[s].util_effective; }},
      {"util_dense", [](const Row& r, size_t s) { return r.m[s].util_dense; }},
  };
  for (int b = 0; b < kNumBufs; ++b)
    for (bool rd : {true, false})
      d.push_back({fmt::format("sram_{}_{}_bytes", buffer_name(b), rd ? "rd" : "wr"),
                   [&hw, b, rd](const Row& r, size_t s) { return double(sram_bytes(hw, r.c[s], b, rd)); }});
  d.push_back({"dram_rd_bytes", [](const Row& r, size_t s) { return double(r.c[s].dram_rd_bytes()); }});
  EnergyBreakdown probe;
  for (size_t i = 0; i < probe.components().size(); ++i)
    d.push_back({"energy_" + probe.components()[i].first + "_pj",
                 [i](const Row& r, size_t s) { return r.m[s].energy.components()[i].second; }});
  d.push_back({"energy_pj", [](const Row& r, size_t s) { return r.m[s].energy_pj; }});
  d.push_back({"power_mw", [](const Row& r, size_t s) { return r.m[s].power_mw; }});
  d.push_back({"edp_pj_us", [](const Row& r, size_t s) { return r.m[s].edp_pj_us; }});
  d.push_back({"ideal_skip_cycles", [&hw](const Row& r, size_t s) {
                 return std::ceil(double(r.c[s].mac_nonzero) / double(hw.pe_count()));
               }});
  d.push_back({"zero_gslice_frac", [](const Row& r, size_t s) {
                 return r.c[s].gslices ? double(r.c[s].gslices_zero) / double(r.c[s].gslices) : 0.0;
               }});
  d.push_back({"act_density_fp32", [](const Row& r, size_t s) {
                 return r.c[s].act_elems ? double(r.c[s].act_nonzero_fp32) / double(r.c[s].act_elems) : 0.0;
               }});
  d.push_back({"act_density", [](const Row& r, size_t s) {
                 return r.c[s].act_elems ? double(r.c[s].act_nonzero) / double(r.c[s].act_elems) : 0.0;
               }});
  d.push_back({"weight_density_fp32", [](const Row& r, size_t s) {
                 return r.c[s].weight_elems ? double(r.c[s].weight_nonzero_fp32) / double(r.c[s].weight_elems)
                                            : 0.0;
               }});
  d.push_back({"weight_density", [](const Row& r, size_t s) {
                 return r.c[s].weight_elems ? double(r.c[s].weight_nonzero) / double(r.c[s].weight_elems)
                                            : 0.0;
               }});
  d.push_back({"energy_ratio", [](const Row& r, size_t s) { return r.m[s].energy_ratio; }});
  d.push_back({"speedup", [](const Row& r, size_t s) { return r.m[s].speedup; }});
  return d;
}

Json stat_json(const Stat& s) { return Json{{"min", s.min}, {"mean", s.mean}, {"max", s.max}}; }

// The functional verification of a row over its samples: worst |engine - reference| / tolerance,
// the quantisation error against the recorded output, and the scales (max|x| over all samples).
VerifyStats worst_of(const std::vector<VerifyStats>& checks) {
  VerifyStats m;
  for (const auto& c : checks) {
    m.worst_ratio = std::max(m.worst_ratio, c.worst_ratio);
    m.quant_err_max = std::max(m.quant_err_max, c.quant_err_max);
    m.quant_err_rel = std::max(m.quant_err_rel, c.quant_err_rel);
    m.ifmap_scale = c.ifmap_scale, m.weight_scale = c.weight_scale;
  }
  return m;
}

}  // namespace

std::string format_table(const SimResult& r) {
  std::ostringstream o;
  const HwConfig& hw = r.hw;
  o << fmt::format("{} on {} ({}x{} {} {}, {} MHz), {} sample(s) from {}\n", r.model, hw.name, hw.array.rows,
                   hw.array.cols, dataflow_name(hw.array.dataflow), datatype_name(hw.array.datatype),
                   hw.array.clock_mhz, r.num_samples, r.source);
  // N of a grouped conv reads "N×groups" (per group): a depthwise layer is "1×C", the shape that
  // leaves a systolic array's columns idle (its dense% says how much).
  o << fmt::format("{:<22} {:>6} {:>6} {:>8} {:>12} {:>10} {:>10} {:>6} {:>6} {:>10} {:>11} {:>8}\n", "layer",
                   "M", "K", "N", "MACs", "cycles", "stall", "util%", "dense%", "DRAM KB", "energy uJ", "mW");
  for (const Row& row : rows_of(r)) {
    size_t n = row.c.size();
    auto mean = [&](auto f) { return stat(n, f).mean; };
    o << fmt::format(
        "{:<22} {:>6} {:>6} {:>8} {:>12.0f} {:>10.0f} {:>10.0f} {:>6.1f} {:>6.1f} {:>10.1f} {:>11.3f} "
        "{:>8.1f}\n",
        row.name.size() > 22 ? row.name.substr(0, 22) : row.name, row.M ? std::to_string(row.M) : "",
        row.K ? std::to_string(row.K) : "",
        row.N ? (row.groups > 1 ? fmt::format("{}x{}", row.N, row.groups) : std::to_string(row.N)) : "",
        mean([&](size_t s) { return double(row.c[s].mac_dense); }),
        mean([&](size_t s) { return double(row.m[s].cycles); }),
        mean([&](size_t s) { return double(row.c[s].cycles_stall); }),
        100 * mean([&](size_t s) { return row.m[s].util_effective; }),
        100 * mean([&](size_t s) { return row.m[s].util_dense; }),
        mean([&](size_t s) { return double(row.c[s].dram_rd_bytes() + row.c[s].dram_wr_bytes); }) / 1024,
        mean([&](size_t s) { return row.m[s].energy_pj; }) / 1e6,
        mean([&](size_t s) { return row.m[s].power_mw; }));
  }
  o << fmt::format(
      "area proxies: {} PEs, {} KB SRAM{}\n", hw.pe_count(), hw.sram_kb(),
      hw.scalesim_compat ? "; SCALE-Sim compatible: cycles are the index of each layer's last cycle" : "");
  return o.str();
}

std::string format_verification(const SimResult& r) {
  std::ostringstream o;
  o << fmt::format("functional check (engine schedule vs reference GEMM on {} operands)\n",
                   datatype_name(r.hw.array.datatype));
  o << fmt::format("{:<22} {:>12} {:>12} {:>12} {:>14} {:>10}\n", "layer", "in max|x|", "w max|x|",
                   "worst/tol", "quant err max", "rel");
  for (const auto& l : r.layers) {
    if (l.verified.empty()) continue;
    VerifyStats m = worst_of(l.verified);
    o << fmt::format("{:<22} {:>12.5g} {:>12.5g} {:>12.4f} {:>14.5g} {:>10.3g}\n",
                     l.group.name.size() > 22 ? l.group.name.substr(0, 22) : l.group.name, m.ifmap_scale,
                     m.weight_scale, m.worst_ratio, m.quant_err_max, m.quant_err_rel);
  }
  o << "all layers within tolerance\n";
  return o.str();
}

std::string to_csv(const SimResult& r) {
  std::ostringstream o;
  auto d = derived(r.hw);
  const bool per_layer = r.hw.sparsity.policy == SparsityPolicy::per_layer && r.hw.sparsity.any();
  o << "layer,kind,fused," << (per_layer ? "sparsity," : "") << "M,K,N,groups";
  for (const auto& i : counter_infos()) o << "," << i.name;
  for (const auto& [name, f] : d) o << "," << name;
  o << ",cycles_min,cycles_max,energy_pj_min,energy_pj_max\n";
  for (const Row& row : rows_of(r)) {
    size_t n = row.c.size();
    o << row.name << "," << row.kind << ",\"" << row.fused << "\"," << (per_layer ? row.sparsity + "," : "")
      << row.M << "," << row.K << "," << row.N << "," << row.groups;
    for (const auto& i : counter_infos())
      o << "," << num(stat(n, [&](size_t s) { return double(row.c[s].*i.field); }).mean);
    for (const auto& [name, f] : d)
      o << "," << num(stat(n, [&, &f = f](size_t s) { return f(row, s); }).mean);
    Stat cy = stat(n, [&](size_t s) { return double(row.m[s].cycles); });
    Stat en = stat(n, [&](size_t s) { return row.m[s].energy_pj; });
    o << "," << num(cy.min) << "," << num(cy.max) << "," << num(en.min) << "," << num(en.max) << "\n";
  }
  return o.str();
}

// The architecture only: energy tables are left out so that a changed energy entry shows up in
// `eatsim check` as the energy regression it is, not as a comparison across different hardware.
std::string hw_hash(const HwConfig& hw) {
  HwConfig arch = hw;
  arch.energy = EnergyConfig{};
  arch.name = arch.description = arch.file = "";
  // A per-layer policy is identified by its calibration trace's content, not by the path to it.
  if (arch.sparsity.policy == SparsityPolicy::per_layer && !arch.sparsity.calibration.empty()) {
    try {
      arch.sparsity.calibration = "trace " + trace_hash(TraceReader(arch.sparsity.calibration));
    } catch (const Error&) {  // unreadable: the simulation itself says so; hash the path meanwhile
    }
  }
  return content_hash(hwconfig_to_yaml(arch));
}

namespace {

Json layer_json(const Row& row, const DerivedList& d, const LayerRecord* rec) {
  const size_t n = row.c.size();
  Json l{{"name", row.name}, {"kind", row.kind}, {"fused", row.fused}, {"tiling", row.tiling}};
  if (!row.sparsity.empty()) l["sparsity"] = row.sparsity;
  l["M"] = row.M, l["K"] = row.K, l["N"] = row.N, l["groups"] = row.groups;
  Json& counters = l["counters"] = Json::object();
  for (const auto& i : counter_infos())
    counters[i.name] = stat_json(stat(n, [&](size_t s) { return double(row.c[s].*i.field); }));
  Json& derived = l["derived"] = Json::object();
  for (const auto& [name, f] : d)
    derived[name] = stat_json(stat(n, [&, &f = f](size_t s) { return f(row, s); }));
  if (rec && !rec->verified.empty()) {
    VerifyStats m = worst_of(rec->verified);
    l["check"] = Json{{"worst_over_tolerance", m.worst_ratio},
                      {"quant_err_max", m.quant_err_max},
                      {"quant_err_rel", m.quant_err_rel},
                      {"ifmap_max_abs", m.ifmap_scale},
                      {"weight_max_abs", m.weight_scale}};
  }
  return l;
}

}  // namespace

std::string to_json(const SimResult& r) {
  const HwConfig& hw = r.hw;
  Json j{{"report_format", kReportFormat}, {"model", r.model},       {"source", r.source},
         {"samples", r.num_samples},       {"hw_hash", hw_hash(hw)}, {"trace_hash", r.trace_hash}};
  j["hw"] = Json{{"name", hw.name},
                 {"file", hw.file},
                 {"rows", hw.array.rows},
                 {"cols", hw.array.cols},
                 {"dataflow", dataflow_name(hw.array.dataflow)},
                 {"datatype", datatype_name(hw.array.datatype)},
                 {"clock_mhz", double(hw.array.clock_mhz)},
                 {"scalesim_compat", hw.scalesim_compat},
                 {"pe_count", hw.pe_count()},
                 {"sram_kb", double(hw.sram_kb())}};
  Json& desc = j["counter_descriptions"] = Json::object();
  for (const auto& i : counter_infos()) desc[i.name] = i.description;
  Json& layers = j["layers"] = Json::array();
  const DerivedList d = derived(hw);
  const std::vector<Row> rows = rows_of(r);
  for (size_t k = 0; k < rows.size(); ++k)
    layers.push_back(layer_json(rows[k], d, k < r.layers.size() ? &r.layers[k] : nullptr));
  return write_json(j);
}

}  // namespace eatsim::sim
