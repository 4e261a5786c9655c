// Naive reference layers: see naive.hpp.
#include "tests/trainer/naive.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace eatsim::test::naive {

Vec conv_fwd(const Vec& x, Dims d, const Vec& w, const Vec& b, int64_t O, Window k, int groups) {
  int64_t OH = k.out_h(d.H), OW = k.out_w(d.W), Cg = d.C / groups, Og = O / groups;
  Vec y(d.N * O * OH * OW);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double s = b.empty() ? 0.0 : b[o];
          for (int64_t cg = 0; cg < Cg; ++cg)
            for (int i = 0; i < k.kh; ++i)
              for (int j = 0; j < k.kw; ++j) {
                int64_t c = o / Og * Cg + cg;
                int64_t h = oh * k.sh - k.ph + i * k.dh, ww = ow * k.sw - k.pw + j * k.dw;
                if (h < 0 || h >= d.H || ww < 0 || ww >= d.W) continue;
                s += static_cast<double>(x[((n * d.C + c) * d.H + h) * d.W + ww]) *
                     w[((o * Cg + cg) * k.kh + i) * k.kw + j];
              }
          y[((n * O + o) * OH + oh) * OW + ow] = static_cast<float>(s);
        }
  return y;
}

void conv_bwd(const Vec& x, Dims d, const Vec& w, int64_t O, Window k, const Vec& dy, Vec& dx, Vec& dw,
              Vec& db, int groups) {
  int64_t OH = k.out_h(d.H), OW = k.out_w(d.W), Cg = d.C / groups, Og = O / groups;
  std::vector<double> gx(x.size(), 0.0), gw(w.size(), 0.0), gb(O, 0.0);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double g = dy[((n * O + o) * OH + oh) * OW + ow];
          gb[o] += g;
          for (int64_t cg = 0; cg < Cg; ++cg)
            for (int i = 0; i < k.kh; ++i)
              for (int j = 0; j < k.kw; ++j) {
                int64_t c = o / Og * Cg + cg;
                int64_t h = oh * k.sh - k.ph + i * k.dh, ww = ow * k.sw - k.pw + j * k.dw;
                if (h < 0 || h >= d.H || ww < 0 || ww >= d.W) continue;
                int64_t xi = ((n * d.C + c) * d.H + h) * d.W + ww, wi = ((o * Cg + cg) * k.kh + i) * k.kw + j;
                gx[xi] += g * w[wi];
                gw[wi] += g * x[xi];
              }
        }
  dx.assign(gx.begin(), gx.end());
  dw.assign(gw.begin(), gw.end());
  db.assign(gb.begin(), gb.end());
}

Vec bn_train_fwd(const Vec& x, Dims d, const Vec& g, const Vec& b, double eps, Vec& mean, Vec& var) {
  Vec y(x.size());
  mean.assign(d.C, 0);
  var.assign(d.C, 0);
  double M = static_cast<double>(d.N * d.H * d.W);
  for (int64_t c = 0; c < d.C; ++c) {
    double s = 0, ss = 0;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t i = 0; i < d.H * d.W; ++i) s += x[(n * d.C + c) * d.H * d.W + i];
    double mu = s / M;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t i = 0; i < d.H * d.W; ++i) {
        double v = x[(n * d.C + c) * d.H * d.W + i] - mu;
        ss += v * v;
      }
    double v = ss / M;
    mean[c] = static_cast<float>(mu);
    var[c] = static_cast<float>(v);
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t i = 0; i < d.H * d.W; ++i) {
        int64_t idx = (n * d.C + c) * d.H * d.W + i;
        y[idx] = static_cast<float>(g[c] * (x[idx] - mu) / std::sqrt(v + eps) + b[c]);
      }
  }
  return y;
}

void bn_bwd(const Vec& x, Dims d, const Vec& g, double eps, const Vec& dy, Vec& dx, Vec& dg, Vec& db) {
  Vec mean, var;
  Vec ones(d.C, 1.0f), zeros(d.C, 0.0f);
  Vec xhat = bn_train_fwd(x, d, ones, zeros, eps, mean, var);
  dx.assign(x.size(), 0);
  dg.assign(d.C, 0);
  db.assign(d.C, 0);
  double M = static_cast<double>(d.N * d.H * d.W);
  for (int64_t c = 0; c < d.C; ++c) {
    double sdy = 0, sdyx = 0;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t i = 0; i < d.H * d.W; ++i) {
        int64_t idx = (n * d.C + c) * d.H * d.W + i;
        sdy += dy[idx];
        sdyx += static_cast<double>(dy[idx]) * xhat[idx];
      }
    db[c] = static_cast<float>(sdy);
    dg[c] = static_cast<float>(sdyx);
    double inv = 1.0 / std::sqrt(var[c] + eps);
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t i = 0; i < d.H * d.W; ++i) {
        int64_t idx = (n * d.C + c) * d.H * d.W + i;
        dx[idx] = static_cast<float>(g[c] * inv / M * (M * dy[idx] - sdy - xhat[idx] * sdyx));
      }
  }
}

Vec bn_eval_fwd(const Vec& x, Dims d, const Vec& g, const Vec& b, const Vec& rm, const Vec& rv, double eps) {
  Vec y(x.size());
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t i = 0; i < d.H * d.W; ++i) {
        int64_t idx = (n * d.C + c) * d.H * d.W + i;
        y[idx] =
            static_cast<float>(g[c] * (x[idx] - rm[c]) / std::sqrt(static_cast<double>(rv[c]) + eps) + b[c]);
      }
  return y;
}

namespace {
// Calls f(out_index, in_index or -1 for padding) for every tap of every window.
template <class F>
void windows(Dims d, Window k, F f) {
  int64_t OH = k.out_h(d.H), OW = k.out_w(d.W);
  for (int64_t nc = 0; nc < d.N * d.C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int i = 0; i < k.kh; ++i)
          for (int j = 0; j < k.kw; ++j) {
            int64_t h = oh * k.sh - k.ph + i, w = ow * k.sw - k.pw + j;
            bool in = h >= 0 && h < d.H && w >= 0 && w < d.W;
            f((nc * OH + oh) * OW + ow, in ? (nc * d.H + h) * d.W + w : -1);
          }
}
}  // namespace

Vec maxpool_fwd(const Vec& x, Dims d, Window k) {
  Vec y(d.N * d.C * k.out_h(d.H) * k.out_w(d.W), -std::numeric_limits<float>::infinity());
  windows(d, k, [&](int64_t o, int64_t i) {
    if (i >= 0 && x[i] > y[o]) y[o] = x[i];
  });
  return y;
}

Vec maxpool_bwd(const Vec& x, Dims d, Window k, const Vec& dy) {
  Vec y = maxpool_fwd(x, d, k), dx(x.size(), 0);
  std::vector<int64_t> arg(y.size(), -1);
  windows(d, k, [&](int64_t o, int64_t i) {
    if (i >= 0 && arg[o] < 0 && x[i] == y[o]) arg[o] = i;
  });
  for (size_t o = 0; o < y.size(); ++o) dx[arg[o]] += dy[o];
  return dx;
}

Vec avgpool_fwd(const Vec& x, Dims d, Window k) {
  std::vector<double> s(d.N * d.C * k.out_h(d.H) * k.out_w(d.W), 0.0);
  windows(d, k, [&](int64_t o, int64_t i) {
    if (i >= 0) s[o] += x[i];
  });
  Vec y(s.size());
  for (size_t o = 0; o < s.size(); ++o) y[o] = static_cast<float>(s[o] / (k.kh * k.kw));
  return y;
}

Vec avgpool_bwd(Dims d, Window k, const Vec& dy) {
  Vec dx(d.size(), 0);
  windows(d, k, [&](int64_t o, int64_t i) {
    if (i >= 0) dx[i] += dy[o] / static_cast<float>(k.kh * k.kw);
  });
  return dx;
}

Vec linear_fwd(const Vec& x, int64_t N, int64_t F, const Vec& w, const Vec& b, int64_t O) {
  Vec y(N * O);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double s = b.empty() ? 0.0 : b[o];
      for (int64_t f = 0; f < F; ++f) s += static_cast<double>(x[n * F + f]) * w[o * F + f];
      y[n * O + o] = static_cast<float>(s);
    }
  return y;
}

void linear_bwd(const Vec& x, int64_t N, int64_t F, const Vec& w, int64_t O, const Vec& dy, Vec& dx, Vec& dw,
                Vec& db) {
  dx.assign(N * F, 0);
  dw.assign(O * F, 0);
  db.assign(O, 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f) {
      double s = 0;
      for (int64_t o = 0; o < O; ++o) s += static_cast<double>(dy[n * O + o]) * w[o * F + f];
      dx[n * F + f] = static_cast<float>(s);
    }
  for (int64_t o = 0; o < O; ++o) {
    double sb = 0;
    for (int64_t n = 0; n < N; ++n) sb += dy[n * O + o];
    db[o] = static_cast<float>(sb);
    for (int64_t f = 0; f < F; ++f) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += static_cast<double>(dy[n * O + o]) * x[n * F + f];
      dw[o * F + f] = static_cast<float>(s);
    }
  }
}

double rel_err(const Vec& got, const Vec& want, double floor) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double mx = floor, e = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    mx = std::max(mx, std::fabs(static_cast<double>(want[i])));
    double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(d <= e)) e = d;  // NaN propagates
  }
  return e / mx;
}

Vec random_vec(int64_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  Vec v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

}  // namespace eatsim::test::naive
