// add: y = a + b (residual connections), or max(a + b, 0) when its ReLU runs in place over it.
// Backward hands dy to both inputs, reordered into each input's layout when it differs.
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

class Add : public Layer {
 public:
  explicit Add(BuildArgs& a) : a_(a.in[0]), b_(a.in[1]), out_(&a.out), da_(a.diff_in[0]), db_(a.diff_in[1]) {
    Env& e = a.env;
    a.out.dims = a_->dims;
    a.out.desc = a_->desc;  // dst in the first input's layout
    dnnl::primitive_attr attr;
    if (a.plan.relu_after) {
      dnnl::post_ops po;
      po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(po);
    }
    add_ = dnnl::binary(dnnl::binary::primitive_desc(
        {dnnl::algorithm::binary_add, a_->desc, b_->desc, a.out.desc}, attr, e.eng));
    if (da_) to_a_ = make_reorder(e, a.out.desc, da_.get_desc());
    if (db_) to_b_ = make_reorder(e, a.out.desc, db_.get_desc());
  }

  void forward(Env& e, bool) override {
    add_.execute(e.s, {{DNNL_ARG_SRC_0, a_->data}, {DNNL_ARG_SRC_1, b_->data}, {DNNL_ARG_DST, out_->data}});
  }

  void backward(Env& e) override {
    if (da_) to_a_.execute(e.s, out_->diff, da_);
    if (db_) to_b_.execute(e.s, out_->diff, db_);
  }

 private:
  Act *a_, *b_;
  Act* out_;
  memory da_, db_;
  dnnl::binary add_;
  dnnl::reorder to_a_, to_b_;
};

}  // namespace

std::unique_ptr<Layer> make_add(BuildArgs& a) { return std::make_unique<Add>(a); }

}  // namespace eatsim::trainer
