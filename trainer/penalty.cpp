// EAT penalty: selection, validation and the two element kernels (value and gradient).
#include "trainer/penalty.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/errors.hpp"
#include "trainer/layers/layer.hpp"

namespace eatsim {

PenaltyNorm penalty_norm_from_name(const std::string& s) {
  if (s == "layer-mean") return PenaltyNorm::layer_mean;
  if (s == "element") return PenaltyNorm::element;
  throw UsageError("--penalty-norm: unknown normalisation '" + s + "' (use layer-mean or element)");
}

const char* penalty_norm_name(PenaltyNorm n) {
  return n == PenaltyNorm::layer_mean ? "layer-mean" : "element";
}

std::vector<int> resolve_penalty(const Graph& g, const PenaltyConfig& c) {
  if (!(c.lambda >= 0) || !std::isfinite(c.lambda))
    throw UsageError(
        fmt::format("--lambda: {} is not valid (λ must be ≥ 0; 0 is standard training)", c.lambda));
  if (!(c.sigma > 0) || !std::isfinite(c.sigma))
    throw UsageError(fmt::format("--sigma: {} is not valid (σ must be > 0, e.g. 1e-4)", c.sigma));
  std::vector<int> out;
  const auto& nodes = g.nodes;
  if (c.layers == "reference" || c.layers == "relu" || c.layers == "all" || c.layers == "activations") {
    for (size_t i = 0; i < nodes.size(); ++i) {
      bool take = c.layers == "all" || (c.layers == "reference"     ? nodes[i].module
                                        : c.layers == "activations" ? is_activation(nodes[i].op)
                                                                    : nodes[i].op == Op::relu);
      if (take) out.push_back(static_cast<int>(i));
    }
    if (out.empty() && c.lambda > 0)
      throw UsageError(
          fmt::format("--penalty-layers: '{}' selects no node of model '{}' (give a list of node names)",
                      c.layers, g.name));
    return out;
  }
  std::vector<bool> seen(nodes.size(), false);
  size_t start = 0;
  for (;;) {
    size_t comma = c.layers.find(',', start);
    std::string name = c.layers.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (name.empty())
      throw UsageError(fmt::format(
          "--penalty-layers: empty name in '{}' (use reference, relu, activations, all or a comma list "
          "of node names)",
          c.layers));
    int idx = g.find(name);
    if (idx < 0)
      throw UsageError(
          fmt::format("--penalty-layers: model '{}' has no node '{}' (see `eatsim model show {}` for "
                      "node names)",
                      g.name, name, g.name));
    if (!seen[idx]) out.push_back(idx), seen[idx] = true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Blocks of float SIMD partial sums, added in double: exact enough for millions of elements. The
// block kernels are also compiled for AVX-512 and AVX2 (chosen at load time): the divisions are
// scalar or 4-wide in the baseline build.
constexpr int64_t kBlock = 4096;

namespace {

EATSIM_SIMD_CLONES float sum_block(const float* x, int64_t n, float sigma) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i] * x[i];
    s += v / (v + sigma);
  }
  return s;
}

EATSIM_SIMD_CLONES void grad_block(const float* x, float* dx, int64_t n, float sigma, float k) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float d = x[i] * x[i] + sigma;
    dx[i] += k * x[i] / (d * d);
  }
}

}  // namespace

double penalty_sum(const float* x, int64_t n, float sigma) {
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t b = 0; b < n; b += kBlock) total += sum_block(x + b, std::min(n, b + kBlock) - b, sigma);
  return total;
}

void penalty_grad_add(const float* x, float* dx, int64_t n, float sigma, float scale) {
  float k = 2.0f * sigma * scale;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; b += kBlock) grad_block(x + b, dx + b, std::min(n, b + kBlock) - b, sigma, k);
}

}  // namespace eatsim
