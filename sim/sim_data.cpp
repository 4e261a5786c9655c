// Simulating a trace; see sim_data.hpp.
#include "sim/sim_data.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "traces/trace.hpp"

namespace eatsim::sim {

SimResult simulate_trace(const HwConfig& hw, const TraceReader& tr, Fidelity f, int64_t max_samples) {
  const Graph& g = tr.graph();
  int64_t n = tr.manifest().num_samples();
  if (max_samples > 0) n = std::min(n, max_samples);
  // Inputs per (node, sample) and weights per node, for conv2d/linear nodes only.
  std::map<int, std::vector<std::vector<float>>> ifmaps;
  std::map<int, std::vector<float>> weights;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    if (node.op != Op::conv2d && node.op != Op::linear) continue;
    weights[static_cast<int>(i)] = tr.load(node.name + ".weight");
    auto& v = ifmaps[static_cast<int>(i)];
    for (int64_t s = 0; s < n; ++s) v.push_back(tr.load_node_sample(node.in[0], s));
  }
  DataSource ds = [&](int node, int64_t sample) {
    LayerData d;
    auto it = ifmaps.find(node);
    if (it != ifmaps.end() && sample < static_cast<int64_t>(it->second.size())) {
      d.ifmap = it->second[sample].data();
      d.weights = weights.at(node).data();
    }
    return d;
  };
  SimResult r = simulate_network(hw, g, n, f, &ds);
  r.source = tr.dir();
  r.trace_hash = trace_hash(tr);
  return r;
}

}  // namespace eatsim::sim
