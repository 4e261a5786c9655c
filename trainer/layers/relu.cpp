// relu: y = max(x, 0); dx = dy where x > 0 (0 at x = 0, like PyTorch). Plain OpenMP loops rather
// than a oneDNN eltwise so the EAT penalty rides along: forward sums x²/(x²+σ) of its output (and
// of its input when it is that input's only consumer, e.g. BN → ReLU), backward adds the penalty
// gradients in the same pass, so a penalised ReLU costs no extra pass over memory. Element-wise,
// so any layout works (padding of blocked layouts holds zeros, which add nothing). In training
// plans it may run in place over its input (as PyTorch frees a BN output once ReLU has read it).
#include <algorithm>

#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

constexpr int64_t kBlock = 4096;

// The block kernels are compiled for AVX-512 and AVX2 as well as the baseline (EATSIM_SIMD_CLONES):
// the penalty's divisions are scalar or 4-wide otherwise, which made a penalised ReLU cost three
// times an unpenalised one.

// y = max(x, 0) over [0, n); returns Σ y²/(y²+σo) if PO in *so_sum, Σ x²/(x²+σi) if PI in *si_sum
template <bool PO, bool PI>
inline __attribute__((always_inline)) void fwd_block(const float* x, float* y, int64_t n, float so, float si,
                                                     float* so_sum, float* si_sum) {
  float ao = 0, ai = 0;
#pragma omp simd reduction(+ : ao, ai)
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i], r = v > 0 ? v : 0.0f;
    y[i] = r;
    if (PO) ao += r * r / (r * r + so);
    if (PI) ai += v * v / (v * v + si);
  }
  *so_sum = ao, *si_sum = ai;
}

// dx = (x > 0 ? dy + ko·x/(x²+σo)² : 0) + ki·x/(x²+σi)²   with k = 2σ·scale
template <bool PO, bool PI>
inline __attribute__((always_inline)) void bwd_block(const float* x, const float* dy, float* dx, int64_t n,
                                                     float so, float ko, float si, float ki) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i], g = dy[i];
    if (PO) {
      float d = v * v + so;
      g += ko * v / (d * d);
    }
    float r = v > 0 ? g : 0.0f;
    if (PI) {
      float d = v * v + si;
      r += ki * v / (d * d);
    }
    dx[i] = r;
  }
}

using FwdBlock = void (*)(const float*, float*, int64_t, float, float, float*, float*);
using BwdBlock = void (*)(const float*, const float*, float*, int64_t, float, float, float, float);

#define EATSIM_RELU_BLOCKS(PO, PI, name)                                                                \
  EATSIM_SIMD_CLONES void fwd_##name(const float* x, float* y, int64_t n, float so, float si, float* a, \
                                     float* b) {                                                        \
    fwd_block<PO, PI>(x, y, n, so, si, a, b);                                                           \
  }                                                                                                     \
  EATSIM_SIMD_CLONES void bwd_##name(const float* x, const float* dy, float* dx, int64_t n, float so,   \
                                     float ko, float si, float ki) {                                    \
    bwd_block<PO, PI>(x, dy, dx, n, so, ko, si, ki);                                                    \
  }
EATSIM_RELU_BLOCKS(false, false, plain)
EATSIM_RELU_BLOCKS(true, false, out)
EATSIM_RELU_BLOCKS(false, true, in)
EATSIM_RELU_BLOCKS(true, true, both)

void relu_fwd(FwdBlock f, const float* x, float* y, int64_t n, float so, float si, double& sum_o,
              double& sum_i) {
  double to = 0, ti = 0;
#pragma omp parallel for reduction(+ : to, ti) schedule(static)
  for (int64_t b = 0; b < n; b += kBlock) {
    float ao = 0, ai = 0;
    f(x + b, y + b, std::min(n, b + kBlock) - b, so, si, &ao, &ai);
    to += ao, ti += ai;
  }
  sum_o = to, sum_i = ti;
}

void relu_bwd(BwdBlock f, const float* x, const float* dy, float* dx, int64_t n, float so, float ko, float si,
              float ki) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; b += kBlock)
    f(x + b, dy + b, dx + b, std::min(n, b + kBlock) - b, so, ko, si, ki);
}

// A ReLU its producer (batchnorm2d) computes in its own passes: the output is the input's buffer.
class Passthrough : public Layer {
 public:
  explicit Passthrough(BuildArgs& a) {
    a.out.dims = a.in[0]->dims;
    a.out.desc = a.in[0]->desc;
    a.out.data = a.in[0]->data;
  }
  void forward(Env&, bool) override {}
  void backward(Env&) override {}
};

class Relu : public Layer {
 public:
  explicit Relu(BuildArgs& a)
      : in_(a.in[0]),
        out_(&a.out),
        diff_src_(a.diff_in[0]),
        self_(a.slot(a.plan.pen_self)),
        pin_(a.slot(a.plan.pen_in)) {
    a.out.dims = in_->dims;
    a.out.desc = in_->desc;
    // In place, backward reads the output: y > 0 exactly where x > 0, and the output penalty's
    // gradient only matters there. The input's penalty (which needs x ≤ 0 too) must be off.
    if (a.plan.inplace) a.out.data = in_->data, x_ = out_;
    relued_ = a.plan.inplace && a.plan.input_relued;
    n_ = static_cast<int64_t>(in_->desc.get_size() / sizeof(float));
  }

  void forward(Env& e, bool) override {
    e.s.wait();
    const float* x = ptr(in_->data);
    float* y = ptr(out_->data);
    bool po = self_ && self_->on, pi = pin_ && pin_->on;
    if (relued_ && !po) return;  // the producer applied the ReLU; no penalty to sum
    float so = self_ ? self_->sigma : 1, si = pin_ ? pin_->sigma : 1;
    double sum_o = 0, sum_i = 0;
    if (po && pi)
      relu_fwd(fwd_both, x, y, n_, so, si, sum_o, sum_i);
    else if (po)
      relu_fwd(fwd_out, x, y, n_, so, si, sum_o, sum_i);
    else if (pi)
      relu_fwd(fwd_in, x, y, n_, so, si, sum_o, sum_i);
    else
      relu_fwd(fwd_plain, x, y, n_, so, si, sum_o, sum_i);
    if (po) self_->sum = sum_o;
    if (pi) pin_->sum = sum_i;
  }

  void backward(Env& e) override {
    if (!diff_src_) return;
    e.s.wait();
    const float *x = ptr(x_->data), *dy = ptr(out_->diff);
    float* dx = ptr(diff_src_);
    bool po = self_ && self_->on, pi = pin_ && pin_->on;
    float so = self_ ? self_->sigma : 1, si = pin_ ? pin_->sigma : 1;
    float ko = po ? 2 * so * self_->scale : 0, ki = pi ? 2 * si * pin_->scale : 0;
    if (po && pi)
      relu_bwd(bwd_both, x, dy, dx, n_, so, ko, si, ki);
    else if (po)
      relu_bwd(bwd_out, x, dy, dx, n_, so, ko, si, ki);
    else if (pi)
      relu_bwd(bwd_in, x, dy, dx, n_, so, ko, si, ki);
    else
      relu_bwd(bwd_plain, x, dy, dx, n_, so, ko, si, ki);
  }

 private:
  static float* ptr(const memory& m) { return static_cast<float*>(m.get_data_handle()); }
  Act* in_;
  Act* out_;
  Act* x_ = in_;  // what backward reads as x: the input, or the output when in place
  memory diff_src_;
  PenSlot *self_, *pin_;
  int64_t n_;            // buffer elements, padding included
  bool relued_ = false;  // in place over an input that already holds max(x, 0)
};

}  // namespace

std::unique_ptr<Layer> make_relu(BuildArgs& a) {
  if (a.plan.relu_done) return std::make_unique<Passthrough>(a);
  return std::make_unique<Relu>(a);
}

}  // namespace eatsim::trainer
