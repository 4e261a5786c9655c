// Weight stationary: K on the rows, N on the columns, the M output pixels streamed. Loop order
// n-tile (outer), M-chunk, k-tile (inner): partial sums of one chunk stay in the psum buffer while
// the k-tiles accumulate into them.
#include <fmt/format.h>

#include <algorithm>

#include "sim/dataflow.hpp"
#include "sim/scan.hpp"

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

// ---- Skip scan (sim/scan.hpp): which lane groups of each k-tile have work for each pixel. ----

namespace {

// WS with K = (kh, kw, Cin), Cin a multiple of G and R a multiple of G: every G-slice is one tap's
// run of G channels, so one bit per (input pixel, channel group) answers every slice.
void scan_ws_fast(SparseLayer& s, const ScanInput& in) {
  const std::vector<uint8_t>& anz = in.anz;
  const std::vector<int64_t>& zw = in.zw;
  const GemmShape& g = s.g;
  const int64_t M = g.M, K = g.K, N = g.N, cin = g.cin, H = g.h, W = g.w, G = s.G;
  const int64_t cg_n = cin / G, gpt = s.R / G, kt_n = (K + s.R - 1) / s.R;
  const bool perturbed = in.opts.perturbed_skip;
  bool weights_dense = true;
  for (int64_t v : zw) weights_dense &= v == 0;
  // Per input pixel: non-zeros per channel group, and the total.
  std::vector<uint8_t> gnz(size_t(H * W * cg_n));
  std::vector<int64_t> pnz(size_t(H * W), 0);
  for (int64_t p = 0; p < H * W; ++p)
    for (int64_t cg = 0; cg < cg_n; ++cg) {
      int n = 0;
      for (int64_t j = 0; j < G; ++j) n += anz[size_t(p * cin + cg * G + j)];
      gnz[size_t(p * cg_n + cg)] = uint8_t(std::min(n, 255));
      pnz[size_t(p)] += n;
    }
  s.ws_mask.assign(size_t(kt_n * M), 0);
  const int64_t slices = K / G, taps = int64_t(g.kh) * g.kw;  // slices = taps * cg_n
  std::vector<int64_t> base(size_t(g.kh * g.kw));             // per tap: input pixel index, or -1 on padding
  for (int64_t m = 0; m < M; ++m) {
    int64_t oy = m / g.wo, ox = m % g.wo;
    for (int ky = 0; ky < g.kh; ++ky)
      for (int kx = 0; kx < g.kw; ++kx) {
        int64_t iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw, t = ky * g.kw + kx;
        bool pad = iy < 0 || iy >= H || ix < 0 || ix >= W;
        base[size_t(t)] = pad ? -1 : iy * W + ix;
        if (pad) {
          s.pad_entries += cin;
          continue;
        }
        int64_t nz = pnz[size_t(iy * W + ix)];
        s.zero_entries += cin - nz;
        if (weights_dense) {
          s.mac_nonzero += nz * N;
        } else {  // zero weights met by the pixel's non-zeros: a branch-free dot product
          const uint8_t* a = &anz[size_t((iy * W + ix) * cin)];
          const int64_t* z = &zw[size_t(t * cin)];
          int64_t zs = 0;
          for (int64_t c = 0; c < cin; ++c) zs += int64_t(a[c]) * z[c];
          s.zero_weight_macs += zs, s.mac_nonzero += nz * N - zs;
        }
      }
    // Slices in K order (tap by tap, channel groups within a tap), their mask word and bit kept
    // running instead of divided out.
    int64_t kt = 0, bit = 0, zero_slices = 0;
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t p = base[size_t(t)];
      const uint8_t* gp = p < 0 ? nullptr : &gnz[size_t(p * cg_n)];
      for (int64_t cg = 0; cg < cg_n; ++cg) {
        int n = gp ? gp[cg] : -1;  // -1: padding, always work
        bool work = n != 0;
        if (perturbed && n == 1) work = false;  // test hook: a wrong skip rule
        zero_slices += !work;
        if (work || !s.skip) s.ws_mask[size_t(kt * M + m)] |= uint64_t(1) << bit;
        if (++bit == gpt) bit = 0, ++kt;
      }
    }
    s.gslices += slices, s.gslices_zero += zero_slices;
    if (s.skip) s.skipped_entries += zero_slices * G;
  }
}

}  // namespace

void scan_ws(SparseLayer& s, const ScanInput& in) {
  const GemmShape& g = s.g;
  if (in.cin_inner && g.cin % s.G == 0 && s.R % s.G == 0 && !in.opts.generic) {
    scan_ws_fast(s, in);
    return;
  }
  const int64_t M = g.M, K = g.K, kt_n = (K + s.R - 1) / s.R;
  s.ws_mask.assign(size_t(kt_n * M), 0);
  for_each_row(s, in, [&](int64_t m, const std::vector<uint8_t>& row) {
    for (int64_t kt = 0; kt < kt_n; ++kt) {
      int64_t k0 = kt * s.R, rows = std::min<int64_t>(s.R, K - k0);
      uint64_t mask = 0;
      for (int64_t g0 = 0, gi = 0; g0 < rows; g0 += s.G, ++gi) {
        int64_t gs = std::min<int64_t>(s.G, rows - g0);
        int nz = 0;
        bool any_pad = false;
        for (int64_t j = 0; j < gs; ++j) {
          uint8_t f = row[size_t(k0 + g0 + j)];
          nz += f == kNz, any_pad |= f == kPad;
        }
        bool work = nz > 0 || any_pad;
        if (in.opts.perturbed_skip && nz == 1 && !any_pad) work = false;  // test hook: a wrong skip rule
        ++s.gslices;
        if (!work) {
          ++s.gslices_zero;
          if (s.skip) s.skipped_entries += gs;
        }
        if (work || !s.skip) mask |= uint64_t(1) << gi;
      }
      s.ws_mask[size_t(kt * M + m)] = mask;
    }
  });
}

}  // namespace eatsim::sim::detail
