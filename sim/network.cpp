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
      return out;
    case Op::add:
      return out * int64_t(n.in.size() - 1);
    case Op::maxpool2d:
    case Op::avgpool2d:
      return out * n.kh * n.kw;
    case Op::global_avgpool:
      return numel(g.in_shape(n, 0)) + out;  // sums, then one scale each
    default:
      return 0;  // flatten, identity: addressing only
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
    if (n.op == Op::add)
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
int64_t compressed_bytes(const HwConfig& hw, const std::vector<WrittenTensor>& ts, int64_t& meta_bits) {
  int64_t bits = 0;
  for (const WrittenTensor& t : ts) {
    Quant q = make_quant(hw.array.datatype, t.max_abs, t.nonneg);
    Compressed c = compressed_size(t.data, t.elems, q, hw.elem_bits(), hw.sparsity.compress);
    bits += c.bits, meta_bits += c.meta_bits;
  }
  return (bits + 7) / 8;
}

}  // namespace

namespace {

// A conv/linear row: the GEMM on the array with its fused PPU work, on the values when given.
Counters gemm_row(const HwConfig& hw, const LayerGroup& grp, int64_t sample_in_batch, Fidelity f,
                  const RowInputs& in, int64_t ppu_cycles) {
  const LayerData* data = in.data;
  const int64_t b = hw.elem_bytes(), weight_elems = grp.weight_elems_on(hw);
  LayerIo io;
  io.ifmap_bytes = grp.in_elems * b;
  bool resident = sample_in_batch % hw.batch != 0 && weight_elems * b <= hw.buf[kWeights].usable_bytes();
  io.weight_bytes = resident ? 0 : weight_elems * b;
  io.residual_bytes = grp.residual_elems * b;
  io.out_bytes = grp.out_elems * b;
  const bool values = data && data->ifmap && data->weights;
  if (hw.sparsity.any() && !values)
    throw ConfigError(
        fmt::format("{}: sparsity: layer {}: gate, skip and compress need the trace's values "
                    "(run with --trace, or turn the features off)",
                    hw.file, grp.name));
  std::unique_ptr<SparseLayer> sp;
  if (values && (hw.sparsity.any() || in.verify))
    sp = analyse_layer(hw, grp.shape, *data, in.verify != nullptr, in.weights, grp.gemm,
                       in.scan ? *in.scan : ScanOptions{});
  LayerFacts facts;
  if (values && hw.sparsity.compress.format != CompressFormat::none) {
    Compressed cin = compressed_size(data->ifmap, grp.in_elems, sp->qa, hw.elem_bits(), hw.sparsity.compress);
    io.ifmap_bytes = (cin.bits + 7) / 8;
    facts.in_raw_bits = grp.in_elems * hw.elem_bits(), facts.in_bits = cin.bits;
    facts.in_meta_bits = cin.meta_bits;
    // Tensors written back leave compressed too, each quantised with its own scale; residual
    // operands arrive the same way (each was written back compressed).
    if (!data->written.empty()) io.out_bytes = compressed_bytes(hw, data->written, facts.out_meta_bits);
    if (!data->residuals.empty())
      io.residual_bytes = compressed_bytes(hw, data->residuals, facts.res_meta_bits);
  }
  Counters c = simulate_gemm(hw, grp.shape, io, f, sp.get(), ppu_cycles, facts);
  if (in.verify && sp) *in.verify = verify_layer(hw, *sp, *data);
  return c;
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
  int64_t t = c.total_cycles();
  return hw.scalesim_compat && grp.gemm >= 0 && t > 0 ? t - 1 : t;
}

}  // namespace eatsim::sim
