// Private to the BN layer's sources (batchnorm2d.cpp, bn_nhwc.cpp): the arguments of one kernel
// call and the fused ReLU's gradient, shared by the blocked and the channels-last kernels.
#pragma once
#include <cstdint>

namespace eatsim::trainer {

// Everything one call needs; sc/sh hold the per-channel scale and shift (padded to CB·B): set by a
// training forward from the batch statistics and read back by backward, given for eval.
struct BnArgs {
  const float *x, *gamma, *beta;
  float *y, *mean, *var, *sc, *sh;       // forward
  const float* dy;                       // backward: d(output) (the ReLU's when fused)
  float *dx, *dgamma, *dbeta;            // backward
  float sr = 1, sb = 1, kr = 0, kb = 0;  // σ and 2σ·scale of the ReLU's and the BN's penalty
  bool stats = true;                     // forward: batch statistics (training) or given sc/sh
};

// The gradient reaching the BN output when fused: [z > 0] (dy + kr·z/(z²+σr)²) + kb·z/(z²+σb)².
template <bool PR, bool PB>
inline __attribute__((always_inline)) float relu_grad(float z, float d, float sr, float kr, float sb,
                                                      float kb) {
  float qr = z * z + sr, qb = z * z + sb;
  float g = PR ? d + kr * z / (qr * qr) : d;
  float r = z > 0 ? g : 0.0f;
  return PB ? r + kb * z / (qb * qb) : r;
}

// Channels-last (nhwc, what bf16 convolutions produce): rows = N·H·W pixels of C contiguous
// channels. Threads take whole rows; per-channel sums are per thread, combined in thread order.
struct NhwcBn {
  int64_t rows, C;
  float eps;
};
// Training (a.stats: batch statistics into mean/var/sc/sh) or eval (given sc/sh) forward, with the
// fused ReLU and penalties as flagged; the penalty sums are returned.
void bn_nhwc_forward(const NhwcBn& g, const BnArgs& a, bool relu, bool pr, bool pb, double& sum_r,
                     double& sum_b);
void bn_nhwc_backward(const NhwcBn& g, const BnArgs& a, bool relu, bool pr, bool pb);

}  // namespace eatsim::trainer
