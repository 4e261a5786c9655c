// Trace values for the sparse features: see trace_data.hpp.
#include "sim/trace_data.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "base/errors.hpp"

namespace eatsim::sim {

TraceData::TraceData(const TraceReader& tr, int64_t samples)
    : TraceData(
          tr.graph(),
          [&tr](const std::string& name) {
            return tr.manifest().find(name) ? tr.load(name) : std::vector<float>();
          },
          tr.manifest().num_samples(), samples, tr.dir()) {}

TraceData::TraceData(const Graph& g, const Loader& loader, int64_t total, int64_t samples,
                     const std::string& where) {
  samples = std::min(samples, total);
  auto load = [&](const std::string& name, bool per_sample) -> const Tensor* {
    auto it = t_.find(name);
    if (it != t_.end()) return &it->second;
    Tensor t;
    t.data = loader(name);
    if (t.data.empty()) return nullptr;
    for (float x : t.data) {
      t.max_abs = std::max(t.max_abs, double(std::fabs(x)));
      if (x < 0) t.nonneg = false;
    }
    t.per_sample = per_sample ? int64_t(t.data.size()) / std::max<int64_t>(1, total) : int64_t(t.data.size());
    if (per_sample) t.data.resize(size_t(t.per_sample * samples));
    return &t_.emplace(name, std::move(t)).first->second;
  };
  std::vector<ParamInfo> params = g.parameters();
  // Which tensors each GEMM row writes back does not depend on the hardware.
  std::map<int, std::vector<int>> written, residuals;
  for (const LayerGroup& grp : group_layers(g))
    if (grp.gemm >= 0) written[grp.gemm] = grp.out_nodes, residuals[grp.gemm] = grp.residual_nodes;
  for (int i : g.order) {
    const eatsim::Node& n = g.nodes[size_t(i)];
    if (n.op != Op::conv2d && n.op != Op::linear) continue;
    Node nd;
    nd.in = load(n.in[0] < 0 ? "input" : g.nodes[size_t(n.in[0])].name, true);
    nd.out = load(n.name, true);
    for (const ParamInfo& p : params) {
      if (p.node != i) continue;
      if (p.kind == ParamKind::weight) nd.w = load(p.key, false);
      if (p.kind == ParamKind::bias) nd.b = load(p.key, false);
    }
    for (int o : written[i])
      if (const Tensor* t = load(g.nodes[size_t(o)].name, true)) nd.written.push_back(t);
    for (int r : residuals[i])
      if (const Tensor* t = load(r < 0 ? "input" : g.nodes[size_t(r)].name, true)) nd.residuals.push_back(t);
    if (nd.residuals.size() != residuals[i].size()) nd.residuals.clear();  // all or none: else raw sizes
    if (!nd.in || !nd.w)
      throw TraceError(where + ": layer " + n.name + ": the trace lacks its input or weights");
    nodes_[i] = nd;
  }
  for (const auto& [name, t] : t_) views_[name] = View{&t.data, t.per_sample, t.max_abs, t.nonneg};
}

const TraceData::View* TraceData::find(const std::string& name) const {
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : &it->second;
}

LayerData TraceData::layer(int node, int64_t sample) const {
  LayerData d;
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return d;
  const Node& n = it->second;
  d.ifmap = n.in->data.data() + sample * n.in->per_sample;
  d.ifmap_max_abs = n.in->max_abs, d.ifmap_nonneg = n.in->nonneg;
  d.weights = n.w->data.data();
  d.weight_max_abs = n.w->max_abs, d.weights_nonneg = n.w->nonneg;
  if (n.b) d.bias = n.b->data.data();
  if (n.out) d.output = n.out->data.data() + sample * n.out->per_sample;
  for (const Tensor* t : n.written)
    d.written.push_back({t->data.data() + sample * t->per_sample, t->per_sample, t->max_abs, t->nonneg});
  for (const Tensor* t : n.residuals)
    d.residuals.push_back({t->data.data() + sample * t->per_sample, t->per_sample, t->max_abs, t->nonneg});
  return d;
}

DataSource TraceData::source() const {
  return [this](int node, int64_t sample) { return layer(node, sample); };
}

}  // namespace eatsim::sim
