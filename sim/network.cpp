// Grouping graph nodes into rows and simulating a row: see network.hpp.
#include "sim/network.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "models/errors.hpp"
#include "sim/engine.hpp"

namespace eatsim::sim {
namespace {

bool is_gemm(Op op) { return op == Op::conv2d || op == Op::linear; }

// Element operations a PPU node costs per sample.
int64_t ppu_ops_of(const Graph& g, const Node& n, const HwConfig& hw) {
  int64_t out = numel(n.out_shape);
  switch (n.op) {
    case Op::batchnorm2d:
      return hw.ppu.fold_bn ? 0 : 2 * out;  // scale and shift
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

std::vector<LayerGroup> group_layers(const Graph& g, const HwConfig& hw) {
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
    grp.ppu_ops += ppu_ops_of(g, n, hw);
    if (n.op == Op::batchnorm2d && !hw.ppu.fold_bn) grp.weight_elems += 2 * n.out_shape[0];
    if (n.op == Op::add)
      for (size_t k = 0; k < n.in.size(); ++k) {
        int r = alias_root(g, n.in[k]);
        if (r < 0 || owner[r] != o) grp.residual_elems += numel(g.in_shape(n, k));
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
    if (needed(static_cast<int>(i))) groups[owner[i]].out_elems += numel(g.nodes[i].out_shape);
  }
  return groups;
}

void check_supported(const HwConfig& hw) {
  const SparsityConfig& s = hw.sparsity;
  std::string what = s.gate           ? "sparsity.gate"
                     : s.skip.enabled ? "sparsity.skip.enabled"
                                      : "sparsity.compress.format";
  if (s.any())
    throw ConfigError(fmt::format(
        "{}: {}: this simulator models dense execution only so far (zero gating, skipping and compression "
        "come "
        "with the sparse engine); run with --set sparsity.gate=false --set sparsity.skip.enabled=false "
        "--set sparsity.compress.format=none",
        hw.file, what));
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
                       int64_t ppu_cycles) {
  if (f == Fidelity::cycle && !g_clocked)
    throw std::logic_error("cycle fidelity: the SystemC model is not installed (sim/systemc/clocked.hpp)");
  auto plan = make_plan(hw, g, io);
  FoldEngine e(hw, *plan, nullptr, f == Fidelity::cycle ? &g_clocked->memory(hw) : nullptr);
  // The PPU consumes the output stream, which flows while the array computes; what is left runs after.
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
    ppu_tail = std::max<int64_t>(0, ppu_cycles - e.counters().compute_cycles());
  }
  Counters c = e.counters();
  c.cycles_ppu_tail = ppu_tail;
  if (busy >= 0) c.dma_busy_cycles = busy;
  c.mac_pad = g.pad_macs();
  c.mac_effective = c.mac_dense - c.mac_pad;
  return c;
}

Counters simulate_group(const HwConfig& hw, const LayerGroup& grp, int64_t sample_in_batch, Fidelity f,
                        const LayerData* /*data: read by the sparse features (issue 9)*/) {
  const int64_t b = hw.elem_bytes();
  int64_t ppu_cycles = (grp.ppu_ops + hw.ppu.width - 1) / hw.ppu.width;
  Counters c;
  if (grp.gemm >= 0) {
    LayerIo io;
    io.ifmap_bytes = grp.in_elems * b;
    bool resident =
        sample_in_batch % hw.batch != 0 && grp.weight_elems * b <= hw.buf[kWeights].usable_bytes();
    io.weight_bytes = resident ? 0 : grp.weight_elems * b;
    io.residual_bytes = grp.residual_elems * b;
    io.out_bytes = grp.out_elems * b;
    c = simulate_gemm(hw, grp.shape, io, f, ppu_cycles);
  } else {
    // PPU work with no array layer upstream: it streams its input from DRAM and writes back.
    DmaChannel dma(hw.dram.bytes_per_cycle, hw.dram.latency);
    c.dram_ifmap_rd_bytes = grp.in_elems * b;
    c.dram_psum_rd_bytes = grp.residual_elems * b;
    c.dram_wr_bytes = grp.out_elems * b;
    if (f == Fidelity::cycle) {
      if (!g_clocked) throw std::logic_error("cycle fidelity: the SystemC model is not installed");
      ClockedModel::RowResult r = g_clocked->run_ppu_row(hw, c.dram_ifmap_rd_bytes + c.dram_psum_rd_bytes,
                                                         c.dram_wr_bytes, ppu_cycles);
      c.cycles_ppu_tail = r.ppu_tail;
      c.cycles_stall = hw.scalesim_compat ? 0 : r.stall;
      c.dma_busy_cycles = r.dma_busy_cycles;
    } else {
      int64_t in_done = dma.transfer(0, c.dram_ifmap_rd_bytes + c.dram_psum_rd_bytes);
      int64_t out_done = dma.transfer(std::max(in_done, ppu_cycles), c.dram_wr_bytes);
      c.cycles_ppu_tail = ppu_cycles;
      c.cycles_stall = hw.scalesim_compat ? 0 : std::max<int64_t>(0, out_done - ppu_cycles);
      c.dma_busy_cycles = dma.busy_cycles();
    }
    c.sram_ifmap_wr = detail::words(c.dram_ifmap_rd_bytes, 8, hw.buf[kIfmap].word_bits);
    c.sram_ifmap_rd = c.sram_ifmap_wr;
    c.sram_psum_wr = detail::words(c.dram_psum_rd_bytes + c.dram_wr_bytes, 8, hw.buf[kPsum].word_bits);
    c.sram_psum_rd = c.sram_psum_wr;
  }
  c.ppu_ops = grp.ppu_ops;
  return c;
}

int64_t reported_cycles(const HwConfig& hw, const LayerGroup& grp, const Counters& c) {
  int64_t t = c.total_cycles();
  return hw.scalesim_compat && grp.gemm >= 0 && t > 0 ? t - 1 : t;
}

}  // namespace eatsim::sim
