// linear: y = x Wᵀ + b, x (N, F), W (O, F) as in PyTorch; inner-product primitives, weights
// reordered only if the primitive prefers another layout.
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

class Linear : public Layer {
 public:
  explicit Linear(BuildArgs& a)
      : in_(a.in[0]),
        out_(&a.out),
        diff_src_(a.diff_in[0]),
        p_(a, md({a.node.out_channels, a.in[0]->dims[1]}, dt::f32, tag::oi)) {
    const Node& n = a.node;
    Env& e = a.env;
    int64_t N = in_->dims[0], F = in_->dims[1], O = n.out_channels;
    a.out.dims = {N, O};
    // In bf16 the multiplied operands (src, weights, d(dst)) are bf16; results stay fp32.
    const dt mt = e.mm_type();
    md src_any({N, F}, mt, tag::any), w_any({O, F}, mt, tag::any), dsrc_any({N, F}, dt::f32, tag::any);
    md w_user = p_.w.get_desc(), dst({N, O}, dt::f32, tag::nc), ddst({N, O}, mt, tag::nc);
    md dw_any({O, F}, dt::f32, tag::any);
    const md& b_md = p_.b_md;
    // (N, F) -> (N, O)
    fwd_pd_ = dnnl::inner_product_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, src_any, w_any, b_md, dst}, e.eng);
    fwd_ = dnnl::inner_product_forward(fwd_pd_);
    a.out.desc = dst;
    src_.init(e, in_->desc, fwd_pd_.src_desc());
    w_.init(e, w_user, fwd_pd_.weights_desc());
    ddst_.init(e, dst, ddst);
    if (diff_src_) {
      auto pd = dnnl::inner_product_backward_data::primitive_desc({dsrc_any, w_any, ddst}, e.eng, fwd_pd_);
      bwd_data_ = dnnl::inner_product_backward_data(pd);
      bd_w_.init(e, w_user, pd.weights_desc());
      bd_dsrc_.init(e, diff_src_.get_desc(), pd.diff_src_desc());
    }
    auto pd =
        dnnl::inner_product_backward_weights::primitive_desc({src_any, dw_any, b_md, ddst}, e.eng, fwd_pd_);
    bwd_w_ = dnnl::inner_product_backward_weights(pd);
    bw_src_.init(e, in_->desc, pd.src_desc());
    bw_dw_.init(e, w_user, pd.diff_weights_desc());
  }

  void forward(Env& e, bool) override {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_.in(e, in_->data)},
                                         {DNNL_ARG_WEIGHTS, w_.in(e, p_.w)},
                                         {DNNL_ARG_DST, out_->data}};
    p_.add_bias(args, DNNL_ARG_BIAS, false);
    fwd_.execute(e.s, args);
  }

  void backward(Env& e) override {
    memory ddst = ddst_.in(e, out_->diff);  // bf16: converted once for both passes
    if (diff_src_) {
      memory dsrc = bd_dsrc_.out(diff_src_);
      bwd_data_.execute(
          e.s, {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, bd_w_.in(e, p_.w)}, {DNNL_ARG_DIFF_SRC, dsrc}});
      bd_dsrc_.finish(e, diff_src_);
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, bw_src_.in(e, in_->data)},
                                         {DNNL_ARG_DIFF_DST, ddst},
                                         {DNNL_ARG_DIFF_WEIGHTS, bw_dw_.out(p_.dw)}};
    p_.add_bias(args, DNNL_ARG_DIFF_BIAS, true);
    bwd_w_.execute(e.s, args);
    bw_dw_.finish(e, p_.dw);
  }

 private:
  Act* in_;
  Act* out_;
  memory diff_src_;
  WeightMems p_;  // PyTorch layouts, on the Net's parameter storage
  dnnl::inner_product_forward::primitive_desc fwd_pd_;
  dnnl::inner_product_forward fwd_;
  dnnl::inner_product_backward_data bwd_data_;
  dnnl::inner_product_backward_weights bwd_w_;
  Port src_, w_, bd_w_, bd_dsrc_, bw_src_, bw_dw_, ddst_;
};

}  // namespace

std::unique_ptr<Layer> make_linear(BuildArgs& a) { return std::make_unique<Linear>(a); }

}  // namespace eatsim::trainer
