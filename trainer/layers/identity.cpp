// identity (an empty nn.Sequential shortcut): the output aliases the input's buffer, so forward
// costs nothing; backward copies dy into the input's gradient.
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

class Identity : public Layer {
 public:
  explicit Identity(BuildArgs& a) : out_(&a.out), diff_src_(a.diff_in[0]) {
    a.out.dims = a.in[0]->dims;
    a.out.desc = a.in[0]->desc;
    a.out.data = a.in[0]->data;
    if (diff_src_) copy_ = make_reorder(a.env, a.out.desc, diff_src_.get_desc());
  }

  void forward(Env&, bool) override {}

  void backward(Env& e) override {
    if (diff_src_) copy_.execute(e.s, out_->diff, diff_src_);
  }

 private:
  Act* out_;
  memory diff_src_;
  dnnl::reorder copy_;
};

}  // namespace

std::unique_ptr<Layer> make_identity(BuildArgs& a) { return std::make_unique<Identity>(a); }

}  // namespace eatsim::trainer
