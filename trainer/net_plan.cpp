// The Net's plans: a Graph turned into oneDNN layers for one batch size, with the edges, the
// gradient buffers (shared where lifetimes allow) and the accumulations of multi-consumer edges.
// One plan is kept at a time: a new batch size or kind (the last partial batch of an evaluation, an
// all-edges plan for the estimator) replaces it, so a run peaks at its largest plan, not at the sum.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "trainer/net_impl.hpp"

namespace eatsim {

using namespace trainer;

Net::Impl::Plan& Net::Impl::plan_for(int n, bool backward, bool all_edges) {
  for (size_t i = 0; i < plans.size(); ++i)
    if (plans[i]->batch == n && (plans[i]->backward || !backward) && !(all_edges && plans[i]->inplace)) {
      std::rotate(plans.begin() + i, plans.begin() + i + 1, plans.end());
      return *plans.back();
    }
  // Rebuilding costs a fraction of a second (primitive creation); keeping an epoch's training,
  // evaluation and estimator plans together cost up to 1.7x the memory of a training step.
  cur = nullptr;
  plans.clear();
  plans.push_back(build(n, backward, all_edges));
  return *plans.back();
}

namespace {

// Transient conversion buffers (Ports) of a plan never live at once: one allocation serves all.
void bind_scratch(Plan& p, std::vector<memory>& scratch) {
  size_t most = 0;
  for (const memory& m : scratch) most = std::max(most, m.get_desc().get_size());
  if (!most) return;
  void* raw = std::aligned_alloc(64, (most + 63) / 64 * 64);
  if (!raw) throw std::bad_alloc();
  p.slabs.emplace_back(raw, std::free);
  for (memory& m : scratch) m.set_data_handle(raw);
}

}  // namespace

std::unique_ptr<Net::Impl::Plan> Net::Impl::build(int n, bool backward, bool all_edges) {
  auto p = std::make_unique<Plan>();
  p->batch = n;
  p->backward = backward;
  size_t nn = g.nodes.size();
  p->acts.resize(nn + 1);
  p->layers.resize(nn);
  p->accum.resize(nn);
  std::vector<memory> scratch, grad_scratch, col_scratch;  // transient buffers: one allocation per pool
  PlanOptions po{backward, all_edges, debug_grads, fast_conv, {}, std::vector<char>(nn, 0)};
  if (pen.lambda > 0) po.penalised = pen_nodes;
  FusionPlan fp = plan_fusion(g, po);
  Act& in = p->acts[0];
  in.dims = Shape{n};
  in.dims.insert(in.dims.end(), g.input_shape.begin(), g.input_shape.end());
  in.desc = plain_desc(in.dims);
  in.data = memory(in.desc, env.eng);
  if (debug_grads && backward) in.diff = memory(in.desc, env.eng);
  GradWriters w = grad_writers(g);
  auto find_param = [](void* ctx, const std::string& key) {
    Param* q = static_cast<Impl*>(ctx)->find(key);
    if (!q) throw std::logic_error("missing parameter " + key);
    return q;
  };
  // Pass-through gradients (add, identity) chain: an edge may share the gradient buffer of an add
  // whose own output later shares the next add's (MobileNet's consecutive residual adds). Each
  // edge's final buffer is resolved once every node is built.
  std::vector<int> alias_of(nn + 1, -1);               // edge -> the edge whose buffer it shares
  std::vector<std::pair<int, size_t>> accum_from_out;  // (node, accumulation) reading its output's
  for (int i : g.order) {
    InputWiring wi = wire_inputs(*p, w, i);
    Act& out = p->acts[i + 1];
    BuildArgs args{env,        g.nodes[i], n,        wi.ins,       out,         wi.diff_in,
                   find_param, this,       backward, fp.layers[i], slots.data()};
    args.scratch = &scratch;
    args.grad_scratch = &grad_scratch;
    args.col_scratch = &col_scratch;
    p->layers[i] = make_layer(args);
    if (fp.layers[i].fuse_relu && !args.fused) po.cannot_fuse[i] = 1, fp = plan_fusion(g, po);
    if (!out.data) out.data = memory(out.desc, env.eng);
    if (!backward) continue;
    out.diff = new_diff(out.desc);
    if (wi.alias_edge >= 0) alias_of[wi.alias_edge] = i + 1;
    for (size_t k : wi.accum_from_out) accum_from_out.emplace_back(i, k);
  }
  auto root = [&](int e) {
    while (alias_of[e] >= 0) e = alias_of[e];
    return e;
  };
  for (size_t e = 0; e <= nn; ++e)
    if (alias_of[e] >= 0) p->acts[e].diff = p->acts[root(static_cast<int>(e))].diff;
  for (auto [i, k] : accum_from_out) p->accum[i][k].scratch = p->acts[root(i + 1)].diff;
  // A BN computing its ReLU reads the ReLU's dy (set here, once later consumers of the ReLU's
  // output have finished aliasing its gradient buffer).
  for (size_t i = 0; i < nn; ++i)
    if (fp.layers[i].fuse_relu) p->acts[i + 1].diff = p->acts[fp.layers[i].pen_relu + 1].diff;
  p->clobbered = fp.clobbered;
  p->inplace = fp.inplace;
  if (backward && !debug_grads) share_diffs(*p, w);
  bind_scratch(*p, scratch);
  bind_scratch(*p, grad_scratch);
  bind_scratch(*p, col_scratch);
  return p;
}

// add and identity hand dy on unchanged: where the layouts agree their input's gradient can be the
// output's gradient buffer itself (one edge per node) or be accumulated straight from it.
InputWiring Net::Impl::wire_inputs(Plan& p, const GradWriters& w, int i) {
  const Node& node = g.nodes[i];
  InputWiring r;
  bool twice = node.in.size() == 2 && node.in[0] == node.in[1];
  for (size_t s = 0; s < node.in.size(); ++s) {
    int e = node.in[s] + 1;
    Act& a = p.acts[e];
    r.ins.push_back(&a);
    bool pass = !twice && (node.op == Op::identity ||
                           (node.op == Op::add && (s == 0 || a.desc == p.acts[node.in[0] + 1].desc)));
    if (!a.diff) {
      r.diff_in.emplace_back();
    } else if (w.first_writer(e, i, static_cast<int>(s))) {
      if (pass && r.alias_edge < 0) {
        r.alias_edge = e;
        r.diff_in.emplace_back();
      } else {
        r.diff_in.push_back(a.diff);
      }
    } else {
      Accum acc{e, pass ? memory() : new_diff(a.desc), {}};
      acc.add = dnnl::binary(
          dnnl::binary::primitive_desc({dnnl::algorithm::binary_add, a.desc, a.desc, a.desc}, env.eng));
      if (pass) r.accum_from_out.push_back(p.accum[i].size());
      r.diff_in.push_back(acc.scratch);
      p.accum[i].push_back(std::move(acc));
    }
  }
  return r;
}

// Gradient buffers: allocated here (zeroed) in debug mode, else bound later by share_diffs.
memory Net::Impl::new_diff(const md& d) {
  if (!debug_grads) return memory(d, env.eng, DNNL_MEMORY_NONE);
  memory m(d, env.eng);
  std::memset(m.get_data_handle(), 0, d.get_size());
  return m;
}

// Backward runs the nodes in reverse order; an edge's gradient lives from its first writer (or
// the start) to its producer's backward, a scratch buffer only during its consumer's backward.
// Buffers whose lifetimes do not overlap share memory (share_slabs).
void Net::Impl::share_diffs(Plan& p, const GradWriters& w) {
  int nn = static_cast<int>(g.nodes.size());
  std::vector<memory> bufs;
  std::vector<BufferUse> uses;
  auto note = [&](const memory& m, int from, int to) {
    for (size_t k = 0; k < bufs.size(); ++k)
      if (bufs[k].get() == m.get()) {
        uses[k].from = std::min(uses[k].from, from), uses[k].to = std::max(uses[k].to, to);
        return;
      }
    bufs.push_back(m);
    uses.push_back({m.get_desc().get_size(), from, to});
  };
  for (int j = 0; j < nn; ++j) note(p.acts[j + 1].diff, w.first_step(j + 1), w.step(j));
  for (int i = 0; i < nn; ++i)
    for (const Accum& acc : p.accum[i])
      if (acc.scratch.get() != p.acts[i + 1].diff.get()) note(acc.scratch, w.step(i), w.step(i));
  SlabPlan sp = share_slabs(uses);
  std::vector<std::shared_ptr<void>> slabs;
  for (size_t bytes : sp.slab_bytes) {
    void* raw = std::aligned_alloc(64, bytes);
    if (!raw) throw std::bad_alloc();
    std::memset(raw, 0, bytes);
    slabs.emplace_back(raw, std::free);
  }
  for (size_t k = 0; k < bufs.size(); ++k) bufs[k].set_data_handle(slabs[sp.slab_of[k]].get());
  for (auto& s : slabs) p.slabs.push_back(s);
}

}  // namespace eatsim
