// Fusion and in-place decisions; see fusion_plan.hpp.
#include "trainer/fusion_plan.hpp"

#include <algorithm>

#include "trainer/net.hpp"

namespace eatsim {

bool winograd_suits(const Node& n, int64_t in_channels) {
  return n.kh == 3 && n.kw == 3 && n.sh == 1 && n.sw == 1 && n.dh == 1 && n.dw == 1 && n.groups == 1 &&
         in_channels >= 16;
}

}  // namespace eatsim

namespace eatsim::trainer {

GraphUses graph_uses(const Graph& g) {
  size_t nn = g.nodes.size();
  GraphUses u;
  u.consumers.assign(nn, 0);
  u.penalty_by.assign(nn, -1);
  std::vector<int> consumer(nn, -1);
  for (size_t i = 0; i < nn; ++i)
    for (int j : g.nodes[i].in)
      if (j >= 0) u.consumers[j] += 1, consumer[j] = static_cast<int>(i);
  // A ReLU sums its own output's penalty, and its input's when it is that input's only consumer
  // (the graph output keeps its penalty pass, its value must stay).
  for (size_t i = 0; i < nn; ++i) {
    if (g.nodes[i].op == Op::relu)
      u.penalty_by[i] = static_cast<int>(i);
    else if (u.consumers[i] == 1 && g.nodes[consumer[i]].op == Op::relu && static_cast<int>(i) != g.output)
      u.penalty_by[i] = consumer[i];
  }
  return u;
}

namespace {

struct Planner {
  const Graph& g;
  const PlanOptions& o;
  GraphUses uses = graph_uses(g);

  bool penalised(int j) const {
    return std::find(o.penalised.begin(), o.penalised.end(), j) != o.penalised.end();
  }

  // Like PyTorch, which frees a BN output once ReLU has read it: in a training plan a ReLU
  // overwrites the output of node j when it is j's only consumer, nothing penalises j's output, j is
  // not the graph output and owns its buffer (batchnorm2d, add, conv2d). An add then applies the
  // ReLU itself.
  bool relu_inplace_over(int j) const {
    if (!o.backward || o.debug_grads || j < 0 || uses.penalty_by[j] < 0 || uses.penalty_by[j] == j)
      return false;
    Op op = g.nodes[j].op;
    return !penalised(j) && j != g.output && (op == Op::batchnorm2d || op == Op::add || op == Op::conv2d);
  }

  // BN → ReLU: the BN layer computes the ReLU (and both penalties). In eval plans too, so that a
  // training plan's eval and an eval plan's give the same bits (penalty sums included).
  void plan_batchnorm(int i, LayerPlan& l) const {
    int r = uses.penalty_by[i];
    bool cannot = static_cast<size_t>(i) < o.cannot_fuse.size() && o.cannot_fuse[i];
    if (o.all_edges || o.debug_grads || r < 0 || r == i || cannot) return;
    l.fuse_relu = true;
    l.pen_self = i;
    l.pen_relu = r;
  }

  void plan_relu(int i, LayerPlan& l, FusionPlan& p) const {
    int j = g.nodes[i].in[0];
    if (j >= 0 && p.layers[j].fuse_relu) {
      l.relu_done = true;
      return;
    }
    l.pen_self = i;
    if (j >= 0 && uses.penalty_by[j] == i) l.pen_in = j;
    if (relu_inplace_over(j)) {
      l.inplace = true;
      l.input_relued = g.nodes[j].op == Op::add;
      p.clobbered[j] = 1;
      p.inplace = true;
    }
  }

  FusionPlan run() const {
    size_t nn = g.nodes.size();
    FusionPlan p;
    p.layers.assign(nn, LayerPlan{});
    p.clobbered.assign(nn, 0);
    for (int i : g.order) {
      const Node& node = g.nodes[i];
      LayerPlan& l = p.layers[i];
      switch (node.op) {
        case Op::conv2d:
          l.winograd = o.fast_conv && winograd_suits(node, g.in_shape(node, 0)[0]);
          break;
        case Op::batchnorm2d:
          plan_batchnorm(i, l);
          if (l.fuse_relu) p.clobbered[i] = 1, p.inplace = true;
          break;
        case Op::relu:
          plan_relu(i, l, p);
          break;
        case Op::add:
          l.relu_after = relu_inplace_over(i);
          break;
        default:
          break;
      }
    }
    return p;
  }
};

}  // namespace

FusionPlan plan_fusion(const Graph& g, const PlanOptions& o) { return Planner{g, o}.run(); }

}  // namespace eatsim::trainer
