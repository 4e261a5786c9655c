// Model graph analysis: execution order (with cycle reporting) and shape inference.
#include "models/graph_infer.hpp"

#include <fmt/format.h>

#include <queue>

#include "base/errors.hpp"
#include "base/yaml_util.hpp"

namespace eatsim {
namespace {

// Shape of one node's output from its inputs; records an error and returns {} when they do not fit.
Shape infer(const Graph& g, const Node& n, yamlu::Diag& d) {
  auto err = [&](const std::string& msg) {
    d.errors.push_back(fmt::format("{}:{}: nodes ({}): {}", d.file, n.line, n.name, msg));
    return Shape{};
  };
  size_t want = n.op == Op::add || n.op == Op::mul ? 2 : 1;
  if (n.op == Op::concat) {
    if (n.in.size() < 2) return err(fmt::format("concat takes two or more inputs, got {}", n.in.size()));
  } else if (n.in.size() != want) {
    return err(
        fmt::format("{} takes {} input{}, got {}", op_name(n.op), want, want == 1 ? "" : "s", n.in.size()));
  }
  for (size_t i = 0; i < n.in.size(); ++i)
    if (g.in_shape(n, i).empty()) return {};  // an earlier error already explains it
  const Shape& x = g.in_shape(n, 0);
  // PyTorch's rule; with ceil_mode a last window must still start inside the input or its left
  // padding.
  auto spatial = [&](int64_t size, int k, int s, int p) {
    if (!n.ceil_mode) return (size + 2 * p - k) / s + 1;
    int64_t o = (size + 2 * p - k + s - 1) / s + 1;
    return (o - 1) * s >= size + p ? o - 1 : o;
  };
  switch (n.op) {
    case Op::conv2d:
    case Op::maxpool2d:
    case Op::avgpool2d: {
      if (x.size() != 3) return err(fmt::format("needs a (C, H, W) input, got {}", shape_str(x)));
      // The extent a dilated kernel covers.
      const int64_t ekh = int64_t(n.dh) * (n.kh - 1) + 1, ekw = int64_t(n.dw) * (n.kw - 1) + 1;
      if (x[1] + 2 * n.ph < ekh || x[2] + 2 * n.pw < ekw)
        return err(fmt::format("kernel {}x{}{} is larger than the padded input {} (padding {}x{}): no output",
                               n.kh, n.kw,
                               n.dh != 1 || n.dw != 1 ? fmt::format(" dilated to {}x{}", ekh, ekw) : "",
                               shape_str(x), n.ph, n.pw));
      if (n.op != Op::conv2d && (2 * n.ph > n.kh || 2 * n.pw > n.kw))
        return err("pool padding must be at most half the kernel (as in PyTorch)");
      if (n.op == Op::conv2d && (x[0] % n.groups != 0 || n.out_channels % n.groups != 0))
        return err(
            fmt::format("groups: {} does not divide the input's {} channels and out_channels {} "
                        "(both must be multiples of groups)",
                        n.groups, x[0], n.out_channels));
      int64_t c = n.op == Op::conv2d ? n.out_channels : x[0];
      return {c, spatial(x[1], int(ekh), n.sh, n.ph), spatial(x[2], int(ekw), n.sw, n.pw)};
    }
    case Op::batchnorm2d:
    case Op::relu:
      if (n.op == Op::batchnorm2d && x.size() != 3)
        return err(fmt::format("needs a (C, H, W) input, got {}", shape_str(x)));
      return x;
    case Op::identity:
    case Op::dropout:
      return x;
    case Op::mul: {
      // Equal shapes, or one side (C, 1, 1) scaling the other's channels.
      const Shape& y = g.in_shape(n, 1);
      auto scales = [](const Shape& s, const Shape& t) {
        return s.size() == 3 && t.size() == 3 && s[0] == t[0] && s[1] == 1 && s[2] == 1;
      };
      if (x == y || scales(y, x)) return x;
      if (scales(x, y)) return y;
      return err(
          fmt::format("mul inputs do not broadcast: {} ({}) and {} ({}) (equal shapes, or one (C, 1, 1) "
                      "with the other's C channels)",
                      shape_str(x), n.inputs[0], shape_str(y), n.inputs[1]));
    }
    case Op::concat: {
      Shape out = x;
      for (size_t i = 1; i < n.in.size(); ++i) {
        const Shape& y = g.in_shape(n, i);
        bool fits =
            y.size() == x.size() && (x.size() == 1 || (x.size() == 3 && y[1] == x[1] && y[2] == x[2]));
        if (!fits)
          return err(fmt::format("concat inputs must agree on all but the channels: {} ({}) and {} ({})",
                                 shape_str(x), n.inputs[0], shape_str(y), n.inputs[i]));
        out[0] += y[0];
      }
      return out;
    }
    case Op::global_avgpool:
      if (x.size() != 3) return err(fmt::format("needs a (C, H, W) input, got {}", shape_str(x)));
      return {x[0], 1, 1};
    case Op::flatten:
      return {numel(x)};
    case Op::linear:
      if (x.size() != 1)
        return err(
            fmt::format("needs a flat (F) input, got {} (add a flatten node before it)", shape_str(x)));
      return {n.out_channels};
    case Op::add: {
      const Shape& y = g.in_shape(n, 1);
      if (x != y)
        return err(fmt::format("add inputs have different shapes: {} ({}) and {} ({})", shape_str(x),
                               n.inputs[0], shape_str(y), n.inputs[1]));
      return x;
    }
    default:  // the activations
      if (is_activation(n.op)) return x;
  }
  return {};
}

// Kahn's algorithm, taking the earliest ready node in file order so a valid file order is kept.
bool topo_order(Graph& g, yamlu::Diag& d) {
  size_t n = g.nodes.size();
  std::vector<int> indeg(n, 0);
  std::vector<std::vector<int>> users(n);
  for (size_t i = 0; i < n; ++i)
    for (int j : g.nodes[i].in)
      if (j >= 0) ++indeg[i], users[j].push_back(static_cast<int>(i));
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < n; ++i)
    if (indeg[i] == 0) ready.push(static_cast<int>(i));
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    g.order.push_back(i);
    for (int u : users[i])
      if (--indeg[u] == 0) ready.push(u);
  }
  if (g.order.size() == n) return true;
  // Walk back along unresolved inputs from one stuck node until a node repeats: that is a cycle.
  int start = -1;
  for (size_t i = 0; i < n && start < 0; ++i)
    if (indeg[i] > 0) start = static_cast<int>(i);
  std::vector<int> path;
  std::vector<int> seen(n, -1);
  int cur = start;
  while (seen[cur] < 0) {
    seen[cur] = static_cast<int>(path.size());
    path.push_back(cur);
    for (int j : g.nodes[cur].in)
      if (j >= 0 && indeg[j] > 0) {
        cur = j;
        break;
      }
  }
  std::string cyc;
  for (size_t k = seen[cur]; k < path.size(); ++k)
    cyc = g.nodes[path[k]].name + (cyc.empty() ? "" : " <- ") + cyc;
  cyc += " <- " + g.nodes[cur].name;
  d.errors.push_back(
      fmt::format("{}:{}: nodes ({}): the graph has a cycle: {} (every node must depend only on "
                  "earlier results)",
                  d.file, g.nodes[cur].line, g.nodes[cur].name, cyc));
  return false;
}

}  // namespace

void order_and_infer(Graph& g, yamlu::Diag& d) {
  if (!topo_order(g, d)) d.throw_if_any<ModelError>();
  for (int i : g.order) {
    Node& n = g.nodes[i];
    if (n.op == Op::conv2d && n.groups == 0) {  // depthwise: one group per input channel
      const Shape& x = g.in_shape(n, 0);
      n.groups = x.empty() ? 1 : static_cast<int>(x[0]);
    }
    n.out_shape = infer(g, n, d);
  }
}

}  // namespace eatsim
