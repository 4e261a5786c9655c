// Net: a Graph turned into oneDNN layers (the plans: net_plan.cpp; parameters and state:
// net_state.cpp). This file holds the passes: forward, loss, backward and what they leave behind.
#include "trainer/net.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "base/errors.hpp"
#include "trainer/layers/softmax_ce.hpp"
#include "trainer/net_impl.hpp"

namespace eatsim {

using namespace trainer;

void Net::Impl::forward(const float* x, int n, bool train, bool all_edges) {
  if (n <= 0) throw UsageError(fmt::format("batch size must be positive, got {}", n));
  cur = &plan_for(n, train, all_edges);
  last_train = train;
  Act& in = cur->acts[0];
  std::memcpy(ptr(in.data), x, sizeof(float) * in.numel());
  bool pen_on = pen.lambda > 0;
  for (PenSlot& sl : slots) sl = PenSlot{};
  for (int i : pen_nodes) slots[i].on = pen_on, slots[i].sigma = static_cast<float>(pen.sigma);
  for (int i : g.order) {
    timed(op_name(g.nodes[i].op), [&] { cur->layers[i]->forward(env, train); });
    if (slots[i].on && uses.penalty_by[i] < 0) {
      env.s.wait();
      const Act& a = cur->acts[i + 1];
      timed("penalty", [&] { slots[i].sum = penalty_sum(ptr(a.data), buf_elems(a), slots[i].sigma); });
    }
  }
  env.s.wait();
  pen_sums.assign(pen_nodes.size(), 0.0);
  for (size_t k = 0; k < pen_nodes.size(); ++k) pen_sums[k] = slots[pen_nodes[k]].sum;
}

// P and the per-element gradient scale of each penalised node.
double Net::Impl::penalty_value(std::vector<float>* scales) const {
  if (pen_nodes.empty() || pen.lambda == 0) return 0;
  double p = 0;
  int64_t total = 0;
  for (int i : pen_nodes) total += cur->acts[i + 1].numel();
  if (scales) scales->clear();
  for (size_t k = 0; k < pen_nodes.size(); ++k) {
    int64_t ne = cur->acts[pen_nodes[k] + 1].numel();
    double w = pen.norm == PenaltyNorm::layer_mean ? 1.0 / (static_cast<double>(pen_nodes.size()) * ne)
                                                   : 1.0 / static_cast<double>(total);
    if (!pen_weights.empty()) w *= pen_weights[k];
    p += pen_sums[k] * w;
    if (scales) scales->push_back(static_cast<float>(pen.lambda * w));
  }
  return p;
}

LossParts Net::Impl::loss(const int64_t* labels) const {
  need_forward("loss");
  const Act& o = cur->acts[g.output + 1];
  if (o.dims.size() != 2)
    throw ModelError(fmt::format("{}: the output node '{}' has shape {}; cross-entropy needs (classes)",
                                 g.source, g.nodes[g.output].name, shape_str(g.nodes[g.output].out_shape)));
  Tensor z = to_plain(o, o.data);
  int64_t N = o.dims[0], K = o.dims[1];
  probs.resize(N * K);
  LossParts r;
  r.ce = softmax_ce_forward(z.data.data(), labels, N, K, probs.data(), &r.correct);
  r.penalty = penalty_value(nullptr);
  r.loss = r.ce + pen.lambda * r.penalty;
  return r;
}

void Net::Impl::backward_core(const float* d_output) {
  seed_gradients(d_output);
  std::vector<float> scales;
  penalty_value(&scales);
  for (size_t k = 0; k < scales.size(); ++k) slots[pen_nodes[k]].scale = scales[k];
  for (auto it = g.order.rbegin(); it != g.order.rend(); ++it) {
    int i = *it;
    if (i == g.output && uses.consumers[i] > 0) write_output_diff(d_output, true);
    if (slots[i].on && uses.penalty_by[i] < 0) {
      env.s.wait();
      Act& a = cur->acts[i + 1];
      timed("penalty", [&] {
        penalty_grad_add(ptr(a.data), ptr(a.diff), buf_elems(a), slots[i].sigma, slots[i].scale);
      });
    }
    timed(op_name(g.nodes[i].op), [&] { cur->layers[i]->backward(env); });
    for (Accum& acc : cur->accum[i]) {
      const memory& d = cur->acts[acc.edge].diff;
      timed("grad-accum", [&] {
        acc.add.execute(env.s, {{DNNL_ARG_SRC_0, d}, {DNNL_ARG_SRC_1, acc.scratch}, {DNNL_ARG_DST, d}});
      });
    }
  }
  env.s.wait();
}

// The loss gradient enters at the output node. Usually nothing consumes the output and it is
// written before backward starts; when something does (an `output:` that is not the last node),
// it is added once those consumers have written their part. Other unconsumed nodes start at 0.
void Net::Impl::seed_gradients(const float* d) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (uses.consumers[i] == 0 && static_cast<int>(i) != g.output) {
      const Act& a = cur->acts[i + 1];
      std::memset(a.diff.get_data_handle(), 0, a.desc.get_size());
    }
  if (uses.consumers[g.output] == 0) write_output_diff(d, false);
}

void Net::Impl::write_output_diff(const float* d, bool add) {
  Act& o = cur->acts[g.output + 1];
  md plain = plain_desc(o.dims);
  memory src(plain, env.eng, const_cast<float*>(d));
  memory dst = add ? memory(o.desc, env.eng) : o.diff;
  make_reorder(env, plain, o.desc).execute(env.s, src, dst);
  if (add)
    dnnl::binary(dnnl::binary::primitive_desc({dnnl::algorithm::binary_add, o.desc, o.desc, o.desc}, env.eng))
        .execute(env.s, {{DNNL_ARG_SRC_0, o.diff}, {DNNL_ARG_SRC_1, dst}, {DNNL_ARG_DST, o.diff}});
  env.s.wait();
}

Tensor Net::Impl::to_plain(const Act& a, const memory& m) const {
  Tensor t(a.dims);
  md plain = plain_desc(a.dims);
  memory dst(plain, env.eng, t.data.data());
  auto& e = const_cast<Env&>(env);
  make_reorder(e, a.desc, plain).execute(e.s, const_cast<memory&>(m), dst);
  e.s.wait();
  return t;
}

Net::Net(Graph g, uint64_t seed) : p_(std::make_unique<Impl>()) {
  p_->g = std::move(g);
  p_->infos = p_->g.parameters();
  p_->params.reserve(p_->infos.size());
  for (const ParamInfo& in : p_->infos) {
    Param q;
    q.info = in;
    if (!in.is_int64) q.value.assign(static_cast<size_t>(numel(in.shape)), 0.0f);
    if (in.trainable) q.grad.assign(q.value.size(), 0.0f);
    p_->by_key[in.key] = p_->params.size();
    p_->params.push_back(std::move(q));
  }
  p_->init_params(seed);
  p_->slots.assign(p_->g.nodes.size(), PenSlot{});
  p_->uses = graph_uses(p_->g);
  set_penalty(PenaltyConfig{});
}

Net::~Net() = default;
Net::Net(Net&&) noexcept = default;
Net& Net::operator=(Net&&) noexcept = default;

const Graph& Net::graph() const { return p_->g; }

void Net::set_penalty(const PenaltyConfig& c) {
  std::vector<int> nodes = resolve_penalty(p_->g, c);
  // Plans decide which ReLUs run in place from what is penalised: rebuild them when that changes.
  bool was_on = p_->pen.lambda > 0, on = c.lambda > 0;
  if (was_on != on || (on && nodes != p_->pen_nodes)) p_->plans.clear(), p_->cur = nullptr;
  p_->pen = c;
  p_->pen_nodes = std::move(nodes);
  p_->pen_weights.clear();
  p_->pen_sums.assign(p_->pen_nodes.size(), 0.0);
}
const PenaltyConfig& Net::penalty() const { return p_->pen; }

void Net::set_penalty_weights(std::vector<double> w) {
  if (!w.empty() && w.size() != p_->pen_nodes.size())
    throw std::invalid_argument(fmt::format("set_penalty_weights: {} weights for {} penalised nodes",
                                            w.size(), p_->pen_nodes.size()));
  p_->pen_weights = std::move(w);
}
const std::vector<double>& Net::penalty_weights() const { return p_->pen_weights; }
const std::vector<int>& Net::penalised_nodes() const { return p_->pen_nodes; }

void Net::set_debug_grads(bool on) {
  if (on == p_->debug_grads) return;
  p_->debug_grads = on;
  p_->plans.clear();
  p_->cur = nullptr;
}

void Net::set_fast_conv(bool on) {
  if (on == p_->fast_conv) return;
  p_->fast_conv = on;
  p_->plans.clear();
  p_->cur = nullptr;
}

const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::fp32;
  if (s == "bf16") return Precision::bf16;
  throw UsageError(fmt::format("--precision: '{}' is not a precision (use fp32 or bf16)", s));
}

bool cpu_has_bf16() {
  const auto need = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (static_cast<unsigned>(dnnl::get_effective_cpu_isa()) & need) == need;
}

void require_bf16_cpu() {
  if (!cpu_has_bf16())
    throw UsageError(
        "--precision bf16: this CPU (or ONEDNN_MAX_CPU_ISA) has no bf16 instructions (avx512_bf16 or "
        "AMX), so oneDNN has no bf16 kernels for it; train with --precision fp32");
}

void Net::set_precision(Precision p) {
  bool bf16 = p == Precision::bf16;
  if (bf16 == p_->env.bf16) return;
  if (bf16) require_bf16_cpu();
  p_->env.bf16 = bf16;
  p_->plans.clear();
  p_->cur = nullptr;
}

Precision Net::precision() const { return p_->env.bf16 ? Precision::bf16 : Precision::fp32; }

void Net::set_profile(bool on) {
  p_->profiling = on;
  p_->env.reorder_s = on ? &p_->reorder_s : nullptr;
  if (on) p_->prof.clear(), p_->reorder_s = 0;
}

std::map<std::string, double> Net::profile() const { return p_->prof; }

void Net::forward(const float* x, int n, bool train) { p_->forward(x, n, train); }

LossParts Net::loss(const int64_t* labels) const { return p_->loss(labels); }

LossParts Net::backward(const int64_t* labels) {
  LossParts r;
  p_->timed("loss", [&] { r = p_->loss(labels); });
  if (!std::isfinite(r.loss)) return r;  // no gradient from a non-finite loss; the caller stops
  const Act& o = p_->cur->acts[p_->g.output + 1];
  std::vector<float> d(static_cast<size_t>(o.numel()));
  softmax_ce_backward(p_->probs.data(), labels, o.dims[0], o.dims[1], d.data());
  backward_from(d.data());
  return r;
}

void Net::backward_from(const float* d_output) {
  p_->need_forward("backward");
  if (!p_->last_train) throw std::logic_error("backward after an eval-mode forward");
  p_->backward_core(d_output);
}

LossParts Net::train_step(const float* x, const int64_t* labels, int n) {
  forward(x, n, true);
  return backward(labels);
}

Tensor Net::output() const { return edge(p_->g.output); }

Tensor Net::edge(int node) const {
  p_->need_forward("edge");
  const Act& a = p_->cur->acts.at(node + 1);
  if (node >= 0 && p_->cur->clobbered[node])
    throw std::logic_error("edge: the output of '" + p_->g.nodes[node].name +
                           "' was overwritten in place by its ReLU in training (use infer_edges)");
  return p_->to_plain(a, a.data);
}

Tensor Net::edge_grad(int node) const {
  p_->need_forward("edge_grad");
  const Act& a = p_->cur->acts.at(node + 1);
  if (!a.diff || !p_->debug_grads)
    throw std::logic_error("edge_grad needs set_debug_grads(true) before the forward");
  return p_->to_plain(a, a.diff);
}

std::vector<Tensor> Net::infer_edges(const float* x, int n) {
  p_->forward(x, n, false, true);
  std::vector<Tensor> out;
  out.reserve(p_->g.nodes.size() + 1);
  for (int i = -1; i < static_cast<int>(p_->g.nodes.size()); ++i) out.push_back(edge(i));
  return out;
}

size_t Net::plans_held() const { return p_->plans.size(); }

void Net::infer_each_edge(const float* x, int n, const std::function<void(int, const Tensor&)>& each) {
  p_->forward(x, n, false, true);
  for (int i = -1; i < static_cast<int>(p_->g.nodes.size()); ++i) each(i, edge(i));
}

std::vector<double> Net::layer_penalties() const {
  std::vector<double> out;
  if (!p_->cur) return out;
  for (size_t k = 0; k < p_->pen_nodes.size(); ++k)
    out.push_back(p_->pen_sums[k] / static_cast<double>(p_->cur->acts[p_->pen_nodes[k] + 1].numel()));
  return out;
}

std::vector<int64_t> Net::nonzero_counts(float threshold) const {
  std::vector<int> all(p_->g.nodes.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  return nonzero_counts(all, threshold);
}

std::vector<int64_t> Net::nonzero_counts(const std::vector<int>& nodes, float threshold) const {
  p_->need_forward("nonzero_counts");
  std::vector<int64_t> out;
  for (int i : nodes) {
    const Act& a = p_->cur->acts.at(static_cast<size_t>(i) + 1);
    if (p_->cur->clobbered[i]) {
      out.push_back(-1);
      continue;
    }
    const float* x = Impl::ptr(a.data);
    int64_t n = Impl::buf_elems(a), c = 0;
#pragma omp parallel for simd reduction(+ : c) schedule(static)
    for (int64_t k = 0; k < n; ++k) c += std::fabs(x[k]) > threshold;  // padding holds zeros
    out.push_back(c);
  }
  return out;
}

int64_t Net::activation_bytes() const {
  p_->need_forward("activation_bytes");
  int64_t b = 0;
  std::vector<void*> seen;
  for (const Act& a : p_->cur->acts) {
    void* h = a.data.get_data_handle();
    if (std::find(seen.begin(), seen.end(), h) == seen.end()) seen.push_back(h), b += a.desc.get_size();
  }
  return b;
}

int64_t Net::gradient_bytes() const {
  p_->need_forward("gradient_bytes");
  const Plan& p = *p_->cur;
  std::map<void*, int64_t> size;  // buffers shared by several edges count once, at their largest use
  auto add = [&](const memory& m) {
    if (!m) return;
    int64_t& b = size[m.get_data_handle()];
    b = std::max<int64_t>(b, m.get_desc().get_size());
  };
  for (const Act& a : p.acts) add(a.diff);
  for (const auto& acc : p.accum)
    for (const Accum& x : acc) add(x.scratch);
  int64_t total = 0;
  for (const auto& [h, b] : size) total += b;
  return total;
}

int64_t Net::edge_numel(int node) const {
  p_->need_forward("edge_numel");
  return p_->cur->acts.at(node + 1).numel();
}

}  // namespace eatsim
