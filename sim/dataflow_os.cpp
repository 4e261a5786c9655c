// Output stationary: M output pixels on the rows, N on the columns, K streamed; each PE keeps its
// output until the fold ends. Loop order n-tile (outer), m-tile (inner), so one column of weights
// (K x C) serves every m-tile.
#include <fmt/format.h>

#include <algorithm>

#include "sim/dataflow.hpp"
#include "sim/scan.hpp"

namespace eatsim::sim::detail {
namespace {

class OsPlan : public DataflowPlan {
 public:
  OsPlan(const HwConfig& hw, const GemmShape& g, const LayerIo& io) : hw_(hw), g_(g), io_(io) {
    R_ = hw.array.rows, C_ = hw.array.cols;
    bits_ = hw.elem_bits();
    int64_t b = hw.elem_bytes(), cols = std::min(C_, g.N), rows = std::min(R_, g.M);
    mt_ = ceil_div(g.M, R_), nt_ = ceil_div(g.N, C_);
    int64_t out_tile = rows * cols * kPsumBits / 8;
    if (hw.buf[kPsum].usable_bytes() < out_tile) too_small(hw, g, kPsum, out_tile, "one RxC tile of outputs");
    if (hw.buf[kWeights].usable_bytes() < cols * b) too_small(hw, g, kWeights, cols * b, "one weight vector");
    if (hw.buf[kIfmap].usable_bytes() < rows * b) too_small(hw, g, kIfmap, rows * b, "one input vector");
    column_resident_ = g.K * cols * b <= hw.buf[kWeights].usable_bytes();
    ifmap_resident_ = io.ifmap_bytes <= hw.buf[kIfmap].usable_bytes();
  }
  int64_t num_folds() const override { return nt_ * mt_; }
  int64_t preload_cycles() const override { return 0; }
  int64_t max_fold_read_bytes(int buf) const override {
    int64_t rows = std::min(R_, g_.M), cols = std::min(C_, g_.N);
    if (buf == kWeights) return max_share(io_.weight_bytes, g_.K * cols, g_.K * g_.N);
    if (buf == kIfmap) return max_share(io_.ifmap_bytes, rows * g_.K, g_.M * g_.K);
    return max_share(io_.residual_bytes, rows * cols, g_.M * g_.N);
  }
  std::string tiling() const override {
    return fmt::format("os: {} n-tiles x {} m-tiles, K={} streamed; weight column {}, ifmap {}", nt_, mt_,
                       g_.K, column_resident_ ? "kept" : "re-read per m-tile",
                       ifmap_resident_ ? "kept" : "re-read per n-tile");
  }
  FoldWork fold(int64_t i) const override {
    int64_t mt = i % mt_, nt = i / mt_;
    FoldWork w;
    w.rows_used = std::min(R_, g_.M - mt * R_);
    w.cols_used = std::min(C_, g_.N - nt * C_);
    w.stream = g_.K;
    w.m0 = mt * R_, w.n0 = nt * C_;
    const int64_t T = w.stream, rows = w.rows_used, cols = w.cols_used;
    w.mac_slots = rows * cols * T;
    w.reg_read = 2 * w.mac_slots;
    w.reg_write = w.mac_slots;
    w.sram_rd[kIfmap] = T * words(rows, bits_, hw_.buf[kIfmap].word_bits);
    w.sram_rd[kWeights] = T * words(cols, bits_, hw_.buf[kWeights].word_bits);
    w.sram_wr[kPsum] = rows * words(cols, bits_, hw_.buf[kPsum].word_bits);
    if (mt == 0 || !column_resident_)
      w.dram_rd[kWeights] = share(io_.weight_bytes, nt * C_ * g_.K, g_.K * cols, g_.K * g_.N);
    if (nt == 0 || !ifmap_resident_)
      w.dram_rd[kIfmap] = share(io_.ifmap_bytes, mt * R_ * g_.K, rows * g_.K, g_.M * g_.K);
    add_output_tile(io_, g_, nt * C_ * g_.M + mt * R_ * cols, rows * cols, w);
    add_fill_drain(hw_, w);
    return w;
  }

 private:
  const HwConfig& hw_;
  GemmShape g_;
  LayerIo io_;
  int64_t R_, C_;
  int bits_;
  int64_t mt_, nt_;
  bool column_resident_, ifmap_resident_;
};

}  // namespace

std::unique_ptr<DataflowPlan> make_os(const HwConfig& hw, const GemmShape& g, const LayerIo& io) {
  return std::make_unique<OsPlan>(hw, g, io);
}

// ---- Skip scan (sim/scan.hpp): which k each pixel group of each m-tile has work at. ----

void scan_os(SparseLayer& s, const ScanInput& in) {
  const int64_t M = s.g.M, K = s.g.K, os_tiles = (M + s.R - 1) / s.R;
  s.os_groups = (s.R + s.G - 1) / s.G;
  s.os_keep.assign(size_t(os_tiles * s.os_groups * K), 0);
  s.os_count.assign(size_t(os_tiles * s.os_groups), 0);
  for_each_row(s, in, [&](int64_t m, const std::vector<uint8_t>& row) {
    int64_t mt = m / s.R, gi = (m % s.R) / s.G;
    uint8_t* keep = &s.os_keep[size_t((mt * s.os_groups + gi) * K)];
    for (int64_t k = 0; k < K; ++k) keep[k] |= row[size_t(k)] != kZero;
  });
  for (int64_t mt = 0; mt < os_tiles; ++mt)
    for (int gi = 0; gi < s.os_groups; ++gi) {
      int64_t p0 = mt * s.R + int64_t(gi) * s.G;
      int64_t gs = std::max<int64_t>(0, std::min<int64_t>({s.G, M - p0, (mt + 1) * s.R - p0}));
      if (gs == 0) continue;
      uint8_t* keep = &s.os_keep[size_t((mt * s.os_groups + gi) * K)];
      int64_t n = 0;
      for (int64_t k = 0; k < K; ++k) n += keep[k];
      s.gslices += K, s.gslices_zero += K - n;
      if (s.skip) {
        s.skipped_entries += (K - n) * gs;
      } else {
        std::fill(keep, keep + K, uint8_t(1)), n = K;
      }
      s.os_count[size_t(mt * s.os_groups + gi)] = n;
    }
}

}  // namespace eatsim::sim::detail
