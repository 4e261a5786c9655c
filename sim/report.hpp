// Reporting a simulation (sim/run.hpp makes it): per-layer table, CSV and JSON with counters,
// cycles, utilisation, traffic, energy per component, power, EDP, area proxies, min/mean/max over
// samples.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/result.hpp"

namespace eatsim::sim {

// Derived numbers of one run (a layer or the total, one sample).
struct Metrics {
  int64_t cycles = 0;                         // reported cycles (SCALE-Sim convention in compatible mode)
  double util_effective = 0, util_dense = 0;  // MACs / (R·C·cycles)
  EnergyBreakdown energy;
  double energy_pj = 0;
  double power_mw = 0;                   // energy / (cycles / clock)
  double edp_pj_us = 0;                  // energy × delay
  double energy_ratio = 1, speedup = 1;  // sparse features on vs the same hardware dense
  bool dma_bound = false;                // the DRAM channel was busier than the array
};
// One run on r's hardware, priced with r's energy tables. `dense` (and its cycles): the same run
// with the sparsity features off, for the ratios.
Metrics metrics_of(const SimResult& r, const Counters& c, int64_t reported_cycles,
                   const Counters* dense = nullptr, int64_t dense_cycles = 0);
// Whole-network metrics per sample (cycles: the sum of the rows' reported cycles) — what sweeps,
// the demo and regression checks compare.
std::vector<Metrics> total_metrics(const SimResult& r);
// Named whole-network figures, means over samples, in a fixed order (one sweep row): energy_pj,
// cycles, util_effective, util_dense, power_mw, edp_pj_us, dram_bytes, energy_ratio, speedup,
// pe_count, sram_kb, and energy per component (energy_<component>_pj).
std::vector<std::pair<std::string, double>> summary_columns(const SimResult& r);

std::string format_table(const SimResult& r);
std::string to_csv(const SimResult& r);
// Per layer: quantisation scales, the functional check's worst |engine - reference| / tolerance,
// and the quantisation error against the trace's fp32 outputs (max over samples).
std::string format_verification(const SimResult& r);
// Version of the JSON report layout; `eatsim check` refuses to compare across versions.
constexpr int kReportFormat = 1;
std::string hw_hash(const HwConfig& hw);  // hash of the resolved architecture (energy table excluded)
std::string to_json(const SimResult& r);

}  // namespace eatsim::sim
