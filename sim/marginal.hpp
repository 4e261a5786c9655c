// The simulator's energy per non-zero activation: for each named tensor of a trace, how much the
// whole network's energy on a hardware configuration changes per non-zero that becomes zero. It is
// a difference of two simulations by the engine itself (the tensor's values thinned at random,
// every other value kept), so compression, skipping, gating, SRAM and DRAM traffic, the PPU and
// the cycles times leakage all count as the engine counts them; no formula kept beside it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/energy.hpp"
#include "sim/hwconfig.hpp"
#include "sim/result.hpp"

namespace eatsim {
class TraceReader;
}

namespace eatsim::sim {

class TraceData;

struct MarginalOptions {
  double fraction = 0.05;  // share of a tensor's non-zeros zeroed for the difference
  uint64_t seed = 1;       // which ones
  int64_t samples = 0;     // the first N samples of the trace (0: all)
};

struct MarginalRow {
  std::string tensor;  // node name
  // The simulator sees the tensor: a GEMM row reads it, or writes it back. One computed and
  // consumed inside a row's PPU chain (a ReLU before its pooling) never reaches the memories or the
  // array, so its values change no event: all zeros below.
  bool seen = true;
  int64_t elements = 0;   // per sample
  double nonzero = 0;     // per sample, as the array's datatype sees them
  double removed = 0;     // per sample: non-zeros zeroed for the difference
  EnergyBreakdown delta;  // per sample: energy(trace) − energy(thinned), pJ, by component
  double pj_per_nonzero() const { return removed > 0 ? delta.total() / removed : 0.0; }
};

struct MarginalResult {
  std::string hw, trace;
  int64_t samples = 0;
  EnergyBreakdown energy;  // per sample, the trace as it is
  std::vector<MarginalRow> rows;
};

// Every tensor must name a node of the trace's graph (DataError otherwise).
MarginalResult marginal_energy(const HwConfig& hw, const TraceReader& tr,
                               const std::vector<std::string>& tensors, const MarginalOptions& o = {});
// The same on values in memory (`values` holds `samples` samples of graph `g`; `where` names them).
MarginalResult marginal_energy(const HwConfig& hw, const Graph& g, const TraceData& values, int64_t samples,
                               const std::vector<std::string>& tensors, const MarginalOptions& o,
                               const std::string& where);

// Whole-network energy per sample (mean over the samples) with `tensor`'s non-zeros thinned by
// `fraction` (seeded): what the validation compares a prediction with. `removed` receives the
// non-zeros zeroed per sample. fraction 0: the values as they are.
EnergyBreakdown thinned_energy(const HwConfig& hw, const Graph& g, const TraceData& values,
                               const std::string& tensor, double fraction, uint64_t seed, int64_t samples,
                               double* removed = nullptr);
// Energy per sample of the values as they are.
EnergyBreakdown network_energy(const HwConfig& hw, const Graph& g, const TraceData& values, int64_t samples);

}  // namespace eatsim::sim
