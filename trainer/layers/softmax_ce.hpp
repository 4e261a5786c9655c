// Softmax cross-entropy on (N, K) logits, mean over the batch (PyTorch's CrossEntropyLoss).
#pragma once
#include <cstdint>

namespace eatsim::trainer {

// Returns the mean loss; probs (N, K) gets the softmax (for backward); correct counts argmax hits.
// Labels outside [0, K) throw DataError.
double softmax_ce_forward(const float* logits, const int64_t* labels, int64_t N, int64_t K, float* probs,
                          int64_t* correct);
// dlogits (N, K) = (softmax − onehot) / N
void softmax_ce_backward(const float* probs, const int64_t* labels, int64_t N, int64_t K, float* dlogits);

}  // namespace eatsim::trainer
