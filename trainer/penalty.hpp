// The EAT penalty: P = normalised sum of x²/(x²+σ) over chosen node outputs (arXiv 2307.00368),
// its selection (reference | relu | all | LIST) and normalisation (layer-mean | element).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/graph.hpp"

namespace eatsim {

enum class PenaltyNorm { layer_mean, element };

struct PenaltyConfig {
  double lambda = 0.0;               // 0 = standard training (no penalty computed)
  double sigma = 1e-4;               // > 0
  std::string layers = "reference";  // reference | relu | all | comma-separated node names
  PenaltyNorm norm = PenaltyNorm::layer_mean;
};

// "layer-mean" | "element"; throws UsageError otherwise.
PenaltyNorm penalty_norm_from_name(const std::string& s);
const char* penalty_norm_name(PenaltyNorm n);

// Checks λ ≥ 0, σ > 0 and resolves the selection to node indices (graph node order).
// Throws UsageError with one line naming the bad value.
std::vector<int> resolve_penalty(const Graph& g, const PenaltyConfig& c);

// Sum over n values of x²/(x²+σ) (double accumulation).
double penalty_sum(const float* x, int64_t n, float sigma);
// dx[i] += scale · 2·x·σ/(x²+σ)²
void penalty_grad_add(const float* x, float* dx, int64_t n, float sigma, float scale);

}  // namespace eatsim
