// The gradient-memory planner; see grad_memory.hpp.
#include "trainer/grad_memory.hpp"

#include <algorithm>

namespace eatsim::trainer {

GradWriters grad_writers(const Graph& g) {
  size_t nn = g.nodes.size();
  GradWriters w;
  w.pos.assign(nn, 0);
  for (size_t k = 0; k < g.order.size(); ++k) w.pos[g.order[k]] = static_cast<int>(k);
  w.first.assign(nn + 1, {-1, -1});
  for (size_t i = 0; i < nn; ++i)
    for (size_t s = 0; s < g.nodes[i].in.size(); ++s) {
      auto key = std::make_pair(w.pos[i], static_cast<int>(s));
      auto& f = w.first[g.nodes[i].in[s] + 1];
      if (key > f) f = key;
    }
  return w;
}

SlabPlan share_slabs(const std::vector<BufferUse>& uses) {
  struct Item {
    BufferUse u;
    int index;
  };
  std::vector<Item> items;
  for (size_t k = 0; k < uses.size(); ++k) items.push_back({uses[k], static_cast<int>(k)});
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.u.from < b.u.from; });
  SlabPlan p;
  p.slab_of.assign(uses.size(), -1);
  std::vector<int> busy_to;  // by slab: the last step of its latest buffer
  for (const Item& it : items) {
    int best = -1;
    for (size_t s = 0; s < busy_to.size(); ++s)
      if (busy_to[s] < it.u.from && p.slab_bytes[s] >= it.u.bytes &&
          (best < 0 || p.slab_bytes[s] < p.slab_bytes[best]))
        best = static_cast<int>(s);
    if (best < 0) {
      p.slab_bytes.push_back((it.u.bytes + 63) / 64 * 64);
      busy_to.push_back(-2);
      best = static_cast<int>(busy_to.size()) - 1;
    }
    busy_to[best] = it.u.to;
    p.slab_of[it.index] = best;
  }
  return p;
}

}  // namespace eatsim::trainer
