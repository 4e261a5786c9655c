// Naive reference implementations of the trainer's layers (plain loops, double accumulation),
// the yardstick for the oneDNN layers in test_layers.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace eatsim::test::naive {

using Vec = std::vector<float>;

struct Dims {
  int64_t N, C, H, W;
  int64_t size() const { return N * C * H * W; }
};

struct Window {
  int kh, kw, sh, sw, ph, pw;
  bool ceil_mode = false;  // PyTorch's ceil_mode (max pooling)
  int dh = 1, dw = 1;      // dilation (convolution)
  int64_t out(int64_t X, int k, int s, int p) const {
    if (!ceil_mode) return (X + 2 * p - k) / s + 1;
    int64_t o = (X + 2 * p - k + s - 1) / s + 1;
    return (o - 1) * s >= X + p ? o - 1 : o;
  }
  int64_t out_h(int64_t H) const { return out(H, dh * (kh - 1) + 1, sh, ph); }
  int64_t out_w(int64_t W) const { return out(W, dw * (kw - 1) + 1, sw, pw); }
};

// y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, C/groups, kh, kw)) + b (O) [b may be empty];
// output channel o of group o / (O/groups) reads that group's C/groups input channels.
Vec conv_fwd(const Vec& x, Dims d, const Vec& w, const Vec& b, int64_t O, Window k, int groups = 1);
// dx, dw, db from dy (N, O, OH, OW)
void conv_bwd(const Vec& x, Dims d, const Vec& w, int64_t O, Window k, const Vec& dy, Vec& dx, Vec& dw,
              Vec& db, int groups = 1);

// Batch norm with batch statistics; mean and biased var per channel come back for checks.
Vec bn_train_fwd(const Vec& x, Dims d, const Vec& g, const Vec& b, double eps, Vec& mean, Vec& var);
void bn_bwd(const Vec& x, Dims d, const Vec& g, double eps, const Vec& dy, Vec& dx, Vec& dg, Vec& db);
Vec bn_eval_fwd(const Vec& x, Dims d, const Vec& g, const Vec& b, const Vec& rm, const Vec& rv, double eps);

// Max pooling (first maximum wins, as in PyTorch) and average pooling with count_include_pad.
Vec maxpool_fwd(const Vec& x, Dims d, Window k);
Vec maxpool_bwd(const Vec& x, Dims d, Window k, const Vec& dy);
Vec avgpool_fwd(const Vec& x, Dims d, Window k);
Vec avgpool_bwd(Dims d, Window k, const Vec& dy);

// y (N, O) = x (N, F) wᵀ + b
Vec linear_fwd(const Vec& x, int64_t N, int64_t F, const Vec& w, const Vec& b, int64_t O);
void linear_bwd(const Vec& x, int64_t N, int64_t F, const Vec& w, int64_t O, const Vec& dy, Vec& dx, Vec& dw,
                Vec& db);

// Relative max error: max|got − want| / max(max|want|, floor).
double rel_err(const Vec& got, const Vec& want, double floor = 1e-6);
Vec random_vec(int64_t n, uint64_t seed, float lo = -1, float hi = 1);

}  // namespace eatsim::test::naive
