// relu: y = max(x, 0); dx = dy where x > 0 (0 at x = 0, like PyTorch). Any layout, dst = src.
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

class Relu : public Layer {
 public:
  explicit Relu(BuildArgs& a) : in_(a.in[0]), out_(&a.out), diff_src_(a.diff_in[0]) {
    Env& e = a.env;
    const md& data = in_->desc;  // (N, C, H, W) or (N, F)
    a.out.dims = in_->dims;
    fwd_pd_ = dnnl::eltwise_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu, data, 0.f, 0.f}, e.eng);
    fwd_ = dnnl::eltwise_forward(fwd_pd_);
    a.out.desc = fwd_pd_.dst_desc();
    if (diff_src_) {
      bwd_ = dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(
          {dnnl::algorithm::eltwise_relu, data, data, 0.f, 0.f}, e.eng, fwd_pd_));
    }
  }

  void forward(Env& e, bool) override {
    fwd_.execute(e.s, {{DNNL_ARG_SRC, in_->data}, {DNNL_ARG_DST, out_->data}});
  }

  void backward(Env& e) override {
    if (!diff_src_) return;
    bwd_.execute(
        e.s, {{DNNL_ARG_SRC, in_->data}, {DNNL_ARG_DIFF_DST, out_->diff}, {DNNL_ARG_DIFF_SRC, diff_src_}});
  }

 private:
  Act* in_;
  Act* out_;
  memory diff_src_;
  dnnl::eltwise_forward::primitive_desc fwd_pd_;
  dnnl::eltwise_forward fwd_;
  dnnl::eltwise_backward bwd_;
};

}  // namespace

std::unique_ptr<Layer> make_relu(BuildArgs& a) { return std::make_unique<Relu>(a); }

}  // namespace eatsim::trainer
