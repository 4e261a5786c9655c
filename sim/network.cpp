// Grouping graph nodes into rows and simulating a row: see network.hpp.
#include "sim/network.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>

#include "base/errors.hpp"
#include "sim/engine.hpp"
#include "sim/ppu.hpp"
#include "sim/sparse.hpp"
#include "sim/verify.hpp"

namespace eatsim::sim {
namespace {

bool is_gemm(Op op) { return op == Op::conv2d || op == Op::linear; }

// Element operations a PPU node costs per sample (BN: LayerGroup::bn_ops).
int64_t ppu_ops_of(const Graph& g, const Node& n) {
  int64_t out = numel(n.out_shape);
  switch (n.op) {
    case Op::relu:
    case Op::relu6:
    case Op::hardtanh:
    case Op::leaky_relu:
      return out;  // one compare/select (leaky: a multiply) per element
    case Op::hardsigmoid:
      return 2 * out;  // multiply-add, clamp
    case Op::hardswish:
      return 3 * out;  // multiply-add, clamp, multiply
    case Op::sigmoid:
      return 4 * out;  // piecewise-linear evaluation: segment select, multiply-add, clamp, select
    case Op::silu:
      return 5 * out;  // the sigmoid, then a multiply
    case Op::add:
    case Op::mul:
      return out * int64_t(n.in.size() - 1);
    case Op::concat: {  // the inputs beside the stream pass through the PPU into the output
      int64_t moved = 0;
      for (size_t k = 1; k < n.in.size(); ++k) moved += numel(g.in_shape(n, k));
      return moved;
    }
    case Op::maxpool2d:
    case Op::avgpool2d:
      return out * n.kh * n.kw;
    case Op::global_avgpool:
      return numel(g.in_shape(n, 0)) + out;  // sums, then one scale each
    default:
      return 0;  // flatten, identity, dropout (inference): addressing only
  }
}

int alias_root(const Graph& g, int x) {
  while (x >= 0 && g.nodes[x].op == Op::identity) x = g.nodes[x].in[0];
  return x;
}

}  // namespace

std::string LayerGroup::kind() const {
  if (gemm < 0) return "ppu";
  return linear ? "linear" : "conv";
}

std::string LayerGroup::fused_names(const Graph& g) const {
  std::string s;
  for (int i : ppu) s += (s.empty() ? "" : ",") + g.nodes[i].name;
  return s;
}

std::vector<LayerGroup> group_layers(const Graph& g) {
  std::vector<int> owner(g.nodes.size(), -1);
  std::vector<LayerGroup> groups;
  for (int i : g.order) {
    const Node& n = g.nodes[i];
    if (is_gemm(n.op)) {
      LayerGroup grp;
      grp.name = n.name, grp.gemm = i, grp.shape = gemm_of(g, i), grp.linear = n.op == Op::linear;
      grp.in_elems = numel(g.in_shape(n, 0));
      grp.weight_elems = grp.shape.weight_elems() + (n.bias ? n.out_channels : 0);
      if (n.bias) grp.ppu_ops += grp.shape.out_elems();
      owner[i] = static_cast<int>(groups.size());
      groups.push_back(grp);
      continue;
    }
    int up = n.in.empty() ? -1 : n.in[0];  // the stream this node rides on
    int o = up >= 0 ? owner[up] : -1;
    if (o < 0) {
      LayerGroup grp;
      grp.name = n.name;
      grp.in_elems = numel(g.in_shape(n, 0));
      o = static_cast<int>(groups.size());
      groups.push_back(grp);
    }
    owner[i] = o;
    LayerGroup& grp = groups[o];
    grp.ppu.push_back(i);
    grp.ppu_ops += ppu_ops_of(g, n);
    if (n.op == Op::batchnorm2d) grp.bn_ops += 2 * numel(n.out_shape), grp.bn_params += 2 * n.out_shape[0];
    // Operands beside the stream come from other rows through DRAM (residual adds, SE scales,
    // concat inputs).
    if (n.in.size() > 1)
      for (size_t k = 0; k < n.in.size(); ++k) {
        int r = alias_root(g, n.in[k]);
        if (r < 0 || owner[r] != o)
          grp.residual_elems += numel(g.in_shape(n, k)), grp.residual_nodes.push_back(r);
      }
  }
  // A row writes back each tensor that another row or the graph output needs.
  std::vector<std::vector<int>> consumers(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (int x : g.nodes[i].in)
      if (x >= 0) consumers[x].push_back(static_cast<int>(i));
  std::function<bool(int)> needed = [&](int x) {
    if (x == g.output) return true;
    for (int y : consumers[x])
      if (owner[y] != owner[x] || (g.nodes[y].op == Op::identity && needed(y))) return true;
    return false;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op == Op::identity || owner[i] < 0) continue;
    if (needed(static_cast<int>(i))) {
      groups[owner[i]].out_elems += numel(g.nodes[i].out_shape);
      groups[owner[i]].out_nodes.push_back(static_cast<int>(i));
    }
  }
  return groups;
}

void check_supported(const HwConfig& hw) {
  const SkipConfig& k = hw.sparsity.skip;
  if (k.enabled && hw.array.dataflow == Dataflow::ws && (hw.array.rows + k.group - 1) / k.group > 64)
    throw ConfigError(
        fmt::format("{}: sparsity.skip.group: {} rows in groups of {} make more than 64 lane "
                    "groups; this engine models at most 64",
                    hw.file, hw.array.rows, k.group));
  if (k.enabled && hw.array.dataflow == Dataflow::os && (hw.array.rows + k.group - 1) / k.group > 64)
    throw ConfigError(
        fmt::format("{}: sparsity.skip.group: at most 64 pixel-row groups ({} rows, groups of {})", hw.file,
                    hw.array.rows, k.group));
}

const char* fidelity_name(Fidelity f) {
  switch (f) {
    case Fidelity::fast:
      return "fast";
    case Fidelity::step:
      return "step";
    case Fidelity::cycle:
      return "cycle";
  }
  return "?";
}

namespace {
ClockedModel* g_clocked = nullptr;
}
void install_clocked_model(ClockedModel* m) { g_clocked = m; }

Counters simulate_gemm(const HwConfig& hw, const GemmShape& g, const LayerIo& io, Fidelity f,
                       const SparseLayer* sp, int64_t ppu_cycles, LayerFacts facts) {
  if (f == Fidelity::cycle && !g_clocked)
    throw std::logic_error("cycle fidelity: the SystemC model is not installed (sim/systemc/clocked.hpp)");
  const bool skip = sp && hw.sparsity.skip.enabled;
  auto plan = make_plan(hw, g, io, skip && hw.array.dataflow == Dataflow::is ? &sp->is_rows : nullptr);
  facts.dense_macs = g.dense_macs(), facts.pad_macs = g.pad_macs();
  facts.sp = sp, facts.N = g.N, facts.gate = hw.sparsity.gate, facts.skip = skip;
  facts.skip_in_folds = hw.array.dataflow == Dataflow::is;
  facts.ifmap_bytes = io.ifmap_bytes;
  FoldEngine e(hw, *plan, skip ? make_skip_stream(hw, *sp) : nullptr,
               f == Fidelity::cycle ? &g_clocked->memory(hw) : nullptr, facts);
  // The PPU consumes the output stream through the psum buffer, which decouples it from the array:
  // it works on every clock of the row (compute, DMA stalls, write-back), as a real PPU drains one
  // fold's outputs while the next fold computes or waits; what is left runs after (the tail).
  if (hw.scalesim_compat) ppu_cycles = 0;
  int64_t ppu_tail = 0, busy = -1;
  if (f == Fidelity::cycle) {
    ClockedModel::RowResult r = g_clocked->run(e, ppu_cycles);
    ppu_tail = r.ppu_tail, busy = r.dma_busy_cycles;
  } else {
    if (f == Fidelity::fast)
      e.run();
    else
      while (!e.done()) e.step();
    const Counters& c = e.counters();
    PpuOnStream ppu(ppu_cycles);
    ppu.beside_array(c.compute_cycles() + c.cycles_stall + c.cycles_writeback);
    ppu.alone(ppu.left());
    ppu_tail = ppu.tail();
  }
  Counters c = e.counters();  // final: the engine applied the layer's facts
  c.cycles_ppu_tail = ppu_tail;
  if (busy >= 0) c.dma_busy_cycles = busy;
  return c;
}

namespace {

// Bytes of tensors compressed each with its own scale; adds their metadata bits to `meta_bits`.
int64_t compressed_bytes(const HwConfig& hw, const std::vector<WrittenTensor>& ts, int64_t& meta_bits,
                         CompressedSizes& sizes) {
  int64_t bits = 0;
  for (const WrittenTensor& t : ts) {
    Quant q = make_quant(hw.array.datatype, t.max_abs, t.nonneg);
    Compressed c = sizes.get(t.data, t.elems, q, hw.elem_bits(), hw.sparsity.compress);
    bits += c.bits, meta_bits += c.meta_bits;
  }
  return (bits + 7) / 8;
}

}  // namespace

namespace {

// The operands of group `grp` of a layer whose one-group GEMM is `g`: channel slices of the input
// (CHW), the weights (grouped OIHW), the bias and the output. Quantisation scales stay the layer's.
LayerData group_slice(const LayerData& d, const GemmShape& g, int64_t grp) {
  LayerData s = d;
  s.ifmap = d.ifmap + grp * g.cin * g.h * g.w;
  s.weights = d.weights + grp * g.N * g.K;
  if (d.bias) s.bias = d.bias + grp * g.N;
  if (d.output) s.output = d.output + grp * g.N * g.M;
  s.written.clear(), s.residuals.clear();
  return s;
}

// Scales over the whole layer when the data source does not give them, so every group of a
// grouped conv is quantised alike (one tensor, one scale).
void layer_scales(LayerData& d, const GemmShape& g) {
  if (d.ifmap_max_abs < 0) d.ifmap_max_abs = max_abs_of(d.ifmap, g.ifmap_elems(), d.ifmap_nonneg);
  if (d.weight_max_abs < 0) d.weight_max_abs = max_abs_of(d.weights, g.weight_elems(), d.weights_nonneg);
}

// A conv/linear row: the GEMM on the array with its fused PPU work, on the values when given. A
// grouped conv runs its groups one after another, each a GEMM of its own on its channel slice (as
// if each group were its own layer); the row's transfers and PPU work are spread over them.
Counters gemm_row(const HwConfig& hw, const LayerGroup& grp, int64_t sample_in_batch, Fidelity f,
                  const RowInputs& in, int64_t ppu_cycles) {
  const int64_t b = hw.elem_bytes(), weight_elems = grp.weight_elems_on(hw);
  const GemmShape& layer = grp.shape;
  const int64_t G = layer.groups;
  LayerIo io;
  io.ifmap_bytes = grp.in_elems * b;
  bool resident = sample_in_batch % hw.batch != 0 && weight_elems * b <= hw.buf[kWeights].usable_bytes();
  io.weight_bytes = resident ? 0 : weight_elems * b;
  io.residual_bytes = grp.residual_elems * b;
  io.out_bytes = grp.out_elems * b;
  const bool values = in.data && in.data->ifmap && in.data->weights;
  if (hw.sparsity.any() && !values)
    throw ConfigError(
        fmt::format("{}: sparsity: layer {}: gate, skip and compress need the trace's values "
                    "(run with --trace, or turn the features off)",
                    hw.file, grp.name));
  CompressedSizes own_sizes;
  CompressedSizes& sizes = in.sizes ? *in.sizes : own_sizes;
  const bool compress = values && hw.sparsity.compress.format != CompressFormat::none;
  const bool scan = values && (hw.sparsity.any() || in.verify);
  LayerData data;
  if (values) data = *in.data, layer_scales(data, layer);
  LayerFacts layer_facts;
  // Tensors written back leave compressed, each quantised with its own scale; residual operands
  // arrive the same way (each was written back compressed).
  if (compress && !data.written.empty())
    io.out_bytes = compressed_bytes(hw, data.written, layer_facts.out_meta_bits, sizes);
  if (compress && !data.residuals.empty())
    io.residual_bytes = compressed_bytes(hw, data.residuals, layer_facts.res_meta_bits, sizes);
  const GemmShape one = layer.one_group();
  Counters total;
  VerifyStats verified;
  for (int64_t k = 0; k < G; ++k) {
    using detail::share;
    LayerIo gio;
    gio.ifmap_bytes = share(io.ifmap_bytes, k, 1, G), gio.weight_bytes = share(io.weight_bytes, k, 1, G);
    gio.residual_bytes = share(io.residual_bytes, k, 1, G), gio.out_bytes = share(io.out_bytes, k, 1, G);
    LayerFacts facts;
    facts.out_meta_bits = share(layer_facts.out_meta_bits, k, 1, G);
    facts.res_meta_bits = share(layer_facts.res_meta_bits, k, 1, G);
    const LayerData slice = values ? group_slice(data, one, k) : LayerData{};
    std::unique_ptr<SparseLayer> sp;
    if (scan)
      sp = analyse_layer(hw, one, slice, in.verify != nullptr, in.weights, grp.gemm,
                         in.scan ? *in.scan : ScanOptions{}, &sizes);
    if (compress) {
      const int64_t elems = one.ifmap_elems();
      Compressed c = sizes.get(slice.ifmap, elems, sp->qa, hw.elem_bits(), hw.sparsity.compress);
      gio.ifmap_bytes = (c.bits + 7) / 8;
      facts.in_raw_bits = elems * hw.elem_bits(), facts.in_bits = c.bits, facts.in_meta_bits = c.meta_bits;
    }
    total += simulate_gemm(hw, one, gio, f, sp.get(), share(ppu_cycles, k, 1, G), facts);
    if (in.verify && sp) {
      VerifyStats v = verify_layer(hw, *sp, slice);
      verified.ran = true, verified.ifmap_scale = v.ifmap_scale, verified.weight_scale = v.weight_scale;
      verified.worst_ratio = std::max(verified.worst_ratio, v.worst_ratio);
      verified.quant_err_max = std::max(verified.quant_err_max, v.quant_err_max);
    }
  }
  if (in.verify && verified.ran) {
    double out_max = 0;  // quant_err_rel is relative to the whole layer's output
    if (data.output)
      for (int64_t i = 0; i < layer.out_elems(); ++i)
        out_max = std::max(out_max, double(std::fabs(data.output[i])));
    verified.quant_err_rel = out_max > 0 ? verified.quant_err_max / out_max : 0;
    *in.verify = verified;
  }
  return total;
}

// PPU work with no array layer upstream: it streams its input from DRAM and writes back.
Counters ppu_row(const HwConfig& hw, const LayerGroup& grp, Fidelity f, int64_t ppu_cycles) {
  const int64_t b = hw.elem_bytes();
  Counters c;
  c.dram_ifmap_rd_bytes = grp.in_elems * b;
  c.dram_psum_rd_bytes = grp.residual_elems * b;
  c.dram_wr_bytes = grp.out_elems * b;
  const int64_t rd = c.dram_ifmap_rd_bytes + c.dram_psum_rd_bytes;
  if (f == Fidelity::cycle) {
    if (!g_clocked) throw std::logic_error("cycle fidelity: the SystemC model is not installed");
    ClockedModel::RowResult r = g_clocked->run_ppu_row(hw, rd, c.dram_wr_bytes, ppu_cycles);
    c.cycles_ppu_tail = r.ppu_tail;
    c.cycles_stall = hw.scalesim_compat ? 0 : r.stall;
    c.dma_busy_cycles = r.dma_busy_cycles;
  } else {
    AnalyticMemory mem(hw.dram.bytes_per_cycle, hw.dram.latency);
    PpuRow row(rd, c.dram_wr_bytes, ppu_cycles, mem);
    row.run();
    c.cycles_ppu_tail = row.worked();
    c.cycles_stall = hw.scalesim_compat ? 0 : row.waited();
    c.dma_busy_cycles = mem.busy_cycles();
  }
  c.sram_ifmap_wr = detail::words(c.dram_ifmap_rd_bytes, 8, hw.buf[kIfmap].word_bits);
  c.sram_ifmap_rd = c.sram_ifmap_wr;
  c.sram_psum_wr = detail::words(c.dram_psum_rd_bytes + c.dram_wr_bytes, 8, hw.buf[kPsum].word_bits);
  c.sram_psum_rd = c.sram_psum_wr;
  return c;
}

}  // namespace

Counters simulate_group(const HwConfig& hw, const LayerGroup& grp, int64_t sample_in_batch, Fidelity f,
                        const RowInputs& in) {
  const int64_t ppu_ops = grp.ppu_ops_on(hw), ppu_cycles = (ppu_ops + hw.ppu.width - 1) / hw.ppu.width;
  Counters c =
      grp.gemm >= 0 ? gemm_row(hw, grp, sample_in_batch, f, in, ppu_cycles) : ppu_row(hw, grp, f, ppu_cycles);
  c.ppu_ops = ppu_ops;
  return c;
}

int64_t reported_cycles(const HwConfig& hw, const LayerGroup& grp, const Counters& c) {
  // SCALE-Sim counts each layer one cycle short; a grouped conv is `groups` layers to it.
  int64_t t = c.total_cycles(), layers = grp.gemm >= 0 ? grp.shape.groups : 0;
  return hw.scalesim_compat && t > 0 ? std::max<int64_t>(0, t - layers) : t;
}

}  // namespace eatsim::sim
