// Functional verification: see verify.hpp.
#include "sim/verify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/errors.hpp"

namespace eatsim::sim {

namespace {

// One layer's verification, pixel by pixel: the engine's sums along its schedule and a double
// reference over the same non-zero operands.
class Verifier {
 public:
  Verifier(const HwConfig& hw, const SparseLayer& s, const LayerData& d)
      : s_(s),
        g_(s.g),
        d_(d),
        W_(*s.w),
        cin_inner_(hw.array.k_order == KOrder::cin_inner),
        a_(size_t(g_.K)),
        pos_(size_t(g_.K), -1),
        eng_(size_t(g_.N)),
        p_(size_t(g_.N)),
        ref_(size_t(g_.N)),
        mag_(size_t(g_.N)) {}

  VerifyStats run();

 private:
  void im2col_row(int64_t m);    // a_: pixel m's row, padding taps 0; nzk_: its non-zeros
  void kept_entries(int64_t m);  // kk_, keys_: the non-zeros the schedule kept, with their group
  void engine_sums();            // eng_: per output, in the order one PE column takes
  void reference_sums();         // ref_, mag_: exact-ish sums and magnitudes in double
  void compare(int64_t m, VerifyStats& st);

  const SparseLayer& s_;
  const GemmShape& g_;
  const LayerData& d_;
  const std::vector<float>& W_;  // [K][N]
  const bool cin_inner_;
  std::vector<float> a_;
  std::vector<int32_t> nzk_, kk_, pos_;
  std::vector<int64_t> keys_;
  int64_t pos_tile_ = -1;
  std::vector<float> eng_, p_;
  std::vector<double> ref_, mag_;
  double worst_ = 0, worst_eng_ = 0, worst_ref_ = 0, worst_tol_ = 0;
  int64_t worst_m_ = 0, worst_n_ = 0;
};

void Verifier::im2col_row(int64_t m) {
  const int64_t cin = g_.cin, taps = int64_t(g_.kh) * g_.kw, oy = m / g_.wo, ox = m % g_.wo;
  for (int t = 0; t < taps; ++t) {
    int64_t iy = oy * g_.sh - g_.ph + t / g_.kw * g_.dh, ix = ox * g_.sw - g_.pw + t % g_.kw * g_.dw;
    bool pad = iy < 0 || iy >= g_.h || ix < 0 || ix >= g_.w;
    for (int64_t c = 0; c < cin; ++c)
      a_[size_t(cin_inner_ ? t * cin + c : c * taps + t)] =
          pad ? 0.0f : s_.a[size_t((iy * g_.w + ix) * cin + c)];
  }
  // Zero operands add exact zeros to every sum, so both sides walk the row's non-zeros only.
  nzk_.clear();
  for (int64_t k = 0; k < g_.K; ++k)
    if (a_[size_t(k)] != 0) nzk_.push_back(int32_t(k));
}

// Each kept non-zero's accumulation group: WS (k-tile, lane group), IS compacted fold; the ones
// the schedule skipped are dropped here, as the hardware drops them.
void Verifier::kept_entries(int64_t m) {
  const int64_t M = g_.M, K = g_.K;
  if (s_.df == Dataflow::is && m / s_.C != pos_tile_) {
    pos_tile_ = m / s_.C;
    std::fill(pos_.begin(), pos_.end(), -1);
    const auto& rows = s_.is_rows[size_t(pos_tile_)];
    for (size_t r = 0; r < rows.size(); ++r) pos_[size_t(rows[r])] = int32_t(r);
  }
  keys_.clear(), kk_.clear();
  for (int32_t k : nzk_) {
    int64_t key = 0;
    if (s_.df == Dataflow::ws) {
      int64_t kt = k / s_.R, gi = (k % s_.R) / s_.G;
      if (s_.skip && !(s_.ws_mask[size_t(kt * M + m)] >> gi & 1)) continue;
      key = kt * 64 + gi;
    } else if (s_.df == Dataflow::os) {
      if (!s_.os_keep[size_t(((m / s_.R) * s_.os_groups + (m % s_.R) / s_.G) * K + k)]) continue;
    } else {
      if (pos_[size_t(k)] < 0) continue;
      key = pos_[size_t(k)] / s_.R;
    }
    kk_.push_back(k), keys_.push_back(key);
  }
}

// All N outputs of the pixel at once (weights are [K][N]).
void Verifier::engine_sums() {
  const int64_t N = g_.N;
  std::fill(eng_.begin(), eng_.end(), 0.0f), std::fill(p_.begin(), p_.end(), 0.0f);
  if (s_.df == Dataflow::os) {
    for (int32_t k : kk_) {  // one PE accumulates every kept k
      const float av = a_[size_t(k)], *wr = &W_[size_t(k) * size_t(N)];
      for (int64_t n = 0; n < N; ++n) eng_[size_t(n)] += av * wr[n];
    }
    return;
  }
  // Partial sums per group (a WS lane group down a k-tile, one chain of R when skip is off; an IS
  // compacted fold down a PE column), merged in the accumulator in arrival order.
  int64_t cur = -1;
  for (size_t i = 0; i < kk_.size(); ++i) {
    if (keys_[i] != cur) {
      for (int64_t n = 0; n < N; ++n) eng_[size_t(n)] += p_[size_t(n)], p_[size_t(n)] = 0;
      cur = keys_[i];
    }
    const float av = a_[size_t(kk_[i])], *wr = &W_[size_t(kk_[i]) * size_t(N)];
    for (int64_t n = 0; n < N; ++n) p_[size_t(n)] += av * wr[n];
  }
  for (int64_t n = 0; n < N; ++n) eng_[size_t(n)] += p_[size_t(n)];
}

void Verifier::reference_sums() {
  const int64_t N = g_.N;
  std::fill(ref_.begin(), ref_.end(), 0.0), std::fill(mag_.begin(), mag_.end(), 0.0);
  for (int32_t k : nzk_) {
    const double av = a_[size_t(k)];
    const float* wr = &W_[size_t(k) * size_t(N)];
    for (int64_t n = 0; n < N; ++n) {
      double pr = av * double(wr[n]);
      ref_[size_t(n)] += pr, mag_[size_t(n)] += std::fabs(pr);
    }
  }
}

void Verifier::compare(int64_t m, VerifyStats& st) {
  const double u = std::ldexp(1.0, -23);
  for (int64_t n = 0; n < g_.N; ++n) {
    double tol = double(g_.K + 2) * u * mag_[size_t(n)] + 1e-30;
    double ratio = std::fabs(double(eng_[size_t(n)]) - ref_[size_t(n)]) / tol;
    if (ratio > worst_)
      worst_ = ratio, worst_m_ = m, worst_n_ = n, worst_eng_ = eng_[size_t(n)], worst_ref_ = ref_[size_t(n)],
      worst_tol_ = tol;
    if (d_.output) {
      double v = double(eng_[size_t(n)]) + (d_.bias ? d_.bias[n] : 0.0f);
      st.quant_err_max = std::max(st.quant_err_max, std::fabs(v - double(d_.output[n * g_.M + m])));
    }
  }
}

VerifyStats Verifier::run() {
  VerifyStats st;
  st.ran = true;
  st.ifmap_scale = s_.qa.max_abs, st.weight_scale = s_.qw.max_abs;
  double out_max = 0;
  if (d_.output)
    for (int64_t i = 0; i < g_.M * g_.N; ++i) out_max = std::max(out_max, double(std::fabs(d_.output[i])));
  for (int64_t m = 0; m < g_.M; ++m) {
    im2col_row(m);
    kept_entries(m);
    engine_sums();
    reference_sums();
    compare(m, st);
  }
  st.worst_ratio = worst_;
  st.quant_err_rel = out_max > 0 ? st.quant_err_max / out_max : 0;
  if (worst_ > 1)
    throw NumericError(fmt::format(
        "{}: functional check failed: output (channel {}, y {}, x {}): engine {} vs reference {} "
        "(tolerance {}); "
        "the skip schedule dropped or duplicated work",
        g_.name, worst_n_, worst_m_ / g_.wo, worst_m_ % g_.wo, worst_eng_, worst_ref_, worst_tol_));
  return st;
}

}  // namespace

VerifyStats verify_layer(const HwConfig& hw, const SparseLayer& s, const LayerData& d) {
  return Verifier(hw, s, d).run();
}

}  // namespace eatsim::sim
