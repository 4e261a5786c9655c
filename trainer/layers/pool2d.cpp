// maxpool2d, avgpool2d (count_include_pad, PyTorch's default) and global_avgpool (a pool whose
// kernel is the whole map). Max pooling keeps its argmax in a workspace for backward.
#include <algorithm>

#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

class Pool2d : public Layer {
 public:
  explicit Pool2d(BuildArgs& a) : in_(a.in[0]), out_(&a.out), diff_src_(a.diff_in[0]) {
    const Node& n = a.node;
    Env& e = a.env;
    const Shape& x = in_->dims;  // (N, C, H, W)
    int64_t N = x[0], C = x[1], H = x[2], W = x[3];
    int64_t kh = n.kh, kw = n.kw, sh = n.sh, sw = n.sw, ph = n.ph, pw = n.pw;
    if (n.op == Op::global_avgpool) kh = sh = H, kw = sw = W, ph = pw = 0;
    int64_t OH = n.out_shape[1], OW = n.out_shape[2];
    a.out.dims = {N, C, OH, OW};
    memory::dims strides{sh, sw}, kernel{kh, kw}, pl{ph, pw};
    // Same right-padding rule as conv2d: the smallest non-negative value giving PyTorch's size.
    memory::dims pr{std::max<int64_t>(0, (OH - 1) * sh + kh - H - ph),
                    std::max<int64_t>(0, (OW - 1) * sw + kw - W - pw)};
    auto alg =
        n.op == Op::maxpool2d ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_include_padding;
    md dst_any({N, C, OH, OW}, dt::f32, tag::any);
    // (N, C, H, W) -> (N, C, OH, OW)
    fwd_pd_ = dnnl::pooling_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, alg, in_->desc, dst_any, strides, kernel, pl, pr}, e.eng);
    fwd_ = dnnl::pooling_forward(fwd_pd_);
    a.out.desc = fwd_pd_.dst_desc();
    if (alg == dnnl::algorithm::pooling_max) ws_ = memory(fwd_pd_.workspace_desc(), e.eng);
    if (diff_src_) {
      bwd_ = dnnl::pooling_backward(dnnl::pooling_backward::primitive_desc(
          {alg, in_->desc, a.out.desc, strides, kernel, pl, pr}, e.eng, fwd_pd_));
    }
  }

  void forward(Env& e, bool) override {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, in_->data}, {DNNL_ARG_DST, out_->data}};
    if (ws_) args[DNNL_ARG_WORKSPACE] = ws_;
    fwd_.execute(e.s, args);
  }

  void backward(Env& e) override {
    if (!diff_src_) return;
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, out_->diff}, {DNNL_ARG_DIFF_SRC, diff_src_}};
    if (ws_) args[DNNL_ARG_WORKSPACE] = ws_;
    bwd_.execute(e.s, args);
  }

 private:
  Act* in_;
  Act* out_;
  memory diff_src_, ws_;
  dnnl::pooling_forward::primitive_desc fwd_pd_;
  dnnl::pooling_forward fwd_;
  dnnl::pooling_backward bwd_;
};

}  // namespace

std::unique_ptr<Layer> make_pool2d(BuildArgs& a) { return std::make_unique<Pool2d>(a); }

}  // namespace eatsim::trainer
