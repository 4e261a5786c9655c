// Weight stationary: K on the rows, N on the columns, the M output pixels streamed. Loop order
// n-tile (outer), M-chunk, k-tile (inner): partial sums of one chunk stay in the psum buffer while
// the k-tiles accumulate into them.
#include <fmt/format.h>

#include <algorithm>

#include "sim/dataflow.hpp"

namespace eatsim::sim::detail {
namespace {

class WsPlan : public DataflowPlan {
 public:
  WsPlan(const HwConfig& hw, const GemmShape& g, const LayerIo& io) : hw_(hw), g_(g), io_(io) {
    R_ = hw.array.rows, C_ = hw.array.cols;
    bits_ = hw.elem_bits();
    int64_t b = hw.elem_bytes(), cols = std::min(C_, g.N);
    kt_ = ceil_div(g.K, R_), nt_ = ceil_div(g.N, C_);
    // The psum buffer holds the partial sums of one chunk of pixels for one n-tile. SCALE-Sim's
    // compute model ignores capacity, so the compatible setting never chunks.
    int64_t psum_rows = hw.buf[kPsum].usable_bytes() / (cols * kPsumBits / 8);
    mc_ = hw.scalesim_compat ? g.M : std::min(g.M, psum_rows);
    if (mc_ < 1)
      too_small(hw, g, kPsum, cols * kPsumBits / 8, "partial sums of one pixel across the columns");
    int64_t tile_w = std::min(R_, g.K) * cols * b;
    if (hw.buf[kWeights].usable_bytes() < tile_w) too_small(hw, g, kWeights, tile_w, "one RxC weight tile");
    if (hw.buf[kIfmap].usable_bytes() < std::min(R_, g.K) * b)
      too_small(hw, g, kIfmap, std::min(R_, g.K) * b, "one input vector");
    mch_ = ceil_div(g.M, mc_);
    column_resident_ = g.K * cols * b <= hw.buf[kWeights].usable_bytes();
    ifmap_resident_ = io.ifmap_bytes <= hw.buf[kIfmap].usable_bytes();
  }
  int64_t num_folds() const override { return nt_ * mch_ * kt_; }
  int64_t preload_cycles() const override { return R_; }
  int64_t max_fold_read_bytes(int buf) const override {
    int64_t rows = std::min(R_, g_.K), cols = std::min(C_, g_.N);
    if (buf == kWeights) return max_share(io_.weight_bytes, rows * cols, g_.K * g_.N);
    if (buf == kIfmap) return max_share(io_.ifmap_bytes, mc_ * rows, g_.M * g_.K);
    return max_share(io_.residual_bytes, mc_ * cols, g_.M * g_.N);
  }
  std::string tiling() const override {
    return fmt::format("ws: {} n-tiles x {} chunks of {} pixels x {} k-tiles; weight column {}, ifmap {}",
                       nt_, mch_, mc_, kt_, column_resident_ ? "kept" : "re-read per chunk",
                       ifmap_resident_ ? "kept" : "re-read per n-tile");
  }
  FoldWork fold(int64_t i) const override {
    int64_t kt = i % kt_, mc = (i / kt_) % mch_, nt = i / (kt_ * mch_);
    FoldWork w;
    w.rows_used = std::min(R_, g_.K - kt * R_);
    w.cols_used = std::min(C_, g_.N - nt * C_);
    w.stream = std::min(mc_, g_.M - mc * mc_);
    w.first_k = kt == 0, w.last_k = kt == kt_ - 1;
    w.m0 = mc * mc_, w.k0 = kt * R_, w.n0 = nt * C_;
    const int64_t T = w.stream, rows = w.rows_used, cols = w.cols_used;
    add_accumulating_events(hw_, bits_, w);
    w.sram_rd[kIfmap] = T * words(rows, bits_, hw_.buf[kIfmap].word_bits);
    w.sram_rd[kWeights] = rows * words(cols, bits_, hw_.buf[kWeights].word_bits);
    // DRAM: a weight tile on first use (again per chunk when its column does not stay), the ifmap
    // spread over the folds of its first pass (every pass when it does not stay).
    if (mc == 0 || !column_resident_)
      w.dram_rd[kWeights] =
          share(io_.weight_bytes, nt * C_ * g_.K + kt * R_ * cols, rows * cols, g_.K * g_.N);
    if (nt == 0 || !ifmap_resident_)
      w.dram_rd[kIfmap] = share(io_.ifmap_bytes, mc * mc_ * g_.K + T * kt * R_, T * rows, g_.M * g_.K);
    if (w.last_k) add_output_tile(io_, g_, nt * C_ * g_.M + mc * mc_ * cols, T * cols, w);
    add_fill_drain(hw_, w);
    return w;
  }

 private:
  const HwConfig& hw_;
  GemmShape g_;
  LayerIo io_;
  int64_t R_, C_;
  int bits_;
  int64_t kt_, nt_, mc_, mch_;
  bool column_resident_, ifmap_resident_;
};

}  // namespace

std::unique_ptr<DataflowPlan> make_ws(const HwConfig& hw, const GemmShape& g, const LayerIo& io) {
  return std::make_unique<WsPlan>(hw, g, io);
}

}  // namespace eatsim::sim::detail
