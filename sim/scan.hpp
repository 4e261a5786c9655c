// What the scan of a layer's values produces (SparseLayer), and the activation walk shared by the
// per-dataflow summaries: sim/sparse.cpp quantises and scans, and each dataflow_*.cpp turns the
// walk into what its stream model needs (WS lane-group masks, OS kept k per pixel group, IS
// compacted fold rows).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "sim/gemm.hpp"
#include "sim/hwconfig.hpp"
#include "sim/layer_data.hpp"
#include "sim/quant.hpp"

namespace eatsim::sim {

// One layer, one sample, after quantisation: its totals (ScanTotals) and what the stream models read.
struct SparseLayer : ScanTotals {
  GemmShape g;
  Dataflow df = Dataflow::ws;
  int R = 0, C = 0;
  int G = 0;             // lane-group size (WS: rows, OS: pixel rows); R when skip is off
  bool skip = false;     // skip on: zero groups leave the stream
  Quant qa, qw;          // the input's and the weights' quantisation
  std::vector<float> a;  // dequantised input, (H, W, Cin)
  std::shared_ptr<const std::vector<float>> w;  // dequantised weights, [K][N], K in K order (check only)
  // WS: bit g of ws_mask[kt * M + m] = group g of k-tile kt has work for pixel m.
  std::vector<uint64_t> ws_mask;
  // OS: os_keep[(mt * ngroups + g) * K + k] = group g of m-tile mt has work at k; os_count its sum.
  std::vector<uint8_t> os_keep;
  std::vector<int64_t> os_count;
  int os_groups = 0;
  // IS: per m-tile, the K rows with a non-zero (or padding) input, in order (compacted folds).
  std::vector<std::vector<int32_t>> is_rows;
};

// Switches tests turn; never set by a user.
struct ScanOptions {
  bool generic = false;  // the generic per-entry scan where the WS fast path would run (to compare)
  // A wrong WS skip rule (a G-slice with exactly one non-zero counts as empty), so a regression
  // test can prove that the functional verification and `eatsim check` catch a changed rule.
  bool perturbed_skip = false;
};

}  // namespace eatsim::sim

namespace eatsim::sim::detail {

// Entry flags of one im2col row: 0 zero activation, 1 non-zero, 2 padding tap.
enum : uint8_t { kZero = 0, kNz = 1, kPad = 2 };

// What the per-dataflow scans read: the input's non-zero flags in (H, W, Cin) and the zero weights
// per GEMM row k.
struct ScanInput {
  const std::vector<uint8_t>& anz;
  const std::vector<int64_t>& zw;
  bool cin_inner = true;
  ScanOptions opts;
};

// Calls f(m, row) for every output pixel m with its im2col row's flags in K order, after counting
// the row's padding, zero and non-zero MAC classes into s.
template <class F>
void for_each_row(SparseLayer& s, const ScanInput& in, F&& f) {
  const GemmShape& g = s.g;
  const int64_t K = g.K, N = g.N, cin = g.cin, H = g.h, W = g.w;
  const int taps = g.kh * g.kw;
  std::vector<uint8_t> row(static_cast<size_t>(K));
  for (int64_t m = 0; m < g.M; ++m) {
    int64_t oy = m / g.wo, ox = m % g.wo;
    for (int ky = 0; ky < g.kh; ++ky)
      for (int kx = 0; kx < g.kw; ++kx) {
        int t = ky * g.kw + kx;
        int64_t iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
        bool pad = iy < 0 || iy >= H || ix < 0 || ix >= W;
        const uint8_t* src = pad ? nullptr : &in.anz[size_t((iy * W + ix) * cin)];
        for (int64_t c = 0; c < cin; ++c) {
          int64_t k = in.cin_inner ? t * cin + c : c * taps + t;
          row[size_t(k)] = pad ? uint8_t(kPad) : src[c];
        }
      }
    for (int64_t k = 0; k < K; ++k) {
      uint8_t fl = row[size_t(k)];
      if (fl == kPad) {
        ++s.pad_entries;
      } else if (fl == kZero) {
        ++s.zero_entries;
      } else {
        s.zero_weight_macs += in.zw[size_t(k)];
        s.mac_nonzero += N - in.zw[size_t(k)];
      }
    }
    f(m, row);
  }
}

// The per-dataflow summaries (dataflow_ws.cpp, dataflow_os.cpp, dataflow_is.cpp).
void scan_ws(SparseLayer& s, const ScanInput& in);
void scan_os(SparseLayer& s, const ScanInput& in);
void scan_is(SparseLayer& s, const ScanInput& in);

}  // namespace eatsim::sim::detail
