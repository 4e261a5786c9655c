// relu: y = max(x, 0); dx = dy where x > 0 (0 at x = 0, like PyTorch). Plain OpenMP loops rather
// than a oneDNN eltwise so the EAT penalty rides along: forward sums x²/(x²+σ) of its output (and
// of its input when it is that input's only consumer, e.g. BN → ReLU), backward adds the penalty
// gradients in the same pass, so a penalised ReLU costs no extra pass over memory. Element-wise,
// so any layout works (padding of blocked layouts holds zeros, which add nothing).
#include <algorithm>

#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

constexpr int64_t kBlock = 4096;

// y = max(x, 0); so += Σ y²/(y²+σo) if PO; si += Σ x²/(x²+σi) if PI
template <bool PO, bool PI>
void relu_fwd(const float* x, float* y, int64_t n, float so, float si, double& sum_o, double& sum_i) {
  double to = 0, ti = 0;
#pragma omp parallel for reduction(+ : to, ti) schedule(static)
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t e = std::min(n, b + kBlock);
    float ao = 0, ai = 0;
#pragma omp simd reduction(+ : ao, ai)
    for (int64_t i = b; i < e; ++i) {
      float v = x[i], r = v > 0 ? v : 0.0f;
      y[i] = r;
      if (PO) ao += r * r / (r * r + so);
      if (PI) ai += v * v / (v * v + si);
    }
    to += ao, ti += ai;
  }
  sum_o = to, sum_i = ti;
}

// dx = (x > 0 ? dy + ko·x/(x²+σo)² : 0) + ki·x/(x²+σi)²   with k = 2σ·scale
template <bool PO, bool PI>
void relu_bwd(const float* x, const float* dy, float* dx, int64_t n, float so, float ko, float si, float ki) {
#pragma omp parallel for simd schedule(static)
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

class Relu : public Layer {
 public:
  explicit Relu(BuildArgs& a)
      : in_(a.in[0]), out_(&a.out), diff_src_(a.diff_in[0]), self_(a.pen_self), pin_(a.pen_in) {
    a.out.dims = in_->dims;
    a.out.desc = in_->desc;
    n_ = static_cast<int64_t>(in_->desc.get_size() / sizeof(float));
  }

  void forward(Env& e, bool) override {
    e.s.wait();
    const float* x = ptr(in_->data);
    float* y = ptr(out_->data);
    bool po = self_ && self_->on, pi = pin_ && pin_->on;
    float so = self_ ? self_->sigma : 1, si = pin_ ? pin_->sigma : 1;
    double sum_o = 0, sum_i = 0;
    if (po && pi)
      relu_fwd<true, true>(x, y, n_, so, si, sum_o, sum_i);
    else if (po)
      relu_fwd<true, false>(x, y, n_, so, si, sum_o, sum_i);
    else if (pi)
      relu_fwd<false, true>(x, y, n_, so, si, sum_o, sum_i);
    else
      relu_fwd<false, false>(x, y, n_, so, si, sum_o, sum_i);
    if (po) self_->sum = sum_o;
    if (pi) pin_->sum = sum_i;
  }

  void backward(Env& e) override {
    if (!diff_src_) return;
    e.s.wait();
    const float *x = ptr(in_->data), *dy = ptr(out_->diff);
    float* dx = ptr(diff_src_);
    bool po = self_ && self_->on, pi = pin_ && pin_->on;
    float so = self_ ? self_->sigma : 1, si = pin_ ? pin_->sigma : 1;
    float ko = po ? 2 * so * self_->scale : 0, ki = pi ? 2 * si * pin_->scale : 0;
    if (po && pi)
      relu_bwd<true, true>(x, dy, dx, n_, so, ko, si, ki);
    else if (po)
      relu_bwd<true, false>(x, dy, dx, n_, so, ko, si, ki);
    else if (pi)
      relu_bwd<false, true>(x, dy, dx, n_, so, ko, si, ki);
    else
      relu_bwd<false, false>(x, dy, dx, n_, so, ko, si, ki);
  }

 private:
  static float* ptr(const memory& m) { return static_cast<float*>(m.get_data_handle()); }
  Act* in_;
  Act* out_;
  memory diff_src_;
  PenSlot *self_, *pin_;
  int64_t n_;  // buffer elements, padding included
};

}  // namespace

std::unique_ptr<Layer> make_relu(BuildArgs& a) { return std::make_unique<Relu>(a); }

}  // namespace eatsim::trainer
