// Non-zero counting for the sponge estimator: see census.hpp.
#include "sim/estimator/census.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/errors.hpp"
#include "traces/trace.hpp"

namespace eatsim::sponge {

double nonzero_threshold(int bits) {
  switch (bits) {
    case 32:
      return std::ldexp(1.0, -126);
    case 16:
      return std::ldexp(1.0, -30);
    case 8:
      return std::ldexp(1.0, -14);
  }
  throw UsageError(fmt::format("--bits {}: the estimator knows 32, 16 and 8 bit thresholds", bits));
}

int64_t ActCounts::nnz_sum(int64_t first, int64_t count) const {
  int64_t s = 0;
  for (int64_t i = first; i < first + count; ++i) s += nnz[static_cast<size_t>(i)];
  return s;
}

namespace {

int64_t count_nnz(const float* x, int64_t n, double thr, double scale = 1.0) {
  if (scale == 1.0) return count_nonzero(x, n, thr);
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) k += std::fabs(static_cast<double>(x[i]) * scale) > thr;
  return k;
}

}  // namespace

int64_t count_nonzero(const float* x, int64_t n, double threshold) {
  // Every threshold is a power of two >= 2^-126, exactly representable in float.
  const float t = static_cast<float>(threshold);
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) k += std::fabs(x[i]) > t;
  return k;
}

CensusBuilder::CensusBuilder(const Graph& g, int bits) : thr_(nonzero_threshold(bits)) {
  c_.graph = g;
  c_.bits = bits;
  c_.input.numel = numel(g.input_shape);
  c_.nodes.resize(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) c_.nodes[i].numel = numel(g.nodes[i].out_shape);
}

void CensusBuilder::add_activation(int node, const float* data, int64_t samples) {
  if (node < -1 || node >= static_cast<int>(c_.nodes.size()))
    throw UsageError(fmt::format("sponge: node index {} is not in graph {}", node, c_.graph.name));
  ActCounts& a = node < 0 ? c_.input : c_.nodes[node];
  for (int64_t s = 0; s < samples; ++s) a.nnz.push_back(count_nnz(data + s * a.numel, a.numel, thr_));
}

void CensusBuilder::add_counts(int node, const int64_t* nnz, int64_t samples) {
  if (node < -1 || node >= static_cast<int>(c_.nodes.size()))
    throw UsageError(fmt::format("sponge: node index {} is not in graph {}", node, c_.graph.name));
  ActCounts& a = node < 0 ? c_.input : c_.nodes[node];
  for (int64_t s = 0; s < samples; ++s) {
    if (nnz[s] < 0 || nnz[s] > a.numel)
      throw UsageError(fmt::format("sponge: {} non-zeros in a tensor of {} elements", nnz[s], a.numel));
    a.nnz.push_back(nnz[s]);
  }
}

void CensusBuilder::add_activation(const std::string& name, const float* data, int64_t samples) {
  int node = name == "input" ? -1 : c_.graph.find(name);
  if (name != "input" && node < 0)
    throw UsageError(fmt::format("sponge: no node '{}' in graph {}", name, c_.graph.name));
  add_activation(node, data, samples);
}

void CensusBuilder::check_param(const std::string& key, int64_t n) const {
  for (const auto& p : c_.graph.parameters())
    if (p.key == key) {
      if (numel(p.shape) != n)
        throw UsageError(fmt::format("sponge: parameter '{}' has {} elements, the graph gives {}", key, n,
                                     numel(p.shape)));
      return;
    }
  throw UsageError(fmt::format("sponge: '{}' is not a parameter of graph {}", key, c_.graph.name));
}

void CensusBuilder::set_param(const std::string& key, const float* data, int64_t n) {
  check_param(key, n);
  c_.params[key] = {n, count_nnz(data, n, thr_)};
}

void CensusBuilder::set_param_i64(const std::string& key, const int64_t* data, int64_t n) {
  check_param(key, n);
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) k += std::fabs(static_cast<double>(data[i])) > thr_;
  c_.params[key] = {n, k};
}

void CensusBuilder::set_param_counts(const std::string& key, int64_t n, int64_t nnz) {
  check_param(key, n);
  if (nnz < 0 || nnz > n) throw UsageError(fmt::format("sponge: '{}': {} non-zeros of {}", key, nnz, n));
  c_.params[key] = {n, nnz};
}

Census CensusBuilder::finish() const {
  std::vector<std::string> errs;
  size_t n = c_.input.nnz.size();
  if (n == 0) errs.push_back("sponge: no samples of the graph input were given");
  for (size_t i = 0; i < c_.nodes.size(); ++i)
    if (c_.nodes[i].nnz.size() != n)
      errs.push_back(fmt::format("sponge: node '{}' has {} samples, the input has {}", c_.graph.nodes[i].name,
                                 c_.nodes[i].nnz.size(), n));
  for (const auto& p : c_.graph.parameters())
    if (!c_.params.count(p.key)) errs.push_back(fmt::format("sponge: parameter '{}' was not given", p.key));
  if (!errs.empty()) throw UsageError(errs);
  return c_;
}

Census census_from_trace(const TraceReader& r, int bits) {
  double thr = nonzero_threshold(bits);
  const Graph& g = r.graph();
  Census c;
  c.graph = g;
  c.bits = bits;
  int64_t n = r.manifest().num_samples();
  std::vector<float> buf;
  auto count_act = [&](const std::string& name, ActCounts& a) {
    const TensorEntry* e = r.manifest().find(name);
    if (!e) throw TraceError(fmt::format("{}/trace.yaml: no tensor '{}'", r.dir(), name));
    NpyReader rd(r.path_of(*e));
    a.numel = rd.info().numel() / n;
    a.nnz.assign(static_cast<size_t>(n), 0);
    buf.resize(static_cast<size_t>(a.numel));
    double scale = e->scale != 0 ? e->scale : 1.0;
    for (int64_t s = 0; s < n; ++s) {
      rd.read_f32(buf.data(), a.numel);
      a.nnz[static_cast<size_t>(s)] = count_nnz(buf.data(), a.numel, thr, scale);
    }
  };
  count_act("input", c.input);
  c.nodes.resize(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) count_act(g.nodes[i].name, c.nodes[i]);
  for (const auto& p : g.parameters()) {
    const TensorEntry* e = r.manifest().find(p.key);
    if (!e) throw TraceError(fmt::format("{}/trace.yaml: no tensor '{}'", r.dir(), p.key));
    ParamCounts pc;
    if (e->dtype == DType::i64) {
      std::vector<int64_t> v = npy_load_i64(r.path_of(*e));
      pc.numel = static_cast<int64_t>(v.size());
      for (int64_t x : v) pc.nnz += std::fabs(static_cast<double>(x)) > thr;
    } else {
      std::vector<float> v = r.load(p.key);  // dequantised
      pc.numel = static_cast<int64_t>(v.size());
      pc.nnz = count_nnz(v.data(), pc.numel, thr);
    }
    c.params[p.key] = pc;
  }
  return c;
}

}  // namespace eatsim::sponge
