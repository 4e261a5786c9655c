// batchnorm2d: y = γ (x − μ) / sqrt(σ² + eps) + β per channel. Training normalises with the batch
// statistics (oneDNN: biased variance) and then updates the running statistics the PyTorch way
// (momentum, unbiased variance, num_batches_tracked); eval uses the running statistics.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "trainer/layers/bn_kernels.hpp"
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

using dnnl::normalization_flags;

// Training-mode BN as plain OpenMP loops for the layouts convolutions produce here (nchw,
// nChw8c, nChw16c; nhwc in bn_nhwc.cpp): one parallel region per call, each thread owning whole channel
// blocks, so no barrier inside (oneDNN's bnorm_jit spins in several barriers per call, which stalls for a
// whole time slice whenever the machine is busy). Element (n, c, s) sits at
// ((n·CB + c/B)·S + s)·B + c%B with CB = ⌈C/B⌉ blocks and S = H·W. Statistics in one pass with
// double accumulation (Σx, Σx²).
//
// When the BN's only consumer is a ReLU (training plans), the ReLU and the EAT penalties of both
// outputs ride along: forward writes y = max(z, 0) with z = x·sc + sh and sums y²/(y²+σr) and
// z²/(z²+σb); backward recomputes z from x (same sc, sh, same operations, so the same mask) and
// folds the ReLU's and the penalties' gradients into the BN gradient. Per BN + ReLU pair that is
// 3 passes over memory forward instead of 6 and 5 backward instead of 8.
struct BlockedBn {
  int64_t N, C, S, B, CB;
  float eps;
  int64_t at(int64_t n, int64_t cb) const { return (n * CB + cb) * S * B; }
};

// One channel block of the forward; returns the block's penalty sums in *pr (ReLU output) and *pb.
template <bool RELU, bool PR, bool PB>
inline __attribute__((always_inline)) void bn_fwd(const BlockedBn& g, const BnArgs& a, int64_t cb, double* pr,
                                                  double* pb) {
  const int64_t B = g.B, S = g.S;
  const float sr = a.sr, sb = a.sb;
  float sc[16] = {}, sh[16] = {};
  if (a.stats) {
    double s[16] = {}, q[16] = {};
    for (int64_t n = 0; n < g.N; ++n) {
      const float* p = a.x + g.at(n, cb);
      for (int64_t i = 0; i < S; ++i)
#pragma omp simd
        for (int64_t l = 0; l < B; ++l) {
          double v = p[i * B + l];
          s[l] += v, q[l] += v * v;
        }
    }
    double M = static_cast<double>(g.N * S);
    for (int64_t l = 0; l < B; ++l) {
      int64_t c = cb * B + l;
      if (c >= g.C) {  // padding lanes stay zero
        sc[l] = 0, sh[l] = 0;
        continue;
      }
      double mu = s[l] / M;
      float m = static_cast<float>(mu), v = static_cast<float>(std::max(0.0, q[l] / M - mu * mu));
      a.mean[c] = m, a.var[c] = v;
      sc[l] = a.gamma[c] / std::sqrt(v + g.eps);
      sh[l] = a.beta[c] - m * sc[l];
    }
    for (int64_t l = 0; l < B; ++l) a.sc[cb * B + l] = sc[l], a.sh[cb * B + l] = sh[l];
  } else {
    for (int64_t l = 0; l < B; ++l) sc[l] = a.sc[cb * B + l], sh[l] = a.sh[cb * B + l];
  }
  double tr = 0, tb = 0;
  for (int64_t n = 0; n < g.N; ++n) {
    const float* p = a.x + g.at(n, cb);
    float* o = a.y + g.at(n, cb);
    float ar = 0, ab = 0;
    for (int64_t i = 0; i < S; ++i)
#pragma omp simd reduction(+ : ar, ab)
      for (int64_t l = 0; l < B; ++l) {
        float z = p[i * B + l] * sc[l] + sh[l];
        float r = RELU ? std::max(z, 0.0f) : z;
        o[i * B + l] = r;
        if (PR) ar += r * r / (r * r + sr);
        if (PB) ab += z * z / (z * z + sb);
      }
    tr += ar, tb += ab;
  }
  *pr = tr, *pb = tb;
}

// d(BN input) from d(output) g: dx = γ/√(σ²+eps) · (g − mean(g) − x̂ · mean(g·x̂)), dγ = Σ g·x̂,
// dβ = Σ g. Fused, g = relu_grad(z, dy) with z = x·sc + sh recomputed in both passes.
template <bool RELU, bool PR, bool PB>
inline __attribute__((always_inline)) void bn_bwd(const BlockedBn& g, const BnArgs& a, int64_t cb) {
  const int64_t B = g.B, S = g.S;
  const float sr = a.sr, kr = a.kr, sb = a.sb, kb = a.kb;
  double sd[16] = {}, sdx[16] = {};
  float mu[16] = {}, rs[16] = {}, sc[16] = {}, sh[16] = {}, k1[16], k2[16], k3[16];
  for (int64_t l = 0; l < B; ++l) {
    sc[l] = a.sc[cb * B + l], sh[l] = a.sh[cb * B + l];
    if (cb * B + l < g.C) mu[l] = a.mean[cb * B + l], rs[l] = 1.0f / std::sqrt(a.var[cb * B + l] + g.eps);
  }
  // Fused, g goes through a buffer first (GCC does not vectorise the select and the double
  // accumulation in one loop): one image's worth, recomputed in the second pass, or with penalties
  // (divisions) dx itself, read back by the second pass.
  constexpr bool keep = PR || PB;
  static thread_local std::vector<float> row;
  if (RELU && !keep) row.resize(static_cast<size_t>(S * B));
  for (int64_t n = 0; n < g.N; ++n) {
    const float *p = a.x + g.at(n, cb), *d = a.dy + g.at(n, cb);
    if (RELU) {
      float* t = keep ? a.dx + g.at(n, cb) : row.data();
      for (int64_t i = 0; i < S; ++i)
#pragma omp simd
        for (int64_t l = 0; l < B; ++l)
          t[i * B + l] = relu_grad<PR, PB>(p[i * B + l] * sc[l] + sh[l], d[i * B + l], sr, kr, sb, kb);
      d = t;
    }
    for (int64_t i = 0; i < S; ++i)
#pragma omp simd
      for (int64_t l = 0; l < B; ++l) {
        float v = d[i * B + l];
        sd[l] += v;
        sdx[l] += static_cast<double>(v) * ((p[i * B + l] - mu[l]) * rs[l]);
      }
  }
  double M = static_cast<double>(g.N * S);
  for (int64_t l = 0; l < B; ++l) {
    int64_t c = cb * B + l;
    if (c >= g.C) {
      k1[l] = k2[l] = k3[l] = 0;
      continue;
    }
    a.dgamma[c] = static_cast<float>(sdx[l]), a.dbeta[c] = static_cast<float>(sd[l]);
    k1[l] = a.gamma[c] * rs[l];                      // scales g
    k2[l] = static_cast<float>(sd[l] / M);           // mean(g)
    k3[l] = static_cast<float>(sdx[l] / M) * rs[l];  // mean(g·x̂)·rs: x̂·mean(g·x̂) = (x − μ)·k3
  }
  for (int64_t n = 0; n < g.N; ++n) {
    const float *p = a.x + g.at(n, cb), *d = a.dy + g.at(n, cb);
    float* o = a.dx + g.at(n, cb);
    for (int64_t i = 0; i < S; ++i)
#pragma omp simd
      for (int64_t l = 0; l < B; ++l) {
        float xv = p[i * B + l];
        float v = keep   ? o[i * B + l]
                  : RELU ? relu_grad<PR, PB>(xv * sc[l] + sh[l], d[i * B + l], sr, kr, sb, kb)
                         : d[i * B + l];
        o[i * B + l] = k1[l] * (v - k2[l] - (xv - mu[l]) * k3[l]);
      }
  }
}

using BnFwd = void (*)(const BlockedBn&, const BnArgs&, int64_t, double*, double*);
using BnBwd = void (*)(const BlockedBn&, const BnArgs&, int64_t);

#define EATSIM_BN_KERNELS(RELU, PR, PB, name)                                                     \
  EATSIM_SIMD_CLONES void fwd_##name(const BlockedBn& g, const BnArgs& a, int64_t cb, double* pr, \
                                     double* pb) {                                                \
    bn_fwd<RELU, PR, PB>(g, a, cb, pr, pb);                                                       \
  }                                                                                               \
  EATSIM_SIMD_CLONES void bwd_##name(const BlockedBn& g, const BnArgs& a, int64_t cb) {           \
    bn_bwd<RELU, PR, PB>(g, a, cb);                                                               \
  }
EATSIM_BN_KERNELS(false, false, false, bn)
EATSIM_BN_KERNELS(true, false, false, relu)
EATSIM_BN_KERNELS(true, true, false, relu_pr)
EATSIM_BN_KERNELS(true, false, true, relu_pb)
EATSIM_BN_KERNELS(true, true, true, relu_both)

// The kernel pair for a configuration: plain BN, or fused with the ReLU and its penalties.
std::pair<BnFwd, BnBwd> bn_kernels(bool relu, bool pr, bool pb) {
  if (!relu) return {fwd_bn, bwd_bn};
  if (pr && pb) return {fwd_relu_both, bwd_relu_both};
  if (pr) return {fwd_relu_pr, bwd_relu_pr};
  if (pb) return {fwd_relu_pb, bwd_relu_pb};
  return {fwd_relu, bwd_relu};
}

void bn_forward(BnFwd f, const BlockedBn& g, const BnArgs& a, double& sum_r, double& sum_b) {
  double tr = 0, tb = 0;
#pragma omp parallel for reduction(+ : tr, tb) schedule(static)
  for (int64_t cb = 0; cb < g.CB; ++cb) {
    double r = 0, b = 0;
    f(g, a, cb, &r, &b);
    tr += r, tb += b;
  }
  sum_r = tr, sum_b = tb;
}

void bn_backward(BnBwd f, const BlockedBn& g, const BnArgs& a) {
#pragma omp parallel for schedule(static)
  for (int64_t cb = 0; cb < g.CB; ++cb) f(g, a, cb);
}

class BatchNorm2d : public Layer {
 public:
  explicit BatchNorm2d(BuildArgs& a)
      : in_(a.in[0]), out_(&a.out), diff_src_(a.diff_in[0]), momentum_(a.node.momentum) {
    Env& e = a.env;
    const md& data = in_->desc;  // (N, C, H, W), any layout; dst and diffs share it
    a.out.dims = in_->dims;
    const Shape& x = in_->dims;
    count_ = x[0] * x[2] * x[3];
    float eps = static_cast<float>(a.node.eps);
    auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
    for (int64_t b : {16, 8, 1}) {
      tag t = b == 16 ? tag::nChw16c : b == 8 ? tag::nChw8c : tag::nchw;
      if (data == md({x[0], x[1], x[2], x[3]}, dt::f32, t)) {
        own_ = BlockedBn{x[0], x[1], x[2] * x[3], b, (x[1] + b - 1) / b, eps};
        break;
      }
    }
    if (data == md({x[0], x[1], x[2], x[3]}, dt::f32, tag::nhwc))
      nhwc_ = NhwcBn{x[0] * x[2] * x[3], x[1], eps};
    // The training descriptor gives the output layout and the statistics' descriptors; oneDNN's
    // primitives run only for layouts our kernels do not cover.
    train_pd_ = dnnl::batch_normalization_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, data, eps, flags}, e.eng);
    a.out.desc = train_pd_.dst_desc();
    if (!own()) {
      train_ = dnnl::batch_normalization_forward(train_pd_);
      infer_ = dnnl::batch_normalization_forward(dnnl::batch_normalization_forward::primitive_desc(
          {dnnl::prop_kind::forward_inference, data, eps, flags | normalization_flags::use_global_stats},
          e.eng));
      if (a.backward)
        bwd_ = dnnl::batch_normalization_backward(dnnl::batch_normalization_backward::primitive_desc(
            {dnnl::prop_kind::backward, data, data, eps, flags}, e.eng, train_pd_));
    }
    sc_.assign(static_cast<size_t>(nhwc_.C ? nhwc_.C : own_.CB * own_.B), 0.0f);
    sh_ = sc_;
    if (a.plan.fuse_relu && own()) {
      a.fused = true;
      pen_b_ = a.slot(a.plan.pen_self), pen_r_ = a.slot(a.plan.pen_relu);
    }

    md c_md({x[1]}, dt::f32, tag::x);
    gamma_ = &a.param("weight");
    beta_ = &a.param("bias");
    rmean_ = &a.param("running_mean");
    rvar_ = &a.param("running_var");
    nbt_ = &a.param("num_batches_tracked");
    scale_ = memory(c_md, e.eng, gamma_->value.data());
    shift_ = memory(c_md, e.eng, beta_->value.data());
    dscale_ = memory(c_md, e.eng, gamma_->grad.data());
    dshift_ = memory(c_md, e.eng, beta_->grad.data());
    rmean_mem_ = memory(c_md, e.eng, rmean_->value.data());
    rvar_mem_ = memory(c_md, e.eng, rvar_->value.data());
    mean_ = memory(train_pd_.mean_desc(), e.eng);
    var_ = memory(train_pd_.variance_desc(), e.eng);
    if (!diff_src_ && a.backward) diff_src_ = memory(data, e.eng);  // d(γ), d(β) still need a d(x) buffer
  }

  void forward(Env& e, bool train) override {
    // Eval normalises with the running statistics; own kernel whenever the layout allows, so a
    // fused and an unfused plan give the same bits.
    if (!train && !own()) {
      infer_.execute(e.s, {{DNNL_ARG_SRC, in_->data},
                           {DNNL_ARG_DST, out_->data},
                           {DNNL_ARG_SCALE, scale_},
                           {DNNL_ARG_SHIFT, shift_},
                           {DNNL_ARG_MEAN, rmean_mem_},
                           {DNNL_ARG_VARIANCE, rvar_mem_}});
      return;
    }
    if (own()) {
      e.s.wait();
      BnArgs a = args();
      a.stats = train;
      const float eps = nhwc_.C ? nhwc_.eps : own_.eps;
      if (!train)
        for (size_t c = 0; c < gamma_->value.size(); ++c) {
          sc_[c] = gamma_->value[c] / std::sqrt(rvar_->value[c] + eps);
          sh_[c] = beta_->value[c] - rmean_->value[c] * sc_[c];
        }
      bool pr = on(pen_r_), pb = on(pen_b_);
      double sum_r = 0, sum_b = 0;
      if (nhwc_.C)
        bn_nhwc_forward(nhwc_, a, relu(), pr, pb, sum_r, sum_b);
      else
        bn_forward(bn_kernels(relu(), pr, pb).first, own_, a, sum_r, sum_b);
      if (pr) pen_r_->sum = sum_r;
      if (pb) pen_b_->sum = sum_b;
      if (!train) return;
    } else {
      train_.execute(e.s, {{DNNL_ARG_SRC, in_->data},
                           {DNNL_ARG_DST, out_->data},
                           {DNNL_ARG_SCALE, scale_},
                           {DNNL_ARG_SHIFT, shift_},
                           {DNNL_ARG_MEAN, mean_},
                           {DNNL_ARG_VARIANCE, var_}});
    }
    e.s.wait();
    // running = (1 − m)·running + m·batch, with the unbiased batch variance (PyTorch).
    const float* mu = f(mean_);
    const float* var = f(var_);
    double unbias = count_ > 1 ? static_cast<double>(count_) / (count_ - 1) : 1.0;
    float m = static_cast<float>(momentum_);
    for (size_t c = 0; c < rmean_->value.size(); ++c) {
      rmean_->value[c] = (1 - m) * rmean_->value[c] + m * mu[c];
      rvar_->value[c] = (1 - m) * rvar_->value[c] + m * static_cast<float>(var[c] * unbias);
    }
    nbt_->count += 1;
  }

  // Needs the batch statistics (and sc/sh) of the last training forward.
  void backward(Env& e) override {
    if (own()) {
      e.s.wait();
      BnArgs a = args();
      bool pr = on(pen_r_), pb = on(pen_b_);
      if (pr) a.sr = pen_r_->sigma, a.kr = 2 * pen_r_->sigma * pen_r_->scale;
      if (pb) a.sb = pen_b_->sigma, a.kb = 2 * pen_b_->sigma * pen_b_->scale;
      if (nhwc_.C)
        bn_nhwc_backward(nhwc_, a, relu(), pr, pb);
      else
        bn_backward(bn_kernels(relu(), pr, pb).second, own_, a);
      return;
    }
    bwd_.execute(e.s, {{DNNL_ARG_SRC, in_->data},
                       {DNNL_ARG_MEAN, mean_},
                       {DNNL_ARG_VARIANCE, var_},
                       {DNNL_ARG_DIFF_DST, out_->diff},
                       {DNNL_ARG_SCALE, scale_},
                       {DNNL_ARG_SHIFT, shift_},
                       {DNNL_ARG_DIFF_SRC, diff_src_},
                       {DNNL_ARG_DIFF_SCALE, dscale_},
                       {DNNL_ARG_DIFF_SHIFT, dshift_}});
  }

 private:
  static float* f(const memory& m) { return static_cast<float*>(m.get_data_handle()); }
  static bool on(const PenSlot* p) { return p && p->on; }
  bool relu() const { return pen_r_ != nullptr; }  // fused with its ReLU
  bool own() const { return own_.B || nhwc_.C; }   // our kernels, not oneDNN's
  BnArgs args() {
    BnArgs a{};
    a.x = f(in_->data), a.gamma = gamma_->value.data(), a.beta = beta_->value.data();
    a.y = f(out_->data), a.mean = f(mean_), a.var = f(var_), a.sc = sc_.data(), a.sh = sh_.data();
    a.dy = out_->diff ? f(out_->diff) : nullptr;
    a.dx = diff_src_ ? f(diff_src_) : nullptr, a.dgamma = gamma_->grad.data(), a.dbeta = beta_->grad.data();
    a.sr = pen_r_ ? pen_r_->sigma : 1, a.sb = pen_b_ ? pen_b_->sigma : 1;
    return a;
  }
  BlockedBn own_{0, 0, 0, 0, 0, 0};  // B = 0: not a blocked layout
  NhwcBn nhwc_{0, 0, 0};             // C > 0: channels-last (bf16 convolutions' outputs)
  std::vector<float> sc_, sh_;       // per padded channel: scale and shift of the last forward
  PenSlot* pen_b_ = nullptr;         // fused: this node's penalty
  PenSlot* pen_r_ = nullptr;         // fused: the ReLU output's penalty (set = fused)
  Act* in_;
  Act* out_;
  memory diff_src_;
  double momentum_;
  int64_t count_;  // elements per channel: N·H·W
  Param *gamma_, *beta_, *rmean_, *rvar_, *nbt_;
  memory scale_, shift_, dscale_, dshift_, rmean_mem_, rvar_mem_, mean_, var_;
  dnnl::batch_normalization_forward::primitive_desc train_pd_;
  dnnl::batch_normalization_forward train_, infer_;
  dnnl::batch_normalization_backward bwd_;
};

}  // namespace

std::unique_ptr<Layer> make_batchnorm2d(BuildArgs& a) { return std::make_unique<BatchNorm2d>(a); }

}  // namespace eatsim::trainer
