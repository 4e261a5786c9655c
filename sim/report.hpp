// Simulating a network over the samples of a trace and reporting it: per-layer table, CSV and
// JSON with counters, cycles, utilisation, traffic, energy per component, power, EDP, area
// proxies, min/mean/max over samples.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "sim/counters.hpp"
#include "sim/energy.hpp"
#include "sim/hwconfig.hpp"
#include "sim/network.hpp"

namespace eatsim::sim {

struct LayerRecord {
  LayerGroup group;
  std::string fused;   // names of the PPU nodes on its output stream
  std::string tiling;  // how the dataflow tiled it (sample 0)
  std::vector<Counters> samples;
  std::vector<Counters> dense;     // the same hardware with the sparsity features off (energy ratio)
  std::vector<VerifyStats> checks;  // per sample when the functional check ran
  int sparsity_on = -1;            // sparsity.policy per-layer: 1 features kept, 0 turned off; -1 always
};

struct SimResult {
  HwConfig hw;
  std::string model;       // graph name
  std::string source;      // trace directory, or "shapes only"
  std::string trace_hash;  // content hash of the trace (traces/trace.hpp trace_hash), "" for shapes
  std::vector<LayerRecord> layers;
  int64_t num_samples = 0;
  std::vector<Counters> totals() const;  // per sample, summed over layers
};

// Operand values of a GEMM node for a sample (issue 9); not called by the dense features.
using DataSource = std::function<LayerData(int node, int64_t sample)>;

// With sparsity features on, every row is also simulated on the same hardware with them off, for
// the energy ratio and speed-up (in fast fidelity: the same numbers). `check`: run the functional
// check on every GEMM row (needs data). `jobs` > 1 simulates samples on that many workers: threads
// for fast and step (calls to `data` are serialised; the arrays a call returns must stay valid
// while its caller simulates the row, as TraceData's do), forked processes for cycle (one SystemC
// kernel per process). Samples are independent, so the result never depends on `jobs`.
SimResult simulate_network(const HwConfig& hw, const Graph& g, int64_t samples, Fidelity f = Fidelity::fast,
                           const DataSource* data = nullptr, bool check = false, int jobs = 1);

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
// `dense` (and its cycles): the same run with the sparsity features off, for the ratios.
Metrics metrics_of(const HwConfig& hw, const Counters& c, int64_t reported_cycles,
                   const Counters* dense = nullptr, int64_t dense_cycles = 0);
HwConfig dense_twin(const HwConfig& hw);  // the same hardware with every sparsity feature off
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
std::string format_check(const SimResult& r);
// Version of the JSON report layout; `eatsim check` refuses to compare across versions.
constexpr int kReportFormat = 1;
std::string hw_hash(const HwConfig& hw);  // hash of the resolved architecture (energy table excluded)
std::string to_json(const SimResult& r);

}  // namespace eatsim::sim
