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
  X(cycles_ppu_tail,                                                                                        \
    "cycles the PPU needed beyond the row (compute, stall, write-back: it works through all)")              \
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
    "cycles the DRAM channel spent transferring (bytes / bytes_per_cycle, rounded up per transfer)")        \
  X(fe_zero_detect, "sparse front end: activation elements passed through a zero detector (skip)")          \
  X(fe_bitmap_ops, "sparse front end: G-slice OR-reductions of the zero bitmap (one per slice examined)")   \
  X(fe_fifo_push, "sparse front end (WS skip): G-slices pushed into lane-group FIFOs")                      \
  X(fe_fifo_pop, "sparse front end (WS skip): G-slices popped by lane groups")                              \
  X(fe_reader_stall, "sparse front end (WS skip): cycles the reader waited on a full FIFO")                 \
  X(fe_port_wait,                                                                                           \
    "sparse front end (WS skip): lane-cycles a group with work waited for an accumulator port")             \
  X(fe_feed_wait, "sparse front end (OS skip): group-cycles a group with work waited for a weight feed")    \
  X(realign_add, "re-alignment (WS skip): element adds merging a pixel's per-group partial sums")           \
  X(realign_acc_rd, "re-alignment (WS skip): accumulator-register element reads beyond the dense ones")     \
  X(realign_acc_wr, "re-alignment (WS skip): accumulator-register element writes beyond the dense ones")    \
  X(meta_sram_bits, "metadata bits read or written in SRAM: IS weight-feed indices, compression metadata")  \
  X(meta_dram_bytes,                                                                                        \
    "compression metadata bytes moved to/from DRAM (already inside the DRAM byte counters)")                \
  X(mac_nonzero, "MACs whose two operands are both non-zero (padding excluded): the ideal-skip work")       \
  X(gslices,                                                                                                \
    "G-slices, once per layer: WS pixel x k-tile x lane group; OS pixel group x k; IS m-tile x K row")      \
  X(gslices_zero, "G-slices that are all zero (skippable by a perfect front end)")                          \
  X(act_elems, "activation elements of the layer input (per sample)")                                       \
  X(act_nonzero_fp32, "non-zero input activations before quantisation")                                     \
  X(act_nonzero, "non-zero input activations after quantisation to the array's datatype")                   \
  X(weight_elems, "weights of the layer (with values: gate, skip, compression or --check)")                 \
  X(weight_nonzero_fp32, "non-zero weights before quantisation")                                            \
  X(weight_nonzero, "non-zero weights after quantisation to the array's datatype")

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
