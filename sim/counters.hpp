// Event and cycle counters of one layer run, each named and described where it is defined. Energy
// is not counted here: it is Σ events × table entries, computed at report time (energy.hpp).
#pragma once
#include <cstdint>
#include <vector>

namespace eatsim::sim {

// X(name, description)
#define EATSIM_SIM_COUNTERS(X)                                                                              \
  X(mac_dense, "MAC slots of the GEMM, M*K*N: every (pixel, tap, filter) the dense schedule visits")        \
  X(mac_effective,                                                                                          \
    "MACs on real operands that toggle the datapath (zero values included unless gated/skipped)")           \
  X(mac_gated, "MACs with a zero operand that did not toggle (gate feature); cost a cycle, not a MAC")      \
  X(mac_skipped, "MACs removed from the stream (skip feature); cost neither cycle nor MAC energy")          \
  X(mac_pad, "MACs on padding taps: their own class, never counted as activation zeros")                    \
  X(folds, "array tiles (folds) executed")                                                                  \
  X(cycles_preload, "exposed cycles loading the stationary operand into the array (WS weights, IS inputs)") \
  X(cycles_stream, "cycles streaming the moving operand through the array")                                 \
  X(cycles_drain, "pipeline fill/drain cycles per fold: R + C - 2")                                         \
  X(cycles_stall, "cycles a fold waited for its DRAM data (DMA-bound time)")                                \
  X(cycles_writeback, "cycles after the last fold until the layer's last DRAM write completed")             \
  X(cycles_ppu_tail, "cycles the PPU needed beyond the layer's compute (it runs on the output stream)")     \
  X(reg_read, "PE operand-register reads: 2 per toggled MAC")                                               \
  X(reg_write,                                                                                              \
    "PE register writes: 1 per toggled MAC (psum/accumulator) + 1 per stationary operand preloaded")        \
  X(psum_add, "partial-sum additions outside the array (accumulating folds of the reduction dimension)")    \
  X(ppu_ops, "post-processing element operations (BN, ReLU, pooling, residual add)")                        \
  X(sram_ifmap_rd, "ifmap buffer read accesses (words of buffers.ifmap.word_bits)")                         \
  X(sram_ifmap_wr, "ifmap buffer write accesses (fills from DRAM)")                                         \
  X(sram_weights_rd, "weight buffer read accesses")                                                         \
  X(sram_weights_wr, "weight buffer write accesses (fills from DRAM)")                                      \
  X(sram_psum_rd, "psum/ofmap buffer read accesses (partial sums back to accumulate, outputs to DRAM)")     \
  X(sram_psum_wr,                                                                                           \
    "psum/ofmap buffer write accesses (partial sums, PPU outputs, residual operands from DRAM)")            \
  X(dram_ifmap_rd_bytes, "bytes read from DRAM into the ifmap buffer")                                      \
  X(dram_weights_rd_bytes, "bytes read from DRAM into the weight buffer")                                   \
  X(dram_psum_rd_bytes, "bytes read from DRAM into the psum/ofmap buffer (residual-add operands)")          \
  X(dram_wr_bytes, "bytes written to DRAM from the psum/ofmap buffer (the layer's output tensors)")         \
  X(dma_busy_cycles,                                                                                        \
    "cycles the DRAM channel spent transferring (bytes / bytes_per_cycle, rounded up per transfer)")

struct Counters {
#define EATSIM_FIELD(n, d) int64_t n = 0;
  EATSIM_SIM_COUNTERS(EATSIM_FIELD)
#undef EATSIM_FIELD

  int64_t& sram_rd(int buf);
  int64_t& sram_wr(int buf);
  int64_t& dram_rd(int buf);
  int64_t sram_rd(int buf) const { return const_cast<Counters*>(this)->sram_rd(buf); }
  int64_t sram_wr(int buf) const { return const_cast<Counters*>(this)->sram_wr(buf); }
  int64_t dram_rd(int buf) const { return const_cast<Counters*>(this)->dram_rd(buf); }
  int64_t compute_cycles() const { return cycles_preload + cycles_stream + cycles_drain; }
  // Everything the layer occupies the accelerator for.
  int64_t total_cycles() const {
    return compute_cycles() + cycles_stall + cycles_writeback + cycles_ppu_tail;
  }
  int64_t dram_rd_bytes() const { return dram_ifmap_rd_bytes + dram_weights_rd_bytes + dram_psum_rd_bytes; }
  Counters& operator+=(const Counters& o);
  bool operator==(const Counters& o) const;
  bool operator!=(const Counters& o) const { return !(*this == o); }
};

struct CounterInfo {
  const char* name;
  const char* description;
  int64_t Counters::*field;
};
const std::vector<CounterInfo>& counter_infos();

}  // namespace eatsim::sim
