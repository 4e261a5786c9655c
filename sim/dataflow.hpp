// Dataflows: how a GEMM is folded onto the R×C array, and what each fold does (events and the
// DRAM data it needs). One interface, one file per named implementation (dataflow_ws/os/is.cpp).
// The engine (engine.hpp) owns time; a plan only describes work, so the same plan serves the
// per-clock and the jumping modes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/gemm.hpp"
#include "sim/hwconfig.hpp"

namespace eatsim::sim {

// What a layer moves to and from DRAM in one sample; the plan spreads it over folds.
struct LayerIo {
  int64_t ifmap_bytes = 0;     // raw input tensor (re-read when it does not stay in the ifmap buffer)
  int64_t weight_bytes = 0;    // 0 when the weights are still resident from the previous sample of a batch
  int64_t residual_bytes = 0;  // residual-add operands read by the PPU, fetched with the outputs they meet
  int64_t out_bytes = 0;       // tensors the layer's fused group writes back
};

// Everything one fold does apart from time.
struct FoldWork {
  int64_t rows_used = 0, cols_used = 0;  // occupied part of the array
  int64_t stream = 0;                    // T: vectors streamed through the array
  int64_t m0 = 0, k0 = 0, n0 = 0;        // where the fold's tile starts in M, K (compacted under IS skip), N
  bool first_k = true, last_k = true;    // first / last fold of the reduction (accumulation)
  int64_t mac_slots = 0;                 // rows_used * cols_used * stream
  int64_t reg_read = 0, reg_write = 0, psum_add = 0;
  int64_t sram_rd[kNumBufs] = {0, 0, 0}, sram_wr[kNumBufs] = {0, 0, 0};  // words
  int64_t dram_rd[kNumBufs] = {0, 0, 0};  // bytes needed in the buffers before the fold starts
  int64_t dram_wr = 0;                    // bytes written back once the fold ends
  int64_t meta_bits = 0;                  // metadata bits read (IS skip: the weight feed's index list)
};

class DataflowPlan {
 public:
  virtual ~DataflowPlan() = default;
  virtual int64_t num_folds() const = 0;
  virtual FoldWork fold(int64_t index) const = 0;
  // An upper bound of FoldWork::dram_rd[buf] over the folds (sizes the prefetch depth).
  virtual int64_t max_fold_read_bytes(int buf) const = 0;
  // Cycles to load the stationary operand of one fold (0 for OS).
  virtual int64_t preload_cycles() const = 0;
  // One line on how the layer was tiled (chunks, what stays resident), for reports.
  virtual std::string tiling() const = 0;
};

// Builds the plan for hw.array.dataflow. Throws ConfigError naming the layer when one tile does
// not fit the buffers.
// `is_rows` (IS skip only): per m-tile, the K rows that keep work; the folds compact them.
std::unique_ptr<DataflowPlan> make_plan(const HwConfig& hw, const GemmShape& g, const LayerIo& io,
                                        const std::vector<std::vector<int32_t>>* is_rows = nullptr);

namespace detail {
// Shared helpers for the implementations.
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Words to access `elems` elements of `bits` each through a port of `word_bits`.
inline int64_t words(int64_t elems, int bits, int word_bits) { return ceil_div(elems * bits, word_bits); }
// The part of `total` that falls on the span [start, start+len) of a running count out of
// `denom`; the parts of consecutive spans add up to `total` exactly.
int64_t share(int64_t total, int64_t start, int64_t len, int64_t denom);
// The largest share() of a span of at most `len`: ceil(total * len / denom).
int64_t max_share(int64_t total, int64_t len, int64_t denom);
// Adds the buffer fills (DRAM reads land in SRAM) and drains (DRAM writes leave the psum buffer).
void add_fill_drain(const HwConfig& hw, FoldWork& w);
// The events of a fold that streams w.stream steps through a rows_used × cols_used tile holding one
// stationary operand and accumulates across k-tiles (WS, IS): MAC slots, register traffic (one
// preload write per PE), partial-sum adds and psum-buffer traffic (final outputs at `bits`).
void add_accumulating_events(const HwConfig& hw, int bits, FoldWork& w);
// A finished output tile of `len` elements starting at `at` (in the output's (N, M) order): its
// share of the residual operands comes in (psum buffer) and of the outputs goes out to DRAM.
void add_output_tile(const LayerIo& io, const GemmShape& g, int64_t at, int64_t len, FoldWork& w);
std::unique_ptr<DataflowPlan> make_ws(const HwConfig& hw, const GemmShape& g, const LayerIo& io);
std::unique_ptr<DataflowPlan> make_os(const HwConfig& hw, const GemmShape& g, const LayerIo& io);
std::unique_ptr<DataflowPlan> make_is(const HwConfig& hw, const GemmShape& g, const LayerIo& io,
                                      const std::vector<std::vector<int32_t>>* is_rows);
[[noreturn]] void too_small(const HwConfig& hw, const GemmShape& g, int buf, int64_t need,
                            const std::string& what);
}  // namespace detail

}  // namespace eatsim::sim
