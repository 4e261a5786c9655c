// Net: a Graph turned into oneDNN layers. A Plan holds everything sized by the batch (edges,
// layers, gradient-accumulation buffers); plans are built on first use of a batch size and kept.
#include "trainer/net.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <unordered_map>

#include "base/errors.hpp"
#include "trainer/layers/layer.hpp"
#include "trainer/layers/softmax_ce.hpp"

namespace eatsim {

using namespace trainer;

namespace {

// Gradient of an edge with several consumers: all but the first to run backward write here, and
// the buffer is added into the edge's gradient right after that consumer's backward.
struct Accum {
  int edge;
  memory scratch;
  dnnl::binary add;
};

struct Plan {
  int batch = 0;
  bool backward = false;                       // gradient buffers and backward primitives built
  std::vector<Act> acts;                       // [0] = graph input, [1 + i] = output of node i
  std::vector<std::unique_ptr<Layer>> layers;  // by node index
  std::vector<std::vector<Accum>> accum;       // by node index, run after its backward
  std::vector<std::shared_ptr<void>> slabs;    // shared gradient memory (see share_diffs)
  std::vector<char> clobbered;                 // by node: output overwritten in place by its ReLU
                                               // (or never written: a BN computing its ReLU)
  bool inplace = false;                        // some node is clobbered
};

}  // namespace

struct Net::Impl {
  Graph g;
  Env env;
  std::vector<Param> params;  // state_dict order
  std::vector<ParamInfo> infos;
  std::unordered_map<std::string, size_t> by_key;
  std::vector<std::unique_ptr<Plan>> plans;  // most recently used last
  Plan* cur = nullptr;
  bool debug_grads = false;
  bool fast_conv = false;
  bool last_train = false;
  PenaltyConfig pen;
  std::vector<int> pen_nodes;
  std::vector<double> pen_sums;  // per penalised node, last forward
  std::vector<PenSlot> slots;    // per node: penalty state shared with fusing layers
  GraphUses uses;                // consumers and penalty_by per node
  mutable std::vector<float> probs;
  bool profiling = false;
  mutable std::map<std::string, double> prof;  // seconds by layer type (set_profile)

  double reorder_s = 0;  // profiling: layout conversions inside layers (Port), running total

  // Runs f, adding its wall time to prof[what] when profiling; the layout conversions inside go
  // to prof["reorder"] instead.
  template <class F>
  void timed(const char* what, F&& f) {
    if (!profiling) return f();
    double r0 = reorder_s;
    auto t0 = std::chrono::steady_clock::now();
    f();
    env.s.wait();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    prof[what] += dt - (reorder_s - r0);
    prof["reorder"] += reorder_s - r0;
  }

  Param* find(const std::string& key) {
    auto it = by_key.find(key);
    return it == by_key.end() ? nullptr : &params[it->second];
  }

  // A training plan serves eval forwards too; an eval-only plan has no gradient buffers.
  // all_edges: every edge must survive the forward (no in-place ReLU).
  Plan& plan_for(int n, bool backward, bool all_edges = false) {
    for (size_t i = 0; i < plans.size(); ++i)
      if (plans[i]->batch == n && (plans[i]->backward || !backward) && !(all_edges && plans[i]->inplace)) {
        std::rotate(plans.begin() + i, plans.begin() + i + 1, plans.end());
        return *plans.back();
      }
    for (size_t i = 0; i < plans.size(); ++i)
      if (backward && plans[i]->batch == n && !plans[i]->backward) {  // an eval-only plan is superseded
        plans.erase(plans.begin() + i);
        break;
      }
    // Up to two plans of each kind (a full and a last partial batch, for training and for eval):
    // the least recently used of the same kind goes.
    int same = 0;
    for (const auto& q : plans) same += q->backward == backward;
    if (same >= 2)
      for (size_t i = 0; i < plans.size(); ++i)
        if (plans[i]->backward == backward) {
          plans.erase(plans.begin() + i);
          break;
        }
    plans.push_back(build(n, backward, all_edges));
    return *plans.back();
  }

  // all_edges: no fusion or in-place work, every edge keeps its value.
  std::unique_ptr<Plan> build(int n, bool backward, bool all_edges) {
    auto p = std::make_unique<Plan>();
    p->batch = n;
    p->backward = backward;
    size_t nn = g.nodes.size();
    p->acts.resize(nn + 1);
    p->layers.resize(nn);
    p->accum.resize(nn);
    std::vector<memory> scratch;  // transient conversion buffers sharing one allocation
    PlanOptions po{backward, all_edges, debug_grads, fast_conv, {}, std::vector<char>(nn, 0)};
    if (pen.lambda > 0) po.penalised = pen_nodes;
    FusionPlan fp = plan_fusion(g, po);
    Act& in = p->acts[0];
    in.dims = Shape{n};
    in.dims.insert(in.dims.end(), g.input_shape.begin(), g.input_shape.end());
    in.desc = plain_desc(in.dims);
    in.data = memory(in.desc, env.eng);
    if (debug_grads && backward) in.diff = memory(in.desc, env.eng);
    // The consumer that runs backward first (last in execution order) writes an edge's gradient.
    std::vector<int> pos(nn);
    for (size_t k = 0; k < g.order.size(); ++k) pos[g.order[k]] = static_cast<int>(k);
    std::vector<std::pair<int, int>> first(nn + 1, {-1, -1});  // (position, slot) per edge
    for (size_t i = 0; i < nn; ++i)
      for (size_t s = 0; s < g.nodes[i].in.size(); ++s) {
        auto key = std::make_pair(pos[i], static_cast<int>(s));
        auto& f = first[g.nodes[i].in[s] + 1];
        if (key > f) f = key;
      }
    for (int i : g.order) {
      const Node& node = g.nodes[i];
      std::vector<Act*> ins;
      std::vector<memory> diff_in;
      // add and identity hand dy on unchanged: where the layouts agree their input's gradient can
      // be the output's gradient buffer itself (one edge per node) or be accumulated straight from it.
      int alias_edge = -1;
      std::vector<size_t> accum_from_out;
      bool twice = node.in.size() == 2 && node.in[0] == node.in[1];
      for (size_t s = 0; s < node.in.size(); ++s) {
        int e = node.in[s] + 1;
        Act& a = p->acts[e];
        ins.push_back(&a);
        bool pass = !twice && (node.op == Op::identity ||
                               (node.op == Op::add && (s == 0 || a.desc == p->acts[node.in[0] + 1].desc)));
        if (!a.diff) {
          diff_in.emplace_back();
        } else if (first[e] == std::make_pair(pos[i], static_cast<int>(s))) {
          if (pass && alias_edge < 0) {
            alias_edge = e;
            diff_in.emplace_back();
          } else {
            diff_in.push_back(a.diff);
          }
        } else {
          Accum acc{e, pass ? memory() : new_diff(a.desc), {}};
          acc.add = dnnl::binary(
              dnnl::binary::primitive_desc({dnnl::algorithm::binary_add, a.desc, a.desc, a.desc}, env.eng));
          if (pass) accum_from_out.push_back(p->accum[i].size());
          diff_in.push_back(acc.scratch);
          p->accum[i].push_back(std::move(acc));
        }
      }
      Act& out = p->acts[i + 1];
      BuildArgs args{env,
                     node,
                     n,
                     ins,
                     out,
                     diff_in,
                     [](void* ctx, const std::string& key) {
                       Param* q = static_cast<Impl*>(ctx)->find(key);
                       if (!q) throw std::logic_error("missing parameter " + key);
                       return q;
                     },
                     this,
                     backward,
                     fp.layers[i],
                     slots.data()};
      args.scratch = &scratch;
      p->layers[i] = make_layer(args);
      if (fp.layers[i].fuse_relu && !args.fused) po.cannot_fuse[i] = 1, fp = plan_fusion(g, po);
      if (!out.data) out.data = memory(out.desc, env.eng);
      if (!backward) continue;
      out.diff = new_diff(out.desc);
      if (alias_edge >= 0) p->acts[alias_edge].diff = out.diff;
      for (size_t k : accum_from_out) p->accum[i][k].scratch = out.diff;
    }
    // A BN computing its ReLU reads the ReLU's dy (set here, once later consumers of the ReLU's
    // output have finished aliasing its gradient buffer).
    for (size_t i = 0; i < nn; ++i)
      if (fp.layers[i].fuse_relu) p->acts[i + 1].diff = p->acts[fp.layers[i].pen_relu + 1].diff;
    p->clobbered = fp.clobbered;
    p->inplace = fp.inplace;
    if (backward && !debug_grads) share_diffs(*p, pos, first);
    size_t most = 0;
    for (const memory& m : scratch) most = std::max(most, m.get_desc().get_size());
    if (most) {
      void* raw = std::aligned_alloc(64, (most + 63) / 64 * 64);
      if (!raw) throw std::bad_alloc();
      p->slabs.emplace_back(raw, std::free);
      for (memory& m : scratch) m.set_data_handle(raw);
    }
    return p;
  }

  // Gradient buffers: allocated here (zeroed) in debug mode, else bound later by share_diffs.
  memory new_diff(const md& d) {
    if (!debug_grads) return memory(d, env.eng, DNNL_MEMORY_NONE);
    memory m(d, env.eng);
    std::memset(m.get_data_handle(), 0, d.get_size());
    return m;
  }

  // Backward runs the nodes in reverse order; an edge's gradient lives from its first writer (or
  // the start) to its producer's backward, a scratch buffer only during its consumer's backward.
  // Buffers whose lifetimes do not overlap share memory (first fit by start time, best size).
  void share_diffs(Plan& p, const std::vector<int>& pos, const std::vector<std::pair<int, int>>& first) {
    int nn = static_cast<int>(g.nodes.size());
    auto r = [&](int node) { return nn - 1 - pos[node]; };
    struct Use {
      memory m;
      size_t bytes;
      int from, to;
    };
    std::vector<Use> uses;
    auto note = [&](const memory& m, int from, int to) {
      for (Use& u : uses)
        if (u.m.get() == m.get()) {
          u.from = std::min(u.from, from), u.to = std::max(u.to, to);
          return;
        }
      uses.push_back({m, m.get_desc().get_size(), from, to});
    };
    for (int j = 0; j < nn; ++j) {
      const Act& a = p.acts[j + 1];
      int w = first[j + 1].first >= 0 ? nn - 1 - first[j + 1].first : -1;
      note(a.diff, w, r(j));
    }
    for (int i = 0; i < nn; ++i)
      for (const Accum& acc : p.accum[i])
        if (acc.scratch.get() != p.acts[i + 1].diff.get()) note(acc.scratch, r(i), r(i));
    std::sort(uses.begin(), uses.end(), [](const Use& a, const Use& b) { return a.from < b.from; });
    struct Slab {
      std::shared_ptr<void> mem;
      size_t bytes;
      int busy_to;
    };
    std::vector<Slab> slabs;
    for (Use& u : uses) {
      Slab* best = nullptr;
      for (Slab& s : slabs)
        if (s.busy_to < u.from && s.bytes >= u.bytes && (!best || s.bytes < best->bytes)) best = &s;
      if (!best) {
        size_t bytes = (u.bytes + 63) / 64 * 64;
        void* raw = std::aligned_alloc(64, bytes);
        if (!raw) throw std::bad_alloc();
        std::memset(raw, 0, bytes);
        slabs.push_back({std::shared_ptr<void>(raw, std::free), bytes, -2});
        best = &slabs.back();
      }
      best->busy_to = u.to;
      u.m.set_data_handle(best->mem.get());
    }
    for (Slab& s : slabs) p.slabs.push_back(s.mem);
  }

  static float* ptr(const memory& m) { return static_cast<float*>(m.get_data_handle()); }
  // Elements in the buffer, padding of blocked layouts included (it holds zeros, which add 0).
  static int64_t buf_elems(const Act& a) { return static_cast<int64_t>(a.desc.get_size() / sizeof(float)); }

  void forward(const float* x, int n, bool train, bool all_edges = false) {
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
  double penalty_value(std::vector<float>* scales) const {
    if (pen_nodes.empty() || pen.lambda == 0) return 0;
    double p = 0;
    int64_t total = 0;
    for (int i : pen_nodes) total += cur->acts[i + 1].numel();
    if (scales) scales->clear();
    for (size_t k = 0; k < pen_nodes.size(); ++k) {
      int64_t ne = cur->acts[pen_nodes[k] + 1].numel();
      double w = pen.norm == PenaltyNorm::layer_mean ? 1.0 / (static_cast<double>(pen_nodes.size()) * ne)
                                                     : 1.0 / static_cast<double>(total);
      p += pen_sums[k] * w;
      if (scales) scales->push_back(static_cast<float>(pen.lambda * w));
    }
    return p;
  }

  void need_forward(const char* what) const {
    if (!cur) throw std::logic_error(std::string(what) + " before any forward");
  }

  LossParts loss(const int64_t* labels) const {
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

  void backward_core(const float* d_output) {
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
  void seed_gradients(const float* d) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (uses.consumers[i] == 0 && static_cast<int>(i) != g.output) {
        const Act& a = cur->acts[i + 1];
        std::memset(a.diff.get_data_handle(), 0, a.desc.get_size());
      }
    if (uses.consumers[g.output] == 0) write_output_diff(d, false);
  }

  void write_output_diff(const float* d, bool add) {
    Act& o = cur->acts[g.output + 1];
    md plain = plain_desc(o.dims);
    memory src(plain, env.eng, const_cast<float*>(d));
    memory dst = add ? memory(o.desc, env.eng) : o.diff;
    make_reorder(env, plain, o.desc).execute(env.s, src, dst);
    if (add)
      dnnl::binary(
          dnnl::binary::primitive_desc({dnnl::algorithm::binary_add, o.desc, o.desc, o.desc}, env.eng))
          .execute(env.s, {{DNNL_ARG_SRC_0, o.diff}, {DNNL_ARG_SRC_1, dst}, {DNNL_ARG_DST, o.diff}});
    env.s.wait();
  }

  Tensor to_plain(const Act& a, const memory& m) const {
    Tensor t(a.dims);
    md plain = plain_desc(a.dims);
    memory dst(plain, env.eng, t.data.data());
    auto& e = const_cast<Env&>(env);
    make_reorder(e, a.desc, plain).execute(e.s, const_cast<memory&>(m), dst);
    e.s.wait();
    return t;
  }

  void init_params(uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (Param& p : params) {
      const ParamInfo& in = p.info;
      const Node& n = g.nodes[in.node];
      std::fill(p.value.begin(), p.value.end(), 0.0f);
      if (n.op == Op::batchnorm2d) {
        if (in.kind == ParamKind::weight || in.kind == ParamKind::running_var)
          std::fill(p.value.begin(), p.value.end(), 1.0f);
        continue;
      }
      // PyTorch: kaiming_uniform(a=√5) for weights and U(±1/√fan_in) for biases: both 1/√fan_in.
      int64_t fan_in = n.op == Op::conv2d ? g.in_shape(n, 0)[0] * n.kh * n.kw : g.in_shape(n, 0)[0];
      float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in)));
      std::uniform_real_distribution<float> u(-bound, bound);
      for (float& v : p.value) v = u(rng);
    }
  }
};

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
  p_->pen_sums.assign(p_->pen_nodes.size(), 0.0);
}
const PenaltyConfig& Net::penalty() const { return p_->pen; }
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

const std::vector<ParamInfo>& Net::param_info() const { return p_->infos; }

Tensor Net::get(const std::string& key) const {
  Param* q = p_->find(key);
  if (!q) throw DataError(fmt::format("model '{}' has no tensor '{}'", p_->g.name, key));
  Tensor t(q->info.shape);
  if (q->info.is_int64)
    t.data.assign(1, static_cast<float>(q->count));
  else
    t.data = q->value;
  return t;
}

std::map<std::string, Tensor> Net::state() const {
  std::map<std::string, Tensor> s;
  for (const auto& in : p_->infos) s[in.key] = get(in.key);
  return s;
}

void Net::set(const std::string& key, const Tensor& t) {
  Param* q = p_->find(key);
  if (!q) throw DataError(fmt::format("model '{}' has no tensor '{}'", p_->g.name, key));
  if (t.shape != q->info.shape || static_cast<int64_t>(t.data.size()) != numel(q->info.shape))
    throw DataError(fmt::format("tensor '{}' has shape {} but model '{}' expects {}", key, shape_str(t.shape),
                                p_->g.name, shape_str(q->info.shape)));
  if (q->info.is_int64)
    q->count = static_cast<int64_t>(t.data[0]);
  else
    std::copy(t.data.begin(), t.data.end(), q->value.begin());
}

void Net::load_state(const std::map<std::string, Tensor>& s, const std::string& where) {
  for (const auto& in : p_->infos)
    if (!s.count(in.key))
      throw DataError(fmt::format("{}: tensor '{}' is missing (is it from model '{}' with these parameters?)",
                                  where, in.key, p_->g.name));
  for (const auto& [k, t] : s)
    if (!p_->find(k))
      throw DataError(
          fmt::format("{}: tensor '{}' is not part of model '{}' (the state is from another model)", where, k,
                      p_->g.name));
  for (const auto& [k, t] : s) {
    try {
      set(k, t);
    } catch (const DataError& e) {
      throw DataError(where + ": " + e.what());
    }
  }
}

std::vector<ParamRef> Net::trainable() {
  std::vector<ParamRef> out;
  for (Param& q : p_->params)
    if (q.info.trainable)
      out.push_back(ParamRef{&q.info, q.value.data(), q.grad.data(), static_cast<int64_t>(q.value.size())});
  return out;
}

float* Net::param(const std::string& key) {
  Param* q = p_->find(key);
  return q && !q->info.is_int64 ? q->value.data() : nullptr;
}

float* Net::grad(const std::string& key) {
  Param* q = p_->find(key);
  return q && q->info.trainable ? q->grad.data() : nullptr;
}

}  // namespace eatsim
