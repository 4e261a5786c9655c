// Training-mode BN (and its fused ReLU and penalties) on channels-last data: see bn_kernels.hpp.
// Each pass is one parallel loop over pixel rows; the statistics and the gradient sums are
// accumulated per thread in double and combined in thread order (deterministic for a thread count).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "trainer/layers/bn_kernels.hpp"
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

// Bodies over n consecutive rows (vectorised over channels; compiled for AVX-512 and AVX2 too).
// Threads take blocks of kRows rows: one call per block keeps the call overhead off small C.
constexpr int64_t kRows = 32;

EATSIM_SIMD_CLONES void row_stats(const float* p, double* s, double* q, int64_t C, int64_t n) {
  for (int64_t r = 0; r < n; ++r, p += C)
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      double v = p[c];
      s[c] += v, q[c] += v * v;
    }
}

template <bool RELU, bool PR, bool PB>
inline __attribute__((always_inline)) void row_apply(const float* p, float* o, const float* sc,
                                                     const float* sh, int64_t C, int64_t n, float sr,
                                                     float sb, double* pr, double* pb) {
  for (int64_t i = 0; i < n; ++i, p += C, o += C) {
    float ar = 0, ab = 0;
#pragma omp simd reduction(+ : ar, ab)
    for (int64_t c = 0; c < C; ++c) {
      float z = p[c] * sc[c] + sh[c];
      float r = RELU ? std::max(z, 0.0f) : z;
      o[c] = r;
      if (PR) ar += r * r / (r * r + sr);
      if (PB) ab += z * z / (z * z + sb);
    }
    *pr += ar, *pb += ab;
  }
}

// Backward pass 1 on rows: g (the BN output's gradient; fused: written to t, which advances a row
// at a time when it is dx and stays put when it is one scratch row), Σg, Σg·x̂.
template <bool RELU, bool PR, bool PB>
inline __attribute__((always_inline)) void row_grad_sums(const float* p, const float* d, float* t,
                                                         const float* sc, const float* sh, const float* mu,
                                                         const float* rs, int64_t C, int64_t n,
                                                         const BnArgs& a, double* sd, double* sdx) {
  const int64_t t_step = PR || PB ? C : 0;
  for (int64_t i = 0; i < n; ++i, p += C, d += C, t += t_step) {
    const float* g = d;
    if (RELU) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c)
        t[c] = relu_grad<PR, PB>(p[c] * sc[c] + sh[c], d[c], a.sr, a.kr, a.sb, a.kb);
      g = t;
    }
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      float v = g[c];
      sd[c] += v;
      sdx[c] += static_cast<double>(v) * ((p[c] - mu[c]) * rs[c]);
    }
  }
}

// Backward pass 2 on one row: dx = k1·(g − k2 − (x − μ)·k3).
template <bool RELU, bool PR, bool PB>
inline __attribute__((always_inline)) void row_dx(const float* p, const float* d, float* o, const float* mu,
                                                  const float* k1, const float* k2, const float* k3,
                                                  int64_t C, int64_t n, const BnArgs& a) {
  constexpr bool keep = PR || PB;
  for (int64_t i = 0; i < n; ++i, p += C, d += C, o += C)
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      float xv = p[c];
      float v = keep   ? o[c]
                : RELU ? relu_grad<PR, PB>(xv * a.sc[c] + a.sh[c], d[c], a.sr, a.kr, a.sb, a.kb)
                       : d[c];
      o[c] = k1[c] * (v - k2[c] - (xv - mu[c]) * k3[c]);
    }
}

// The row bodies of one configuration as plain functions, so each gets its AVX-512/AVX2 clones
// (the parallel loops' outlined bodies would not).
struct Rows {
  void (*apply)(const float*, float*, const float*, const float*, int64_t, int64_t, float, float, double*,
                double*);
  void (*sums)(const float*, const float*, float*, const float*, const float*, const float*, const float*,
               int64_t, int64_t, const BnArgs&, double*, double*);
  void (*dx)(const float*, const float*, float*, const float*, const float*, const float*, const float*,
             int64_t, int64_t, const BnArgs&);
};
#define EATSIM_NHWC_ROWS(RELU, PR, PB, name)                                                                 \
  EATSIM_SIMD_CLONES void apply_##name(const float* p, float* o, const float* sc, const float* sh,           \
                                       int64_t C, int64_t n, float sr, float sb, double* pr, double* pb) {   \
    row_apply<RELU, PR, PB>(p, o, sc, sh, C, n, sr, sb, pr, pb);                                             \
  }                                                                                                          \
  EATSIM_SIMD_CLONES void sums_##name(const float* p, const float* d, float* t, const float* sc,             \
                                      const float* sh, const float* mu, const float* rs, int64_t C,          \
                                      int64_t n, const BnArgs& a, double* sd, double* sdx) {                 \
    row_grad_sums<RELU, PR, PB>(p, d, t, sc, sh, mu, rs, C, n, a, sd, sdx);                                  \
  }                                                                                                          \
  EATSIM_SIMD_CLONES void dx_##name(const float* p, const float* d, float* o, const float* mu,               \
                                    const float* k1, const float* k2, const float* k3, int64_t C, int64_t n, \
                                    const BnArgs& a) {                                                       \
    row_dx<RELU, PR, PB>(p, d, o, mu, k1, k2, k3, C, n, a);                                                  \
  }                                                                                                          \
  const Rows rows_##name{apply_##name, sums_##name, dx_##name};
EATSIM_NHWC_ROWS(false, false, false, bn)
EATSIM_NHWC_ROWS(true, false, false, relu)
EATSIM_NHWC_ROWS(true, true, false, relu_pr)
EATSIM_NHWC_ROWS(true, false, true, relu_pb)
EATSIM_NHWC_ROWS(true, true, true, relu_both)

const Rows& rows_for(bool relu, bool pr, bool pb) {
  if (!relu) return rows_bn;
  if (pr && pb) return rows_relu_both;
  if (pr) return rows_relu_pr;
  if (pb) return rows_relu_pb;
  return rows_relu;
}

// The per-thread sums, combined in thread order into the first C (and next C) of `out`.
void combine(const std::vector<double>& part, int threads, int64_t width, std::vector<double>& out) {
  out.assign(static_cast<size_t>(width), 0.0);
  for (int t = 0; t < threads; ++t)
    for (int64_t c = 0; c < width; ++c) out[c] += part[static_cast<size_t>(t * width + c)];
}

void fwd(const NhwcBn& g, const BnArgs& a, const Rows& k, double* sum_r, double* sum_b) {
  const int64_t C = g.C, R = g.rows;
  if (a.stats) {
    const int T = omp_get_max_threads();
    std::vector<double> part(static_cast<size_t>(2 * C * T), 0.0), tot;
#pragma omp parallel num_threads(T)
    {
      double* s = part.data() + 2 * C * omp_get_thread_num();
#pragma omp for schedule(static)
      for (int64_t r = 0; r < R; r += kRows) row_stats(a.x + r * C, s, s + C, C, std::min(kRows, R - r));
    }
    combine(part, T, 2 * C, tot);
    const double M = static_cast<double>(R);
    for (int64_t c = 0; c < C; ++c) {
      double mu = tot[c] / M;
      float m = static_cast<float>(mu), v = static_cast<float>(std::max(0.0, tot[C + c] / M - mu * mu));
      a.mean[c] = m, a.var[c] = v;
      a.sc[c] = a.gamma[c] / std::sqrt(v + g.eps);
      a.sh[c] = a.beta[c] - m * a.sc[c];
    }
  }
  double tr = 0, tb = 0;
#pragma omp parallel for reduction(+ : tr, tb) schedule(static)
  for (int64_t r = 0; r < R; r += kRows)
    k.apply(a.x + r * C, a.y + r * C, a.sc, a.sh, C, std::min(kRows, R - r), a.sr, a.sb, &tr, &tb);
  *sum_r = tr, *sum_b = tb;
}

// dx = γ/√(σ²+eps) · (g − mean(g) − x̂ · mean(g·x̂)), dγ = Σ g·x̂, dβ = Σ g (as the blocked kernels).
// Fused with penalties, pass 1 writes g to dx and pass 2 reads it back; fused without, pass 2
// recomputes it.
void bwd(const NhwcBn& g, const BnArgs& a, const Rows& k, bool keep_in_dx) {
  const int64_t C = g.C, R = g.rows;
  std::vector<float> mu(C), rs(C), k1(C), k2(C), k3(C);
  for (int64_t c = 0; c < C; ++c) mu[c] = a.mean[c], rs[c] = 1.0f / std::sqrt(a.var[c] + g.eps);
  const int T = omp_get_max_threads();
  std::vector<double> part(static_cast<size_t>(2 * C * T), 0.0), tot;
#pragma omp parallel num_threads(T)
  {
    double* s = part.data() + 2 * C * omp_get_thread_num();
    std::vector<float> row(keep_in_dx ? 0 : C);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < R; r += kRows)
      k.sums(a.x + r * C, a.dy + r * C, keep_in_dx ? a.dx + r * C : row.data(), a.sc, a.sh, mu.data(),
             rs.data(), C, std::min(kRows, R - r), a, s, s + C);
  }
  combine(part, T, 2 * C, tot);
  const double M = static_cast<double>(R);
  for (int64_t c = 0; c < C; ++c) {
    a.dgamma[c] = static_cast<float>(tot[C + c]), a.dbeta[c] = static_cast<float>(tot[c]);
    k1[c] = a.gamma[c] * rs[c];
    k2[c] = static_cast<float>(tot[c] / M);
    k3[c] = static_cast<float>(tot[C + c] / M) * rs[c];
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; r += kRows)
    k.dx(a.x + r * C, a.dy + r * C, a.dx + r * C, mu.data(), k1.data(), k2.data(), k3.data(), C,
         std::min(kRows, R - r), a);
}

}  // namespace

void bn_nhwc_forward(const NhwcBn& g, const BnArgs& a, bool relu, bool pr, bool pb, double& sum_r,
                     double& sum_b) {
  fwd(g, a, rows_for(relu, pr, pb), &sum_r, &sum_b);
}

void bn_nhwc_backward(const NhwcBn& g, const BnArgs& a, bool relu, bool pr, bool pb) {
  bwd(g, a, rows_for(relu, pr, pb), relu && (pr || pb));
}

}  // namespace eatsim::trainer
