// conv2d: y = W * x (+ b), PyTorch semantics (cross-correlation, symmetric zero padding, floor,
// dilation, channel groups).
// Forward and backward (data, weights) side by side; weights and gradients stay in PyTorch's OIHW,
// the primitives pick their own layouts (format_tag::any) and Ports reorder only on mismatch.
#include <algorithm>
#include <memory>

#include "trainer/layers/conv_gemm.hpp"
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

// The weights as PyTorch stores them: OIHW, or for G groups the same bytes seen as GOIHW
// (G, O/G, C/G, kh, kw), which is how oneDNN takes grouped weights.
md user_weights(const Node& n, int64_t in_channels) {
  const int64_t G = n.groups, O = n.out_channels;
  if (G == 1) return md({O, in_channels, n.kh, n.kw}, dt::f32, tag::oihw);
  return md({G, O / G, in_channels / G, n.kh, n.kw}, dt::f32, tag::goihw);
}

class Conv2d : public Layer {
 public:
  explicit Conv2d(BuildArgs& a)
      : in_(a.in[0]), out_(&a.out), diff_src_(a.diff_in[0]), p_(a, user_weights(a.node, a.in[0]->dims[1])) {
    const Node& n = a.node;
    Env& e = a.env;
    const Shape& x = in_->dims;  // (N, C, H, W)
    // oneDNN has no bf16 Winograd: bf16 runs direct (on AMX where the CPU has it).
    algo_ =
        a.plan.winograd && !e.bf16 ? dnnl::algorithm::convolution_auto : dnnl::algorithm::convolution_direct;
    int64_t N = x[0], C = x[1], H = x[2], W = x[3];
    int64_t O = n.out_channels, OH = n.out_shape[1], OW = n.out_shape[2];
    if (Im2colConv::suits(e, n, in_->desc, OW)) {
      gemm_ = std::make_unique<Im2colConv>(a, p_.w.get_desc());
      return;
    }
    a.out.dims = {N, O, OH, OW};
    // oneDNN wants the right padding that makes (H + pl + pr - ek) / s + 1 == OH (ek: the dilated
    // kernel's extent); PyTorch floors, so the exact value may be negative: any value in [that, pl]
    // gives the same output size. oneDNN counts dilation from 0 (none), PyTorch from 1.
    const int64_t ekh = int64_t(n.dh) * (n.kh - 1) + 1, ekw = int64_t(n.dw) * (n.kw - 1) + 1;
    memory::dims strides{n.sh, n.sw}, pl{n.ph, n.pw}, dil{n.dh - 1, n.dw - 1};
    memory::dims pr{std::max<int64_t>(0, (OH - 1) * n.sh + ekh - H - n.ph),
                    std::max<int64_t>(0, (OW - 1) * n.sw + ekw - W - n.pw)};
    // In bf16 the multiplied operands (src, weights, d(dst)) are bf16; results stay fp32.
    const dt mt = e.mm_type();
    md src_any({N, C, H, W}, mt, tag::any), w_any(p_.w.get_desc().dims(), mt, tag::any);
    md dst_any({N, O, OH, OW}, dt::f32, tag::any), ddst_any({N, O, OH, OW}, mt, tag::any);
    md dsrc_any({N, C, H, W}, dt::f32, tag::any), dw_any(p_.w.get_desc().dims(), dt::f32, tag::any);
    md w_user = p_.w.get_desc();
    const md& b_md = p_.b_md;

    // (N, C, H, W) -> (N, O, OH, OW)
    fwd_pd_ = dnnl::convolution_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, algo_, src_any, w_any, b_md, dst_any, strides, dil, pl, pr},
        e.eng);
    fwd_ = dnnl::convolution_forward(fwd_pd_);
    a.out.desc = fwd_pd_.dst_desc();
    src_.init(e, in_->desc, fwd_pd_.src_desc());
    w_.init(e, w_user, fwd_pd_.weights_desc(), a.scratch);

    // d(input): (N, O, OH, OW) -> (N, C, H, W); skipped when nobody needs it (the graph input).
    if (diff_src_) {
      bwd_data_pd_ = dnnl::convolution_backward_data::primitive_desc(
          {algo_, dsrc_any, w_any, ddst_any, strides, dil, pl, pr}, e.eng, fwd_pd_);
      bwd_data_ = dnnl::convolution_backward_data(bwd_data_pd_);
      bd_w_.init(e, w_user, bwd_data_pd_.weights_desc(), a.scratch);
      bd_ddst_.init(e, a.out.desc, bwd_data_pd_.diff_dst_desc(), a.grad_scratch);
      bd_dsrc_.init(e, diff_src_.get_desc(), bwd_data_pd_.diff_src_desc());
    }
    if (!a.backward) return;
    // d(weights), d(bias)
    bwd_w_pd_ = dnnl::convolution_backward_weights::primitive_desc(
        {algo_, src_any, dw_any, b_md, ddst_any, strides, dil, pl, pr}, e.eng, fwd_pd_);
    bwd_w_ = dnnl::convolution_backward_weights(bwd_w_pd_);
    bw_src_.init(e, in_->desc, bwd_w_pd_.src_desc());
    // Both output-gradient conversions share the pool: backward-weights reuses backward-data's
    // (the pool is untouched in between) or converts into it again.
    bw_ddst_.init(e, a.out.desc, bwd_w_pd_.diff_dst_desc(), a.grad_scratch);
    bw_dw_.init(e, w_user, bwd_w_pd_.diff_weights_desc(), a.scratch);
  }

  void forward(Env& e, bool) override {
    if (gemm_) return gemm_->forward(e, in_->data, out_->data, p_.w);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_.in(e, in_->data)},
                                         {DNNL_ARG_WEIGHTS, w_.in(e, p_.w)},
                                         {DNNL_ARG_DST, out_->data}};
    p_.add_bias(args, DNNL_ARG_BIAS, false);
    fwd_.execute(e.s, args);
  }

  void backward(Env& e) override {
    if (gemm_) return gemm_->backward(e, out_->diff, diff_src_, p_.w, p_.dw);
    if (diff_src_) {
      memory dsrc = bd_dsrc_.out(diff_src_);
      bwd_data_.execute(e.s, {{DNNL_ARG_DIFF_DST, bd_ddst_.in(e, out_->diff)},
                              {DNNL_ARG_WEIGHTS, bd_w_.in(e, p_.w)},
                              {DNNL_ARG_DIFF_SRC, dsrc}});
      bd_dsrc_.finish(e, diff_src_);
    }
    // The forward's converted src is still valid when both primitives chose the same layout.
    memory src = (bw_src_.converts() && src_.converts() && fwd_pd_.src_desc() == bwd_w_pd_.src_desc())
                     ? src_.out(in_->data)
                     : bw_src_.in(e, in_->data);
    memory ddst = (bw_ddst_.converts() && bd_ddst_.converts() && diff_src_ &&
                   bwd_data_pd_.diff_dst_desc() == bwd_w_pd_.diff_dst_desc())
                      ? bd_ddst_.out(out_->diff)
                      : bw_ddst_.in(e, out_->diff);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, bw_dw_.out(p_.dw)}};
    p_.add_bias(args, DNNL_ARG_DIFF_BIAS, true);
    bwd_w_.execute(e.s, args);
    bw_dw_.finish(e, p_.dw);
  }

 private:
  dnnl::algorithm algo_;
  Act* in_;
  Act* out_;
  memory diff_src_;
  WeightMems p_;  // PyTorch layouts, on the Net's parameter storage
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd_;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd_;
  dnnl::convolution_forward fwd_;
  dnnl::convolution_backward_data bwd_data_;
  dnnl::convolution_backward_weights bwd_w_;
  Port src_, w_, bd_w_, bd_ddst_, bd_dsrc_, bw_src_, bw_ddst_, bw_dw_;
  std::unique_ptr<Im2colConv> gemm_;  // bf16 with short output rows: matmuls instead (conv_gemm.hpp)
};

}  // namespace

std::unique_ptr<Layer> make_conv2d(BuildArgs& a) { return std::make_unique<Conv2d>(a); }

}  // namespace eatsim::trainer
