// The Net's parameters and buffers: PyTorch initialisation and the state_dict view.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "base/errors.hpp"
#include "trainer/net_impl.hpp"

namespace eatsim {

using namespace trainer;

void Net::Impl::init_params(uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (Param& p : params) {
    const ParamInfo& in = p.info;
    const Node& n = g.nodes[in.node];
    std::fill(p.value.begin(), p.value.end(), 0.0f);
    if (n.op == Op::batchnorm2d) {
      if (in.kind == ParamKind::weight || in.kind == ParamKind::running_var)
        std::fill(p.value.begin(), p.value.end(), 1.0f);
      continue;
    }
    // PyTorch: kaiming_uniform(a=√5) for weights and U(±1/√fan_in) for biases: both 1/√fan_in.
    int64_t fan_in = n.op == Op::conv2d ? g.in_shape(n, 0)[0] / n.groups * n.kh * n.kw : g.in_shape(n, 0)[0];
    float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in)));
    std::uniform_real_distribution<float> u(-bound, bound);
    for (float& v : p.value) v = u(rng);
  }
}

const std::vector<ParamInfo>& Net::param_info() const { return p_->infos; }

Tensor Net::get(const std::string& key) const {
  Param* q = p_->find(key);
  if (!q) throw DataError(fmt::format("model '{}' has no tensor '{}'", p_->g.name, key));
  Tensor t(q->info.shape);
  if (q->info.is_int64)
    t.data.assign(1, static_cast<float>(q->count));
  else
    t.data = q->value;
  return t;
}

std::map<std::string, Tensor> Net::state() const {
  std::map<std::string, Tensor> s;
  for (const auto& in : p_->infos) s[in.key] = get(in.key);
  return s;
}

void Net::set(const std::string& key, const Tensor& t) {
  Param* q = p_->find(key);
  if (!q) throw DataError(fmt::format("model '{}' has no tensor '{}'", p_->g.name, key));
  if (t.shape != q->info.shape || static_cast<int64_t>(t.data.size()) != numel(q->info.shape))
    throw DataError(fmt::format("tensor '{}' has shape {} but model '{}' expects {}", key, shape_str(t.shape),
                                p_->g.name, shape_str(q->info.shape)));
  if (q->info.is_int64)
    q->count = static_cast<int64_t>(t.data[0]);
  else
    std::copy(t.data.begin(), t.data.end(), q->value.begin());
}

void Net::load_state(const std::map<std::string, Tensor>& s, const std::string& where) {
  for (const auto& in : p_->infos)
    if (!s.count(in.key))
      throw DataError(fmt::format("{}: tensor '{}' is missing (is it from model '{}' with these parameters?)",
                                  where, in.key, p_->g.name));
  for (const auto& [k, t] : s)
    if (!p_->find(k))
      throw DataError(
          fmt::format("{}: tensor '{}' is not part of model '{}' (the state is from another model)", where, k,
                      p_->g.name));
  for (const auto& [k, t] : s) {
    try {
      set(k, t);
    } catch (const DataError& e) {
      throw DataError(where + ": " + e.what());
    }
  }
}

std::vector<ParamRef> Net::trainable() {
  std::vector<ParamRef> out;
  for (Param& q : p_->params)
    if (q.info.trainable)
      out.push_back(ParamRef{&q.info, q.value.data(), q.grad.data(), static_cast<int64_t>(q.value.size())});
  return out;
}

float* Net::param(const std::string& key) {
  Param* q = p_->find(key);
  return q && !q->info.is_int64 ? q->value.data() : nullptr;
}

float* Net::grad(const std::string& key) {
  Param* q = p_->find(key);
  return q && q->info.trainable ? q->grad.data() : nullptr;
}

}  // namespace eatsim
