// The gradient-memory planner of a training plan, as plain data (no oneDNN here): which consumer
// writes each edge's gradient first in backward, and which gradient buffers may share memory
// because their lifetimes in backward do not overlap.
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

#include "models/graph.hpp"

namespace eatsim::trainer {

// Backward runs the nodes in reverse execution order, so the consumer of an edge that runs last
// in forward writes its gradient first; the others accumulate into it.
struct GradWriters {
  std::vector<int> pos;                    // by node: position in the execution order
  std::vector<std::pair<int, int>> first;  // by edge ([0] = graph input, [1 + i] = node i): the
                                           // (position, input slot) of its first writer, or (-1, -1)
  bool first_writer(int edge, int node, int slot) const {
    return first[edge] == std::make_pair(pos[node], slot);
  }
  // Backward step (0 = first to run) of node i, and of an edge's first writer (-1: none).
  int step(int node) const { return static_cast<int>(pos.size()) - 1 - pos[node]; }
  int first_step(int edge) const {
    return first[edge].first >= 0 ? static_cast<int>(pos.size()) - 1 - first[edge].first : -1;
  }
};
GradWriters grad_writers(const Graph& g);

// A buffer live from backward step `from` to step `to`, both included.
struct BufferUse {
  size_t bytes;
  int from, to;
};

struct SlabPlan {
  std::vector<size_t> slab_bytes;  // by slab, in order of creation, rounded up to 64 bytes
  std::vector<int> slab_of;        // by use (the order given)
};

// Buffers whose lifetimes do not overlap share a slab: first fit by start time, the smallest slab
// that is large enough and free since before the buffer's first step; a new one otherwise.
SlabPlan share_slabs(const std::vector<BufferUse>& uses);

}  // namespace eatsim::trainer
