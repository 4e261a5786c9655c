// Firing analysis: see firing.hpp.
#include "sim/estimator/firing.hpp"

namespace eatsim::sponge {

Firing firing(const Census& c, Convention conv) {
  const Graph& g = c.graph;
  Firing f;
  int64_t n = c.num_samples();
  for (int i : g.order) {
    const Node& nd = g.nodes[i];
    if (nd.op == Op::batchnorm2d || nd.op == Op::flatten) continue;
    if (conv == Convention::reference && !nd.module) continue;
    FiringRow r;
    r.node = i;
    r.name = nd.name;
    r.op = nd.op;
    r.count.numel = n * c.nodes[i].numel;
    r.count.nnz = c.nodes[i].nnz_sum(0, n);
    f.total.numel += r.count.numel, f.total.nnz += r.count.nnz;
    std::string type = op_name(nd.op);
    auto it = f.by_type.begin();
    while (it != f.by_type.end() && it->first != type) ++it;
    if (it == f.by_type.end()) it = f.by_type.insert(it, {type, FiringCount{}});
    it->second.numel += r.count.numel, it->second.nnz += r.count.nnz;
    f.rows.push_back(std::move(r));
  }
  return f;
}

}  // namespace eatsim::sponge
