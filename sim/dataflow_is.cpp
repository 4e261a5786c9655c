// Input stationary: K on the rows, M output pixels on the columns (an im2col tile of inputs stays
// in the PEs), the N filters streamed. Loop order m-tile (outer), N-chunk, k-tile (inner): partial
// sums of a chunk of filters accumulate in the psum buffer across k-tiles.
#include <fmt/format.h>

#include <algorithm>

#include "sim/dataflow.hpp"
#include "sim/scan.hpp"

namespace eatsim::sim::detail {
namespace {

class IsPlan : public DataflowPlan {
 public:
  IsPlan(const HwConfig& hw, const GemmShape& g, const LayerIo& io,
         const std::vector<std::vector<int32_t>>* nz_rows)
      : hw_(hw), g_(g), io_(io), rows_(nz_rows) {
    R_ = hw.array.rows, C_ = hw.array.cols;
    bits_ = hw.elem_bits();
    int64_t b = hw.elem_bytes(), cols = std::min(C_, g.M), rows = std::min(R_, g.K);
    kt_ = ceil_div(g.K, R_), mt_ = ceil_div(g.M, C_);
    int64_t psum_filters = hw.buf[kPsum].usable_bytes() / (cols * kPsumBits / 8);
    nc_ = hw.scalesim_compat ? g.N : std::min(g.N, psum_filters);
    if (nc_ < 1)
      too_small(hw, g, kPsum, cols * kPsumBits / 8, "partial sums of one filter across the columns");
    if (hw.buf[kIfmap].usable_bytes() < rows * cols * b)
      too_small(hw, g, kIfmap, rows * cols * b, "one RxC input tile");
    if (hw.buf[kWeights].usable_bytes() < rows * b) too_small(hw, g, kWeights, rows * b, "one weight vector");
    nch_ = ceil_div(g.N, nc_);
    weights_resident_ = g.K * g.N * b <= hw.buf[kWeights].usable_bytes();
    ifmap_resident_ = io.ifmap_bytes <= hw.buf[kIfmap].usable_bytes();
    if (rows_) {  // skip: each m-tile runs ceil(nnz_rows / R) k-folds (at least one, to write its outputs)
      start_.push_back(0);
      for (int64_t mt = 0; mt < mt_; ++mt) {
        ktc_.push_back(std::max<int64_t>(1, ceil_div(int64_t((*rows_)[size_t(mt)].size()), R_)));
        start_.push_back(start_.back() + nch_ * ktc_.back());
      }
      min_ktc_ = *std::min_element(ktc_.begin(), ktc_.end());
      idx_bits_ = 1;
      while ((int64_t(1) << idx_bits_) < g.K) ++idx_bits_;
    }
  }
  int64_t num_folds() const override { return rows_ ? start_.back() : mt_ * nch_ * kt_; }
  int64_t preload_cycles() const override { return R_; }
  int64_t max_fold_read_bytes(int buf) const override {
    int64_t rows = std::min(R_, g_.K), cols = std::min(C_, g_.M);
    // Skip: an m-tile's ifmap and a chunk's weights are spread over that m-tile's ktc k-folds
    // (compacted()), so the largest fold read is the whole share over the fewest k-folds.
    if (rows_ && buf == kWeights)
      return max_share(max_share(io_.weight_bytes, g_.K * nc_, g_.K * g_.N), 1, min_ktc_);
    if (rows_ && buf == kIfmap)
      return ifmap_resident_ ? max_share(max_share(io_.ifmap_bytes, g_.K * cols, g_.M * g_.K), 1, min_ktc_)
                             : rows * cols * hw_.elem_bytes();
    if (buf == kWeights) return max_share(io_.weight_bytes, rows * nc_, g_.K * g_.N);
    if (buf == kIfmap)
      return ifmap_resident_ ? max_share(io_.ifmap_bytes, rows * cols, g_.M * g_.K)
                             : rows * cols * hw_.elem_bytes();
    return max_share(io_.residual_bytes, nc_ * cols, g_.M * g_.N);
  }
  std::string tiling() const override {
    return fmt::format("is: {} m-tiles x {} chunks of {} filters x {} k-tiles; weights {}, ifmap {}", mt_,
                       nch_, nc_, kt_, weights_resident_ ? "kept" : "re-read per m-tile",
                       ifmap_resident_ ? "kept" : "re-read per tile (no window reuse)");
  }
  FoldWork fold(int64_t i) const override {
    if (rows_) return compacted(i);
    int64_t kt = i % kt_, nc = (i / kt_) % nch_, mt = i / (kt_ * nch_);
    FoldWork w;
    w.rows_used = std::min(R_, g_.K - kt * R_);
    w.cols_used = std::min(C_, g_.M - mt * C_);
    w.stream = std::min(nc_, g_.N - nc * nc_);
    w.first_k = kt == 0, w.last_k = kt == kt_ - 1;
    w.m0 = mt * C_, w.k0 = kt * R_, w.n0 = nc * nc_;
    events(w);
    if (ifmap_resident_) {
      if (nc == 0)
        w.dram_rd[kIfmap] = share(io_.ifmap_bytes, mt * C_ * g_.K + kt * R_ * w.cols_used,
                                  w.rows_used * w.cols_used, g_.M * g_.K);
    } else {
      w.dram_rd[kIfmap] = w.rows_used * w.cols_used * hw_.elem_bytes();
    }
    if (mt == 0 || !weights_resident_)
      w.dram_rd[kWeights] =
          share(io_.weight_bytes, nc * nc_ * g_.K + kt * R_ * w.stream, w.rows_used * w.stream, g_.K * g_.N);
    outputs(w, mt, nc);
    add_fill_drain(hw_, w);
    return w;
  }

 private:
  // IS skip: fold j of an m-tile holds its non-zero K rows j*R .. j*R+R-1 (compacted order); the
  // weight feed gathers the matching weight rows by index, reading the fold's index list once.
  FoldWork compacted(int64_t i) const {
    int64_t mt = std::upper_bound(start_.begin(), start_.end(), i) - start_.begin() - 1;
    int64_t j = i - start_[size_t(mt)], ktc = ktc_[size_t(mt)];
    int64_t kt = j % ktc, nc = j / ktc, nnz = int64_t((*rows_)[size_t(mt)].size());
    FoldWork w;
    w.rows_used = std::max<int64_t>(0, std::min(R_, nnz - kt * R_));
    w.cols_used = std::min(C_, g_.M - mt * C_);
    w.stream = std::min(nc_, g_.N - nc * nc_);
    w.first_k = kt == 0, w.last_k = kt == ktc - 1;
    w.m0 = mt * C_, w.k0 = kt * R_, w.n0 = nc * nc_;
    w.meta_bits = w.rows_used * idx_bits_;
    events(w);
    if (ifmap_resident_) {
      if (nc == 0)
        w.dram_rd[kIfmap] =
            share(share(io_.ifmap_bytes, mt * C_ * g_.K, w.cols_used * g_.K, g_.M * g_.K), kt, 1, ktc);
    } else {
      w.dram_rd[kIfmap] = w.rows_used * w.cols_used * hw_.elem_bytes();
    }
    if (mt == 0 || !weights_resident_)
      w.dram_rd[kWeights] =
          share(share(io_.weight_bytes, nc * nc_ * g_.K, g_.K * w.stream, g_.K * g_.N), kt, 1, ktc);
    outputs(w, mt, nc);
    add_fill_drain(hw_, w);
    return w;
  }
  void outputs(FoldWork& w, int64_t mt, int64_t nc) const {
    if (w.last_k)
      add_output_tile(io_, g_, mt * C_ * g_.N + nc * nc_ * w.cols_used, w.stream * w.cols_used, w);
  }
  void events(FoldWork& w) const {
    const int64_t T = w.stream, rows = w.rows_used, cols = w.cols_used;
    add_accumulating_events(hw_, bits_, w);
    w.sram_rd[kIfmap] = rows * words(cols, bits_, hw_.buf[kIfmap].word_bits);
    w.sram_rd[kWeights] = T * words(rows, bits_, hw_.buf[kWeights].word_bits);
  }

  const HwConfig& hw_;
  GemmShape g_;
  LayerIo io_;
  int64_t R_, C_;
  int bits_;
  int64_t kt_, mt_, nc_, nch_;
  bool weights_resident_, ifmap_resident_;
  const std::vector<std::vector<int32_t>>* rows_;
  std::vector<int64_t> ktc_, start_;  // IS skip: k-folds per m-tile, first fold of each m-tile
  int64_t min_ktc_ = 1;               // IS skip: the fewest k-folds of any m-tile
  int64_t idx_bits_ = 0;
};

}  // namespace

std::unique_ptr<DataflowPlan> make_is(const HwConfig& hw, const GemmShape& g, const LayerIo& io,
                                      const std::vector<std::vector<int32_t>>* is_rows) {
  return std::make_unique<IsPlan>(hw, g, io, is_rows);
}

// ---- Skip scan (sim/scan.hpp): per m-tile, the K rows with a non-zero or padding input. ----

void scan_is(SparseLayer& s, const ScanInput& in) {
  const int64_t M = s.g.M, K = s.g.K, is_tiles = (M + s.C - 1) / s.C;
  s.is_rows.resize(size_t(is_tiles));
  std::vector<uint8_t> tile_or(size_t(K), 0);
  for_each_row(s, in, [&](int64_t m, const std::vector<uint8_t>& row) {
    for (int64_t k = 0; k < K; ++k) tile_or[size_t(k)] |= row[size_t(k)] != kZero;
    int64_t mt = m / s.C;
    if (m == M - 1 || (m + 1) % s.C == 0) {
      int64_t cols = m - mt * s.C + 1;
      auto& rows = s.is_rows[size_t(mt)];
      for (int64_t k = 0; k < K; ++k) {
        ++s.gslices;
        if (tile_or[size_t(k)] || !s.skip) rows.push_back(int32_t(k));
        if (!tile_or[size_t(k)]) {
          ++s.gslices_zero;
          if (s.skip) s.skipped_entries += cols;
        }
      }
      std::fill(tile_or.begin(), tile_or.end(), 0);
    }
  });
}

}  // namespace eatsim::sim::detail
