// Functional verification: see verify.hpp.
#include "sim/verify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/errors.hpp"

namespace eatsim::sim {

VerifyStats verify_layer(const HwConfig& hw, const SparseLayer& s, const LayerData& d) {
  const GemmShape& g = s.g;
  const int64_t M = g.M, K = g.K, N = g.N, cin = g.cin, taps = int64_t(g.kh) * g.kw;
  const bool cin_inner = hw.array.k_order == KOrder::cin_inner;
  const bool skip = s.skip;
  VerifyStats st;
  st.ran = true;
  st.ifmap_scale = s.qa.max_abs, st.weight_scale = s.qw.max_abs;
  double out_max = 0;
  if (d.output)
    for (int64_t i = 0; i < M * N; ++i) out_max = std::max(out_max, double(std::fabs(d.output[i])));
  std::vector<float> a(static_cast<size_t>(K));
  double worst = 0;
  int64_t worst_m = 0, worst_n = 0;
  double worst_eng = 0, worst_ref = 0, worst_tol = 0;
  const double u = std::ldexp(1.0, -23);
  std::vector<int32_t> nzk, kk, pos(static_cast<size_t>(K), -1);
  std::vector<int64_t> keys;
  int64_t pos_tile = -1;
  const std::vector<float>& W = *s.w;  // [K][N]
  std::vector<float> eng(static_cast<size_t>(N)), p(static_cast<size_t>(N));
  std::vector<double> ref(static_cast<size_t>(N)), mag(static_cast<size_t>(N));
  for (int64_t m = 0; m < M; ++m) {
    // im2col row of pixel m (padding taps are 0).
    int64_t oy = m / g.wo, ox = m % g.wo;
    for (int t = 0; t < taps; ++t) {
      int64_t iy = oy * g.sh - g.ph + t / g.kw, ix = ox * g.sw - g.pw + t % g.kw;
      bool pad = iy < 0 || iy >= g.h || ix < 0 || ix >= g.w;
      for (int64_t c = 0; c < cin; ++c)
        a[size_t(cin_inner ? t * cin + c : c * taps + t)] =
            pad ? 0.0f : s.a[size_t((iy * g.w + ix) * cin + c)];
    }
    // Zero operands add exact zeros to every sum, so both sides walk the row's non-zeros only.
    nzk.clear();
    for (int64_t k = 0; k < K; ++k)
      if (a[size_t(k)] != 0) nzk.push_back(int32_t(k));
    if (s.df == Dataflow::is && m / s.C != pos_tile) {
      pos_tile = m / s.C;
      std::fill(pos.begin(), pos.end(), -1);
      const auto& rows = s.is_rows[size_t(pos_tile)];
      for (size_t r = 0; r < rows.size(); ++r) pos[size_t(rows[r])] = int32_t(r);
    }
    // Each kept non-zero's accumulation group: WS (k-tile, lane group), IS compacted fold; the
    // ones the schedule skipped are dropped here, as the hardware drops them.
    keys.clear(), kk.clear();
    for (int32_t k : nzk) {
      int64_t key = 0;
      if (s.df == Dataflow::ws) {
        int64_t kt = k / s.R, gi = (k % s.R) / s.G;
        if (skip && !(s.ws_mask[size_t(kt * M + m)] >> gi & 1)) continue;
        key = kt * 64 + gi;
      } else if (s.df == Dataflow::os) {
        if (!s.os_keep[size_t(((m / s.R) * s.os_groups + (m % s.R) / s.G) * K + k)]) continue;
      } else {
        if (pos[size_t(k)] < 0) continue;
        key = pos[size_t(k)] / s.R;
      }
      kk.push_back(k), keys.push_back(key);
    }
    // All N outputs of the pixel at once (weights are [K][N]): per output the same order of
    // operations as one PE column would take.
    std::fill(eng.begin(), eng.end(), 0.0f), std::fill(p.begin(), p.end(), 0.0f);
    std::fill(ref.begin(), ref.end(), 0.0), std::fill(mag.begin(), mag.end(), 0.0);
    if (s.df == Dataflow::os) {
      for (int32_t k : kk) {  // one PE accumulates every kept k
        const float av = a[size_t(k)], *wr = &W[size_t(k) * size_t(N)];
        for (int64_t n = 0; n < N; ++n) eng[size_t(n)] += av * wr[n];
      }
    } else {
      // Partial sums per group (a WS lane group down a k-tile, one chain of R when skip is off;
      // an IS compacted fold down a PE column), merged in the accumulator in arrival order.
      int64_t cur = -1;
      for (size_t i = 0; i < kk.size(); ++i) {
        if (keys[i] != cur) {
          for (int64_t n = 0; n < N; ++n) eng[size_t(n)] += p[size_t(n)], p[size_t(n)] = 0;
          cur = keys[i];
        }
        const float av = a[size_t(kk[i])], *wr = &W[size_t(kk[i]) * size_t(N)];
        for (int64_t n = 0; n < N; ++n) p[size_t(n)] += av * wr[n];
      }
      for (int64_t n = 0; n < N; ++n) eng[size_t(n)] += p[size_t(n)];
    }
    for (int32_t k : nzk) {
      const double av = a[size_t(k)];
      const float* wr = &W[size_t(k) * size_t(N)];
      for (int64_t n = 0; n < N; ++n) {
        double pr = av * double(wr[n]);
        ref[size_t(n)] += pr, mag[size_t(n)] += std::fabs(pr);
      }
    }
    for (int64_t n = 0; n < N; ++n) {
      double tol = double(K + 2) * u * mag[size_t(n)] + 1e-30;
      double ratio = std::fabs(double(eng[size_t(n)]) - ref[size_t(n)]) / tol;
      if (ratio > worst)
        worst = ratio, worst_m = m, worst_n = n, worst_eng = eng[size_t(n)], worst_ref = ref[size_t(n)],
        worst_tol = tol;
      if (d.output) {
        double v = double(eng[size_t(n)]) + (d.bias ? d.bias[n] : 0.0f);
        st.quant_err_max = std::max(st.quant_err_max, std::fabs(v - double(d.output[n * M + m])));
      }
    }
  }
  st.worst_ratio = worst;
  st.quant_err_rel = out_max > 0 ? st.quant_err_max / out_max : 0;
  if (worst > 1)
    throw NumericError(
        fmt::format("{}: functional check failed: output (channel {}, y {}, x {}): engine {} vs reference {} "
                    "(tolerance {}); "
                    "the skip schedule dropped or duplicated work",
                    g.name, worst_n, worst_m / g.wo, worst_m % g.wo, worst_eng, worst_ref, worst_tol));
  return st;
}

}  // namespace eatsim::sim
