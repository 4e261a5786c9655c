// Softmax cross-entropy, forward and backward side by side; computed in double per row.
#include "trainer/layers/softmax_ce.hpp"

#include <cmath>
#include <string>

#include "base/errors.hpp"

namespace eatsim::trainer {

double softmax_ce_forward(const float* logits, const int64_t* labels, int64_t N, int64_t K, float* probs,
                          int64_t* correct) {
  double total = 0;
  int64_t hits = 0;
  for (int64_t i = 0; i < N; ++i) {
    const float* z = logits + i * K;  // (K)
    int64_t y = labels[i];
    if (y < 0 || y >= K)
      throw DataError("label " + std::to_string(y) + " of sample " + std::to_string(i) + " is outside [0, " +
                      std::to_string(K) + ") (does the model's 'classes' match the data set?)");
    int64_t arg = 0;
    for (int64_t k = 1; k < K; ++k)
      if (z[k] > z[arg]) arg = k;
    double mx = z[arg], sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(z[k]) - mx);
    for (int64_t k = 0; k < K; ++k) probs[i * K + k] = static_cast<float>(std::exp(z[k] - mx) / sum);
    total += std::log(sum) - (z[y] - mx);
    hits += arg == y;
  }
  if (correct) *correct = hits;
  return total / N;
}

void softmax_ce_backward(const float* probs, const int64_t* labels, int64_t N, int64_t K, float* dlogits) {
  float inv = 1.0f / static_cast<float>(N);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t k = 0; k < K; ++k)
      dlogits[i * K + k] = (probs[i * K + k] - (k == labels[i] ? 1.0f : 0.0f)) * inv;
}

}  // namespace eatsim::trainer
