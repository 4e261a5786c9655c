// The sponge estimator: per-layer counts by convention, totals, energies and the three reductions.
#include "sim/estimator/estimator.hpp"

#include <fmt/format.h>

#include <cmath>

#include "base/errors.hpp"

namespace eatsim::sponge {

const char* convention_name(Convention c) { return c == Convention::reference ? "reference" : "graph"; }

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::whole:
      return "whole";
    case Reduction::per_sample:
      return "per-sample";
    case Reduction::per_batch:
      return "per-batch";
  }
  return "?";
}

Convention convention_from_name(const std::string& s) {
  if (s == "reference") return Convention::reference;
  if (s == "graph") return Convention::graph;
  throw UsageError(fmt::format("--convention {}: unknown (reference or graph)", s));
}

Reduction reduction_from_name(const std::string& s) {
  if (s == "whole") return Reduction::whole;
  if (s == "per-sample") return Reduction::per_sample;
  if (s == "per-batch") return Reduction::per_batch;
  throw UsageError(fmt::format("--reduction {}: unknown (whole, per-sample or per-batch)", s));
}

namespace {

const char* torch_type(Op op) {
  switch (op) {
    case Op::conv2d:
      return "Conv2d";
    case Op::batchnorm2d:
      return "BatchNorm2d";
    case Op::relu:
      return "ReLU";
    case Op::maxpool2d:
      return "MaxPool2d";
    case Op::avgpool2d:
      return "AvgPool2d";
    case Op::global_avgpool:
      return "AdaptiveAvgPool2d";
    case Op::linear:
      return "Linear";
    case Op::add:
      return "add";
    case Op::flatten:
      return "Flatten";
    case Op::identity:
      return "Sequential";  // kuangliu's empty nn.Sequential() shortcut
    case Op::relu6:
      return "ReLU6";
    case Op::hardtanh:
      return "Hardtanh";
    case Op::sigmoid:
      return "Sigmoid";
    case Op::silu:
      return "SiLU";
    case Op::hardswish:
      return "Hardswish";
    case Op::hardsigmoid:
      return "Hardsigmoid";
    case Op::leaky_relu:
      return "LeakyReLU";
    case Op::dropout:
      return "Dropout";
    case Op::mul:
      return "mul";
    case Op::concat:
      return "cat";
  }
  return "?";
}

Shape batched(int64_t n, const Shape& s) {
  Shape b{n};
  b.insert(b.end(), s.begin(), s.end());
  return b;
}

// The activation whose non-zeros the original's hook sees as input `j` of node `i`: an in-place
// ReLU that already ran on j has rectified it (and an in-place ReLU's own input is its output).
int seen_input(const Graph& g, const std::vector<int>& pos, int i, int j) {
  if (is_activation(g.nodes[i].op) && g.nodes[i].inplace) return i;
  if (j < 0) return j;
  for (size_t r = 0; r < g.nodes.size(); ++r) {
    const Node& n = g.nodes[r];
    if (is_activation(n.op) && n.inplace && n.in.size() == 1 && n.in[0] == j && pos[r] < pos[i])
      return static_cast<int>(r);
  }
  return j;
}

// Ops for one call over `b` samples, by the original's rules (REFERENCES.md).
void count_ops(const Graph& g, const Node& n, int64_t b, Convention conv, LayerCount& l) {
  const Shape& x = g.in_shape(n, 0);
  int64_t out = b * numel(n.out_shape), in = b * numel(x);
  switch (n.op) {
    case Op::conv2d:
      // The original ignores groups (a depthwise conv counts Cin times its MACs); the graph
      // convention counts the MACs the layer does.
      if (conv == Convention::graph && n.groups > 1) {
        l.ops = out * n.kh * n.kw * (x[0] / n.groups);
        l.rule = "conv2d:out.numel*kh*kw*Cin/groups";
      } else {
        l.ops = out * n.kh * n.kw * x[0];
        l.rule = "conv2d:out.numel*kh*kw*Cin";
      }
      return;
    case Op::linear:
      l.ops = n.out_channels * x.back() * (in / x.back());
      l.rule = "linear:W.numel*rows";
      return;
    case Op::maxpool2d:
    case Op::avgpool2d:
      l.ops = out * n.kh * n.kw;
      l.rule = "pool:out.numel*k*k";
      return;
    case Op::global_avgpool:
      l.ops = in;
      l.rule = "adaptive_avgpool:in.numel";
      return;
    case Op::batchnorm2d:
      l.ops = 4 * in;
      l.rule = "batchnorm2d:4*in.numel";
      return;
    case Op::dropout:
      l.rule = op_name(n.op);  // 0 ops, as the original counts Dropout
      return;
    case Op::add:
    case Op::mul:
      if (conv == Convention::graph) {
        l.ops = out;
        l.rule = n.op == Op::add ? "add:out.numel" : "mul:out.numel";
        return;
      }
      break;
    case Op::concat:
      if (conv == Convention::graph) {
        l.rule = "cat";
        return;
      }
      break;
    case Op::flatten:
    case Op::identity:
      if (conv == Convention::graph) {
        l.rule = op_name(n.op);
        return;
      }
      break;
    default:
      if (is_activation(n.op)) {
        l.rule = op_name(n.op);  // 0 ops, as the original counts ReLU
        return;
      }
  }
  l.rule = "unsupported";  // the original has no rule: 0 ops, listed as unsupported
  l.supported = false;
}

}  // namespace

Estimate energy_of(const Totals& t) {
  Estimate e;
  e.totals = t;
  e.weight_density = t.param_total ? static_cast<double>(t.param_nnz) / t.param_total : 1.0;
  e.input_density = t.in_total ? static_cast<double>(t.in_nnz) / t.in_total : 1.0;
  double moved = static_cast<double>(t.param_total + t.in_total + t.out_total);
  double moved_nz = static_cast<double>(t.param_nnz + t.in_nnz + t.out_nnz);
  double ops = static_cast<double>(t.ops);
  e.energy_worst_pj = kPjPerElement * moved + kPjPerOp * ops;
  e.energy_opt_pj = kPjPerElement * moved_nz + kPjPerOp * ops * e.f();
  e.ratio = e.energy_worst_pj > 0 ? e.energy_opt_pj / e.energy_worst_pj : 1.0;
  return e;
}

Estimate estimate(const Census& c, Convention conv, int64_t first, int64_t count, bool keep_layers) {
  const Graph& g = c.graph;
  if (first < 0 || count < 1 || first + count > c.num_samples())
    throw UsageError(fmt::format("sponge: samples [{}, {}) are outside the {} given", first, first + count,
                                 c.num_samples()));
  std::vector<int> pos(g.nodes.size());
  for (size_t k = 0; k < g.order.size(); ++k) pos[g.order[k]] = static_cast<int>(k);
  auto params = g.parameters();
  Totals t;
  std::vector<LayerCount> layers;
  for (int i : g.order) {
    const Node& n = g.nodes[i];
    if (conv == Convention::reference && !n.module) continue;
    LayerCount l;
    l.node = i;
    l.name = n.name;
    l.type = torch_type(n.op);
    l.in_shape = batched(count, g.in_shape(n, 0));
    l.out_shape = batched(count, n.out_shape);
    for (int j : n.in) {
      int seen = conv == Convention::reference ? seen_input(g, pos, i, j) : j;
      l.in_total += count * c.act(j).numel;
      l.in_nnz += c.act(seen).nnz_sum(first, count);
    }
    l.out_total = count * c.nodes[i].numel;
    l.out_nnz = c.nodes[i].nnz_sum(first, count);
    const bool second_read = conv == Convention::reference && n.op == Op::batchnorm2d;
    for (const auto& p : params) {
      if (p.node != i) continue;
      if (conv == Convention::graph && p.kind == ParamKind::num_batches_tracked) continue;
      const ParamCounts& pc = c.params.at(p.key);
      l.param_total += pc.numel;
      l.param_nnz += pc.nnz;
      if (second_read && (p.kind == ParamKind::running_mean || p.kind == ParamKind::running_var))
        l.surcharge += pc.numel, l.surcharge_nnz += pc.nnz;
    }
    l.param_total += l.surcharge;
    l.param_nnz += l.surcharge_nnz;
    count_ops(g, n, count, conv, l);
    t.in_total += l.in_total, t.in_nnz += l.in_nnz, t.out_total += l.out_total, t.out_nnz += l.out_nnz;
    t.param_total += l.param_total, t.param_nnz += l.param_nnz, t.ops += l.ops;
    if (keep_layers) layers.push_back(std::move(l));
  }
  Estimate e = energy_of(t);
  e.first = first;
  e.samples = count;
  e.layers = std::move(layers);
  return e;
}

Report analyse(const Census& c, const Options& o) {
  Report r;
  r.options = o;
  r.bits = c.bits;
  int64_t n = c.num_samples();
  r.whole = estimate(c, o.convention, 0, n);
  if (o.reduction == Reduction::whole) {
    r.ratio = r.whole.ratio;
    r.energy_worst_mean_pj = r.whole.energy_worst_pj;
    r.energy_opt_mean_pj = r.whole.energy_opt_pj;
    return r;
  }
  int64_t b = o.reduction == Reduction::per_sample ? 1 : o.batch;
  if (b < 1)
    throw UsageError(fmt::format("--batch {}: a per-batch reduction needs a batch size of at least 1", b));
  if (o.reduction == Reduction::per_batch) r.options.batch = b;
  double sum = 0, sum_w = 0, sum_o = 0;
  for (int64_t s = 0; s < n; s += b) {
    r.chunks.push_back(estimate(c, o.convention, s, std::min(b, n - s), false));
    sum += r.chunks.back().ratio;
    sum_w += r.chunks.back().energy_worst_pj;
    sum_o += r.chunks.back().energy_opt_pj;
  }
  double k = static_cast<double>(r.chunks.size());
  r.ratio = sum / k;
  r.energy_worst_mean_pj = sum_w / k;
  r.energy_opt_mean_pj = sum_o / k;
  double var = 0;
  for (const auto& e : r.chunks) var += (e.ratio - r.ratio) * (e.ratio - r.ratio);
  r.ratio_std = std::sqrt(var / k);
  return r;
}

}  // namespace eatsim::sponge
