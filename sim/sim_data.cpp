// Simulating a trace; see sim_data.hpp.
#include "sim/sim_data.hpp"

#include <algorithm>

#include "sim/trace_data.hpp"
#include "traces/trace.hpp"

namespace eatsim::sim {

SimResult simulate_trace(const HwConfig& hw, const TraceReader& tr, Fidelity f, int64_t max_samples) {
  int64_t n = tr.manifest().num_samples();
  if (max_samples > 0) n = std::min(n, max_samples);
  // Inputs, weights, biases and outputs of every conv2d/linear node, with each tensor's max|x|
  // over all samples of the trace for quantisation (TraceData).
  TraceData values(tr, n);
  DataSource ds = values.source();
  SimResult r = simulate_network(hw, tr.graph(), n, f, &ds);
  r.source = tr.dir();
  r.trace_hash = trace_hash(tr);
  return r;
}

}  // namespace eatsim::sim
