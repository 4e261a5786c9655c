// batchnorm2d: y = γ (x − μ) / sqrt(σ² + eps) + β per channel. Training normalises with the batch
// statistics (oneDNN: biased variance) and then updates the running statistics the PyTorch way
// (momentum, unbiased variance, num_batches_tracked); eval uses the running statistics.
#include <cmath>
#include <vector>

#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

using dnnl::normalization_flags;

// Training-mode BN as plain OpenMP loops for the layouts convolutions produce here (nchw,
// nChw8c, nChw16c): one parallel region per call, each thread owning whole channel blocks, so no
// barrier inside (oneDNN's bnorm_jit spins in several barriers per call, which stalls for a
// whole time slice whenever the machine is busy). Element (n, c, s) sits at
// ((n·CB + c/B)·S + s)·B + c%B with CB = ⌈C/B⌉ blocks and S = H·W. Double accumulation.
struct BlockedBn {
  int64_t N, C, S, B, CB;
  float eps;
  int64_t at(int64_t n, int64_t cb) const { return (n * CB + cb) * S * B; }

  // y = γ (x − μ) / √(σ² + eps) + β with the batch statistics (biased variance) written to mean/var.
  void forward(const float* x, float* y, const float* g, const float* b, float* mean, float* var) const {
    double M = static_cast<double>(N * S);
#pragma omp parallel for schedule(static)
    for (int64_t cb = 0; cb < CB; ++cb) {
      double s[16] = {}, q[16] = {};
      for (int64_t n = 0; n < N; ++n) {
        const float* p = x + at(n, cb);
        for (int64_t i = 0; i < S; ++i)
#pragma omp simd
          for (int64_t l = 0; l < B; ++l) s[l] += p[i * B + l];
      }
      float mu[16], sc[16], sh[16];
      for (int64_t l = 0; l < B; ++l) mu[l] = static_cast<float>(s[l] / M);
      for (int64_t n = 0; n < N; ++n) {
        const float* p = x + at(n, cb);
        for (int64_t i = 0; i < S; ++i)
#pragma omp simd
          for (int64_t l = 0; l < B; ++l) {
            double d = p[i * B + l] - mu[l];
            q[l] += d * d;
          }
      }
      for (int64_t l = 0; l < B; ++l) {
        int64_t c = cb * B + l;
        if (c >= C) {  // padding lanes stay zero
          sc[l] = 0, sh[l] = 0;
          continue;
        }
        float v = static_cast<float>(q[l] / M);
        mean[c] = mu[l], var[c] = v;
        sc[l] = g[c] / std::sqrt(v + eps);
        sh[l] = b[c] - mu[l] * sc[l];
      }
      for (int64_t n = 0; n < N; ++n) {
        const float* p = x + at(n, cb);
        float* o = y + at(n, cb);
        for (int64_t i = 0; i < S; ++i)
#pragma omp simd
          for (int64_t l = 0; l < B; ++l) o[i * B + l] = p[i * B + l] * sc[l] + sh[l];
      }
    }
  }

  // dx = γ/√(σ²+eps) · (dy − mean(dy) − x̂ · mean(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.
  void backward(const float* x, const float* dy, float* dx, const float* g, const float* mean,
                const float* var, float* dg, float* db) const {
    double M = static_cast<double>(N * S);
#pragma omp parallel for schedule(static)
    for (int64_t cb = 0; cb < CB; ++cb) {
      double sd[16] = {}, sdx[16] = {};
      float mu[16] = {}, rs[16] = {}, k1[16], k2[16], k3[16];
      for (int64_t l = 0; l < B; ++l)
        if (cb * B + l < C) mu[l] = mean[cb * B + l], rs[l] = 1.0f / std::sqrt(var[cb * B + l] + eps);
      for (int64_t n = 0; n < N; ++n) {
        const float *p = x + at(n, cb), *d = dy + at(n, cb);
        for (int64_t i = 0; i < S; ++i)
#pragma omp simd
          for (int64_t l = 0; l < B; ++l) {
            float v = d[i * B + l];
            sd[l] += v;
            sdx[l] += static_cast<double>(v) * ((p[i * B + l] - mu[l]) * rs[l]);
          }
      }
      for (int64_t l = 0; l < B; ++l) {
        int64_t c = cb * B + l;
        if (c >= C) {
          k1[l] = k2[l] = k3[l] = 0;
          continue;
        }
        dg[c] = static_cast<float>(sdx[l]), db[c] = static_cast<float>(sd[l]);
        k1[l] = g[c] * rs[l];                            // scales dy
        k2[l] = static_cast<float>(sd[l] / M);           // mean(dy)
        k3[l] = static_cast<float>(sdx[l] / M) * rs[l];  // mean(dy·x̂)·rs: x̂·mean(dy·x̂) = (x − μ)·k3
      }
      for (int64_t n = 0; n < N; ++n) {
        const float *p = x + at(n, cb), *d = dy + at(n, cb);
        float* o = dx + at(n, cb);
        for (int64_t i = 0; i < S; ++i)
#pragma omp simd
          for (int64_t l = 0; l < B; ++l)
            o[i * B + l] = k1[l] * (d[i * B + l] - k2[l] - (p[i * B + l] - mu[l]) * k3[l]);
      }
    }
  }
};

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
    train_pd_ = dnnl::batch_normalization_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, data, eps, flags}, e.eng);
    infer_pd_ = dnnl::batch_normalization_forward::primitive_desc(
        {dnnl::prop_kind::forward_inference, data, eps, flags | normalization_flags::use_global_stats},
        e.eng);
    train_ = dnnl::batch_normalization_forward(train_pd_);
    infer_ = dnnl::batch_normalization_forward(infer_pd_);
    if (a.backward) {
      bwd_pd_ = dnnl::batch_normalization_backward::primitive_desc(
          {dnnl::prop_kind::backward, data, data, eps, flags}, e.eng, train_pd_);
      bwd_ = dnnl::batch_normalization_backward(bwd_pd_);
    }
    a.out.desc = train_pd_.dst_desc();
    for (int64_t b : {16, 8, 1}) {
      tag t = b == 16 ? tag::nChw16c : b == 8 ? tag::nChw8c : tag::nchw;
      if (data == md({x[0], x[1], x[2], x[3]}, dt::f32, t)) {
        own_ = BlockedBn{x[0], x[1], x[2] * x[3], b, (x[1] + b - 1) / b, eps};
        break;
      }
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
    if (!train) {
      infer_.execute(e.s, {{DNNL_ARG_SRC, in_->data},
                           {DNNL_ARG_DST, out_->data},
                           {DNNL_ARG_SCALE, scale_},
                           {DNNL_ARG_SHIFT, shift_},
                           {DNNL_ARG_MEAN, rmean_mem_},
                           {DNNL_ARG_VARIANCE, rvar_mem_}});
      return;
    }
    if (own_.B) {
      e.s.wait();
      own_.forward(f(in_->data), f(out_->data), gamma_->value.data(), beta_->value.data(), f(mean_), f(var_));
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
    const float* mu = static_cast<const float*>(mean_.get_data_handle());
    const float* var = static_cast<const float*>(var_.get_data_handle());
    double unbias = count_ > 1 ? static_cast<double>(count_) / (count_ - 1) : 1.0;
    float m = static_cast<float>(momentum_);
    for (size_t c = 0; c < rmean_->value.size(); ++c) {
      rmean_->value[c] = (1 - m) * rmean_->value[c] + m * mu[c];
      rvar_->value[c] = (1 - m) * rvar_->value[c] + m * static_cast<float>(var[c] * unbias);
    }
    nbt_->count += 1;
  }

  // Needs the batch statistics of the last training forward.
  void backward(Env& e) override {
    if (own_.B) {
      e.s.wait();
      own_.backward(f(in_->data), f(out_->diff), f(diff_src_), gamma_->value.data(), f(mean_), f(var_),
                    gamma_->grad.data(), beta_->grad.data());
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
  BlockedBn own_{0, 0, 0, 0, 0, 0};  // B = 0: oneDNN's primitives
  Act* in_;
  Act* out_;
  memory diff_src_;
  double momentum_;
  int64_t count_;  // elements per channel: N·H·W
  Param *gamma_, *beta_, *rmean_, *rvar_, *nbt_;
  memory scale_, shift_, dscale_, dshift_, rmean_mem_, rvar_mem_, mean_, var_;
  dnnl::batch_normalization_forward::primitive_desc train_pd_, infer_pd_;
  dnnl::batch_normalization_backward::primitive_desc bwd_pd_;
  dnnl::batch_normalization_forward train_, infer_;
  dnnl::batch_normalization_backward bwd_;
};

}  // namespace

std::unique_ptr<Layer> make_batchnorm2d(BuildArgs& a) { return std::make_unique<BatchNorm2d>(a); }

}  // namespace eatsim::trainer
