// The element-wise activations beside relu (relu.cpp keeps its own kernels for the EAT penalty's
// fused passes) and dropout, forward and backward on oneDNN's eltwise primitives, with PyTorch's
// semantics (models/FORMAT.md):
//   relu6, hardtanh  clip_v2 (α, β): the gradient passes strictly inside (α, β), as PyTorch's
//   sigmoid          logistic        silu   swish (α = 1)        hardswish   hardswish
//   leaky_relu       relu (α = negative slope)
//   hardsigmoid      oneDNN 2.6 has none: linear (x/6 + 1/2) then clip_v2 (0, 1) in place; its
//                    gradient from the output (clip_v2 from dst: 0 < y < 1) then scaled by 1/6
// Element-wise, so any layout works: the output keeps the input's. A penalised activation's EAT
// term is computed by the Net on its output edge like any other node's.
#include <random>

#include "trainer/layers/layer.hpp"

namespace eatsim::trainer {
namespace {

using alg = dnnl::algorithm;

struct Step {
  alg a;
  float alpha = 0, beta = 0;
};

// The forward steps (the first reads the input, the others run in place on the output).
std::vector<Step> forward_steps(const Node& n) {
  switch (n.op) {
    case Op::relu6:
    case Op::hardtanh:
      return {{alg::eltwise_clip_v2, float(n.min_val), float(n.max_val)}};
    case Op::sigmoid:
      return {{alg::eltwise_logistic}};
    case Op::silu:
      return {{alg::eltwise_swish, 1.0f}};
    case Op::hardswish:
      return {{alg::eltwise_hardswish}};
    case Op::leaky_relu:
      return {{alg::eltwise_relu, float(n.negative_slope)}};
    case Op::hardsigmoid:
      return {{alg::eltwise_linear, 1.0f / 6, 0.5f}, {alg::eltwise_clip_v2, 0.0f, 1.0f}};
    default:
      throw std::logic_error("eltwise: not an element-wise op");
  }
}

class Eltwise : public Layer {
 public:
  explicit Eltwise(BuildArgs& a) : in_(a.in[0]), out_(&a.out), diff_src_(a.diff_in[0]) {
    Env& e = a.env;
    a.out.dims = in_->dims;
    a.out.desc = in_->desc;
    const md& d = in_->desc;
    const auto prop = a.backward ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    for (const Step& s : forward_steps(a.node)) {
      fwd_pd_.push_back(dnnl::eltwise_forward::primitive_desc({prop, s.a, d, s.alpha, s.beta}, e.eng));
      fwd_.emplace_back(fwd_pd_.back());
    }
    if (!diff_src_) return;
    hardsigmoid_ = a.node.op == Op::hardsigmoid;
    const Step s = forward_steps(a.node).back();
    // hardsigmoid: the clip's gradient from the output, then the linear step's 1/6.
    const alg b = hardsigmoid_ ? alg::eltwise_clip_v2_use_dst_for_bwd : s.a;
    auto hint = hardsigmoid_ ? dnnl::eltwise_forward::primitive_desc({prop, b, d, s.alpha, s.beta}, e.eng)
                             : fwd_pd_.front();
    bwd_ = dnnl::eltwise_backward(
        dnnl::eltwise_backward::primitive_desc({b, d, d, s.alpha, s.beta}, e.eng, hint));
    if (hardsigmoid_) {
      const Step lin = forward_steps(a.node).front();
      auto lin_pd =
          dnnl::eltwise_backward::primitive_desc({lin.a, d, d, lin.alpha, lin.beta}, e.eng, fwd_pd_.front());
      lin_bwd_ = dnnl::eltwise_backward(lin_pd);
      tmp_ = memory(d, e.eng);
    }
    dsrc_.init(e, diff_src_.get_desc(), d);
  }

  void forward(Env& e, bool) override {
    for (size_t i = 0; i < fwd_.size(); ++i)
      fwd_[i].execute(e.s, {{DNNL_ARG_SRC, i == 0 ? in_->data : out_->data}, {DNNL_ARG_DST, out_->data}});
  }

  void backward(Env& e) override {
    if (!diff_src_) return;
    memory dsrc = dsrc_.out(diff_src_);
    if (hardsigmoid_) {
      bwd_.execute(e.s,
                   {{DNNL_ARG_DST, out_->data}, {DNNL_ARG_DIFF_DST, out_->diff}, {DNNL_ARG_DIFF_SRC, tmp_}});
      lin_bwd_.execute(e.s,
                       {{DNNL_ARG_SRC, in_->data}, {DNNL_ARG_DIFF_DST, tmp_}, {DNNL_ARG_DIFF_SRC, dsrc}});
    } else {
      bwd_.execute(e.s,
                   {{DNNL_ARG_SRC, in_->data}, {DNNL_ARG_DIFF_DST, out_->diff}, {DNNL_ARG_DIFF_SRC, dsrc}});
    }
    dsrc_.finish(e, diff_src_);
  }

 private:
  Act* in_;
  Act* out_;
  memory diff_src_, tmp_;
  bool hardsigmoid_ = false;
  std::vector<dnnl::eltwise_forward::primitive_desc> fwd_pd_;
  std::vector<dnnl::eltwise_forward> fwd_;
  dnnl::eltwise_backward bwd_, lin_bwd_;
  Port dsrc_;
};

// dropout: in training, y = x·m/(1−p) with m ~ Bernoulli(1−p) drawn per element and call; the
// identity at inference (and in traces). Backward: dx = dy·m/(1−p). The masks come from a
// generator seeded by the node's name, so a run is reproducible; a resumed run draws new masks.
class Dropout : public Layer {
 public:
  explicit Dropout(BuildArgs& a)
      : in_(a.in[0]),
        out_(&a.out),
        diff_src_(a.diff_in[0]),
        p_(a.node.p),
        rng_(std::hash<std::string>{}(a.node.name)) {
    Env& e = a.env;
    a.out.dims = in_->dims;
    a.out.desc = in_->desc;
    n_ = static_cast<int64_t>(in_->desc.get_size() / sizeof(float));
    mask_.assign(size_t(n_), 1.0f);
    mask_mem_ = memory(in_->desc, e.eng, mask_.data());
    mul_ =
        dnnl::binary(dnnl::binary::primitive_desc({alg::binary_mul, in_->desc, in_->desc, in_->desc}, e.eng));
    copy_ = make_reorder(e, in_->desc, in_->desc);
    if (diff_src_) {
      dsrc_.init(e, diff_src_.get_desc(), in_->desc);
      dmul_ = mul_;
    }
  }

  void forward(Env& e, bool train) override {
    train_ = train && p_ > 0;
    if (!train_) {
      copy_.execute(e.s, in_->data, out_->data);
      return;
    }
    // Padding of a blocked layout holds zeros: any mask value leaves it zero.
    std::bernoulli_distribution keep(1.0 - p_);
    const float scale = float(1.0 / (1.0 - p_));
    for (float& m : mask_) m = keep(rng_) ? scale : 0.0f;
    mul_.execute(e.s, {{DNNL_ARG_SRC_0, in_->data}, {DNNL_ARG_SRC_1, mask_mem_}, {DNNL_ARG_DST, out_->data}});
  }

  void backward(Env& e) override {
    if (!diff_src_) return;
    memory dsrc = dsrc_.out(diff_src_);
    if (train_)
      dmul_.execute(e.s, {{DNNL_ARG_SRC_0, out_->diff}, {DNNL_ARG_SRC_1, mask_mem_}, {DNNL_ARG_DST, dsrc}});
    else
      copy_.execute(e.s, out_->diff, dsrc);
    dsrc_.finish(e, diff_src_);
  }

 private:
  Act* in_;
  Act* out_;
  memory diff_src_, mask_mem_;
  double p_;
  std::mt19937_64 rng_;
  int64_t n_ = 0;
  bool train_ = false;
  std::vector<float> mask_;
  dnnl::binary mul_, dmul_;
  dnnl::reorder copy_;
  Port dsrc_;
};

}  // namespace

std::unique_ptr<Layer> make_eltwise(BuildArgs& a) { return std::make_unique<Eltwise>(a); }
std::unique_ptr<Layer> make_dropout(BuildArgs& a) { return std::make_unique<Dropout>(a); }

}  // namespace eatsim::trainer
