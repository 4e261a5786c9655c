// The fusion and in-place decisions of one Net plan, as plain data: which BatchNorm computes its
// ReLU consumer, which ReLU overwrites its input, which add applies its ReLU, which convolutions may
// run Winograd, and which layer sums which node's EAT penalty. A pure function of the graph and the
// plan's options (no oneDNN here), so the choices are testable on their own; the Net hands each
// layer its LayerPlan.
#pragma once
#include <vector>

#include "models/graph.hpp"

namespace eatsim::trainer {

// What one layer does beyond its plain op. Node indices name whose penalty slot a layer uses
// (-1: none).
struct LayerPlan {
  bool winograd = false;      // conv2d: oneDNN may pick Winograd (fast convolutions, winograd_suits)
  bool fuse_relu = false;     // batchnorm2d: compute the ReLU consumer in its own passes, never
                              // materialising the BN output (when its kernels cover the layout)
  bool relu_done = false;     // relu: a passthrough, its producer computed it
  bool inplace = false;       // relu: write the output over input 0
  bool input_relued = false;  // relu, in place: input 0 (an add) already applied the ReLU
  bool relu_after = false;    // add: apply the ReLU of the consumer running in place over it
  int pen_self = -1;          // relu: this node; batchnorm2d fusing: this node (its output's penalty)
  int pen_in = -1;            // relu: input 0's node when this ReLU sums that node's penalty
  int pen_relu = -1;          // batchnorm2d fusing: the ReLU node whose penalty it sums
};

// Graph facts every plan shares.
struct GraphUses {
  std::vector<int> consumers;   // per node: how many inputs of other nodes read its output
  std::vector<int> penalty_by;  // per node: the ReLU summing its penalty in its own passes, or -1
};
GraphUses graph_uses(const Graph& g);

struct PlanOptions {
  bool backward = false;          // a training plan (gradient buffers, backward primitives)
  bool all_edges = false;         // every edge keeps its value (no fusion)
  bool debug_grads = false;       // every edge and gradient is kept (no fusion, no in-place work)
  bool fast_conv = false;         // Winograd where winograd_suits
  std::vector<int> penalised;     // nodes whose output is penalised (empty when λ = 0)
  std::vector<char> cannot_fuse;  // by node: a batchnorm2d whose kernels do not cover its layout
};

struct FusionPlan {
  std::vector<LayerPlan> layers;  // by node
  std::vector<char> clobbered;    // by node: output overwritten in place by its ReLU, or never
                                  // written (a BN computing its ReLU)
  bool inplace = false;           // some node is clobbered
};

// The decisions for a graph under the given options. A batchnorm2d that turns out not to fuse is
// marked in cannot_fuse and the plan computed again (its ReLU then runs on its own).
FusionPlan plan_fusion(const Graph& g, const PlanOptions& o);

}  // namespace eatsim::trainer
