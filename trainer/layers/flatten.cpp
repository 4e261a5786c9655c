// flatten: (N, C, H, W) in any layout -> (N, C·H·W) in PyTorch's order (a reorder to plain NCHW
// written straight into the (N, F) buffer); backward is the reverse reorder.
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

class Flatten : public Layer {
 public:
  explicit Flatten(BuildArgs& a) : in_(a.in[0]), out_(&a.out), diff_src_(a.diff_in[0]) {
    Env& e = a.env;
    int64_t N = in_->dims[0];
    a.out.dims = {N, in_->numel() / N};
    a.out.desc = plain_desc(a.out.dims);
    a.out.data = memory(a.out.desc, e.eng);
    // The same bytes seen with the input's logical dims in plain layout.
    plain_in_ = plain_desc(in_->dims);
    view_ = memory(plain_in_, e.eng, a.out.data.get_data_handle());
    fwd_ = make_reorder(e, in_->desc, plain_in_);
    if (diff_src_) bwd_ = make_reorder(e, plain_in_, diff_src_.get_desc());
  }

  void forward(Env& e, bool) override { fwd_.execute(e.s, in_->data, view_); }

  void backward(Env& e) override {
    if (!diff_src_) return;
    memory dview(plain_in_, e.eng, out_->diff.get_data_handle());
    bwd_.execute(e.s, dview, diff_src_);
  }

 private:
  Act* in_;
  Act* out_;
  memory diff_src_, view_;
  md plain_in_;
  dnnl::reorder fwd_, bwd_;
};

}  // namespace

std::unique_ptr<Layer> make_flatten(BuildArgs& a) { return std::make_unique<Flatten>(a); }

}  // namespace eatsim::trainer
