// Shared pieces of the oneDNN layers: plain layouts, layout ports, the factory by op.
#include "trainer/layers/layer.hpp"

#include <chrono>
#include <stdexcept>

namespace eatsim::trainer {

md plain_desc(const Shape& dims) {
  static const tag tags[] = {tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
  if (dims.empty() || dims.size() > 5) throw std::logic_error("plain_desc: unsupported rank");
  return md(to_dims(dims), dt::f32, tags[dims.size() - 1]);
}

dnnl::reorder make_reorder(Env& e, const md& from, const md& to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(e.eng, from, e.eng, to));
}

void Port::init(Env& e, const md& user, const md& prim, std::vector<memory>* shared) {
  convert_ = !(user == prim);
  if (!convert_) return;
  if (shared) {
    buf_ = memory(prim, e.eng, DNNL_MEMORY_NONE);
    shared->push_back(buf_);
  } else {
    buf_ = memory(prim, e.eng);
  }
  to_prim_ = make_reorder(e, user, prim);
  from_prim_ = make_reorder(e, prim, user);
}

WeightMems::WeightMems(BuildArgs& a, const md& w_user) {
  Param& wp = a.param("weight");
  w = memory(w_user, a.env.eng, wp.value.data());
  dw = memory(w_user, a.env.eng, wp.grad.data());
  if (!a.node.bias) return;
  Param& bp = a.param("bias");
  b_md = md({a.node.out_channels}, dt::f32, tag::x);
  b = memory(b_md, a.env.eng, bp.value.data());
  db = memory(b_md, a.env.eng, bp.grad.data());
}

namespace {

// Runs a conversion, timing it when profiling.
void convert(Env& e, dnnl::reorder& r, memory& from, memory& to) {
  if (!e.reorder_s) return r.execute(e.s, from, to);
  e.s.wait();
  auto t0 = std::chrono::steady_clock::now();
  r.execute(e.s, from, to);
  e.s.wait();
  *e.reorder_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

memory Port::in(Env& e, memory user) {
  if (!convert_) return user;
  convert(e, to_prim_, user, buf_);
  return buf_;
}

void Port::finish(Env& e, memory user) {
  if (convert_) convert(e, from_prim_, buf_, user);
}

std::unique_ptr<Layer> make_layer(BuildArgs& a) {
  switch (a.node.op) {
    case Op::conv2d:
      return make_conv2d(a);
    case Op::batchnorm2d:
      return make_batchnorm2d(a);
    case Op::relu:
      return make_relu(a);
    case Op::maxpool2d:
    case Op::avgpool2d:
    case Op::global_avgpool:
      return make_pool2d(a);
    case Op::linear:
      return make_linear(a);
    case Op::add:
      return make_add(a);
    case Op::flatten:
      return make_flatten(a);
    case Op::identity:
      return make_identity(a);
    case Op::dropout:
      return make_dropout(a);
    case Op::mul:
      return make_mul(a);
    case Op::concat:
      return make_concat(a);
    default:
      if (is_activation(a.node.op)) return make_eltwise(a);  // relu6, sigmoid, ...
  }
  throw std::logic_error("make_layer: unknown op");
}

}  // namespace eatsim::trainer
