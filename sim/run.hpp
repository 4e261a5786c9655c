// The one face of simulation: `eatsim sim`, the demo, sweeps, calibration and the tests all run a
// network through here. A trace's values are loaded only when a sparsity feature or the
// functional verification reads them; samples run on threads (fast, step) or forked processes
// (cycle: one SystemC kernel per process) and the result never depends on how many.
#pragma once
#include <cstdint>

#include "sim/result.hpp"
#include "sim/sparse.hpp"

namespace eatsim {
class TraceReader;
}

namespace eatsim::sim {

class DramTraceWriter;

struct SimOptions {
  int64_t samples = 0;  // the first N samples; 0: all of the trace (shapes only: 1)
  Fidelity fidelity = Fidelity::fast;
  int jobs = 1;           // workers (clamped to the sample count)
  bool verify = false;    // `--check`: verify every GEMM row against a reference GEMM
  ScanOptions scan = {};  // test switches only
  WeightCache* weights =
      nullptr;  // weight scans kept across runs (the trace's values own one); null: this run's
  // Every DRAM transfer of the run as requests (fast and step fidelity; samples then run one after
  // the other on one worker, rows and samples back to back in the trace's clock).
  DramTraceWriter* dram_trace = nullptr;
};

class TraceData;

// A trace on `hw`: its graph, the values the features and verification need, its provenance.
// `values`: the trace's values loaded beforehand for at least the samples simulated (a sweep
// simulates one trace at many points); null: loaded here when something reads them.
SimResult simulate(const HwConfig& hw, const TraceReader& tr, const SimOptions& o = {},
                   const TraceData* values = nullptr);

// A graph on `hw` with operand values from `data` (null: shapes only, dense features alone).
// With sparsity features on, every row is also simulated on the same hardware with them off, for
// the energy ratio and speed-up (in fast fidelity: the same numbers). Calls to `data` are
// serialised; the arrays a call returns must stay valid while its caller simulates the row.
SimResult simulate_network(const HwConfig& hw, const Graph& g, const SimOptions& o = {},
                           const DataSource* data = nullptr);

}  // namespace eatsim::sim
