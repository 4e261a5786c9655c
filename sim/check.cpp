// Functional check: see check.hpp.
#include "sim/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "models/errors.hpp"

namespace eatsim::sim {

CheckStats functional_check(const HwConfig& hw, const SparseLayer& s, const LayerData& d) {
  const GemmShape& g = s.g;
  const int64_t M = g.M, K = g.K, N = g.N, cin = g.cin, taps = int64_t(g.kh) * g.kw;
  const bool cin_inner = hw.array.k_order == KOrder::cin_inner;
  const bool skip = s.skip;
  CheckStats st;
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
    for (int64_t n = 0; n < N; ++n) {
      const float* w = &s.w[size_t(n * K)];
      float eng = 0;
      if (s.df == Dataflow::ws) {
        // Down a k-tile's rows in groups of G (one chain of R when skip is off), groups merged in
        // the accumulator, k-tiles added as partial sums.
        for (int64_t k0 = 0, kt = 0; k0 < K; k0 += s.R, ++kt) {
          int64_t rows = std::min<int64_t>(s.R, K - k0);
          uint64_t mask = s.ws_mask[size_t(kt * M + m)];
          for (int64_t g0 = 0, gi = 0; g0 < rows; g0 += s.G, ++gi) {
            if (skip && !(mask >> gi & 1)) continue;
            float p = 0;
            for (int64_t k = k0 + g0; k < k0 + std::min<int64_t>(g0 + s.G, rows); ++k)
              p += a[size_t(k)] * w[k];
            eng += p;
          }
        }
      } else if (s.df == Dataflow::os) {
        int64_t mt = m / s.R, gi = (m % s.R) / s.G;
        const uint8_t* keep = &s.os_keep[size_t((mt * s.os_groups + gi) * K)];
        for (int64_t k = 0; k < K; ++k)
          if (keep[k]) eng += a[size_t(k)] * w[k];
      } else {
        const auto& rows = s.is_rows[size_t(m / s.C)];
        for (size_t r0 = 0; r0 < rows.size(); r0 += size_t(s.R)) {
          float p = 0;
          for (size_t r = r0; r < std::min(rows.size(), r0 + size_t(s.R)); ++r)
            p += a[size_t(rows[r])] * w[rows[r]];
          eng += p;
        }
      }
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        double p = double(a[size_t(k)]) * double(w[k]);
        ref += p, mag += std::fabs(p);
      }
      double tol = double(K + 2) * u * mag + 1e-30;
      double ratio = std::fabs(double(eng) - ref) / tol;
      if (ratio > worst)
        worst = ratio, worst_m = m, worst_n = n, worst_eng = eng, worst_ref = ref, worst_tol = tol;
      if (d.output) {
        double v = double(eng) + (d.bias ? d.bias[n] : 0.0f);
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
