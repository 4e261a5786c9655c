// What a network simulation produces, as plain values: one record per report row with the
// counters of every sample (and of the same hardware dense), and the run's provenance. The entry
// point that fills it is sim/run.hpp; reports read it (sim/report.hpp).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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
  std::vector<Counters> dense;        // the same hardware with the sparsity features off (energy ratio)
  std::vector<VerifyStats> verified;  // per sample when the functional verification ran
  int sparsity_on = -1;               // sparsity.policy per-layer: 1 features kept, 0 turned off; -1 always
};

struct SimResult {
  HwConfig hw;
  EnergyTable energy, energy_dense;  // pJ per event of hw and of its dense twin, built once per run
  std::string model;                 // graph name
  std::string source;                // trace directory, or "shapes only"
  std::string trace_hash;            // content hash of the trace (traces/trace.hpp trace_hash), "" for shapes
  std::vector<LayerRecord> layers;
  int64_t num_samples = 0;
  std::vector<Counters> totals() const;  // per sample, summed over layers
};

// Operand values of a GEMM node for a sample; read by gate, skip, compress and verification. A
// node's weights are its layer's parameters: the same array, unchanged, at every sample (their
// scans are cached by array and quantisation).
using DataSource = std::function<LayerData(int node, int64_t sample)>;

}  // namespace eatsim::sim
