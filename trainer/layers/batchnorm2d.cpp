// batchnorm2d: y = γ (x − μ) / sqrt(σ² + eps) + β per channel. Training normalises with the batch
// statistics (oneDNN: biased variance) and then updates the running statistics the PyTorch way
// (momentum, unbiased variance, num_batches_tracked); eval uses the running statistics.
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

using dnnl::normalization_flags;

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
    train_.execute(e.s, {{DNNL_ARG_SRC, in_->data},
                         {DNNL_ARG_DST, out_->data},
                         {DNNL_ARG_SCALE, scale_},
                         {DNNL_ARG_SHIFT, shift_},
                         {DNNL_ARG_MEAN, mean_},
                         {DNNL_ARG_VARIANCE, var_}});
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
