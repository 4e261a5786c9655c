// mul: y = a ⊙ b, where both inputs have the output's shape or one is (N, C, 1, 1) and scales the
// other's channels (squeeze-and-excitation). oneDNN binary_mul with src1 broadcast; backward:
// d(big) = dy ⊙ small, d(small) = dy ⊙ big, summed over H and W (a reduction) when broadcast.
#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

using alg = dnnl::algorithm;

class Mul : public Layer {
 public:
  explicit Mul(BuildArgs& a) : out_(&a.out) {
    Env& e = a.env;
    // big: the input with the output's shape (the first when both have it).
    const bool swap = a.in[0]->dims != a.in[1]->dims && a.in[1]->numel() > a.in[0]->numel();
    const int bi = swap ? 1 : 0, si = 1 - bi;
    big_ = a.in[bi], small_ = a.in[si];
    dbig_ = a.diff_in[bi], dsmall_ = a.diff_in[si];
    broadcast_ = big_->dims != small_->dims;
    a.out.dims = big_->dims;
    a.out.desc = big_->desc;
    const md& d = big_->desc;
    fwd_ = dnnl::binary(dnnl::binary::primitive_desc({alg::binary_mul, d, small_->desc, d}, e.eng));
    if (dbig_) {
      dbig_port_.init(e, dbig_.get_desc(), d);
      bwd_big_ = fwd_;  // dy ⊙ small, dy in the output's (= big's) layout
    }
    if (dsmall_) {
      if (!broadcast_) {
        dsmall_port_.init(e, dsmall_.get_desc(), d);
        bwd_small_ = dnnl::binary(dnnl::binary::primitive_desc({alg::binary_mul, d, d, d}, e.eng));
      } else {
        prod_ = memory(d, e.eng);
        bwd_small_ = dnnl::binary(dnnl::binary::primitive_desc({alg::binary_mul, d, d, d}, e.eng));
        const md& sd = small_->desc;
        sum_ =
            dnnl::reduction(dnnl::reduction::primitive_desc({alg::reduction_sum, d, sd, 0.0f, 0.0f}, e.eng));
        dsmall_port_.init(e, dsmall_.get_desc(), sd);
      }
    }
  }

  void forward(Env& e, bool) override {
    fwd_.execute(e.s,
                 {{DNNL_ARG_SRC_0, big_->data}, {DNNL_ARG_SRC_1, small_->data}, {DNNL_ARG_DST, out_->data}});
  }

  void backward(Env& e) override {
    if (dbig_) {
      memory m = dbig_port_.out(dbig_);
      bwd_big_.execute(e.s,
                       {{DNNL_ARG_SRC_0, out_->diff}, {DNNL_ARG_SRC_1, small_->data}, {DNNL_ARG_DST, m}});
      dbig_port_.finish(e, dbig_);
    }
    if (dsmall_) {
      memory m = dsmall_port_.out(dsmall_);
      if (!broadcast_) {
        bwd_small_.execute(e.s,
                           {{DNNL_ARG_SRC_0, out_->diff}, {DNNL_ARG_SRC_1, big_->data}, {DNNL_ARG_DST, m}});
      } else {
        bwd_small_.execute(
            e.s, {{DNNL_ARG_SRC_0, out_->diff}, {DNNL_ARG_SRC_1, big_->data}, {DNNL_ARG_DST, prod_}});
        sum_.execute(e.s, {{DNNL_ARG_SRC, prod_}, {DNNL_ARG_DST, m}});
      }
      dsmall_port_.finish(e, dsmall_);
    }
  }

 private:
  Act *big_, *small_;
  Act* out_;
  memory dbig_, dsmall_, prod_;
  bool broadcast_ = false;
  dnnl::binary fwd_, bwd_big_, bwd_small_;
  dnnl::reduction sum_;
  Port dbig_port_, dsmall_port_;
};

}  // namespace

std::unique_ptr<Layer> make_mul(BuildArgs& a) { return std::make_unique<Mul>(a); }

}  // namespace eatsim::trainer
