// Quantisation for zero detection and datapath energy (DESIGN.md §6): symmetric per-tensor, the
// scale is max|x| over all samples of the trace, unsigned for non-negative tensors, round half to
// even; fp16 and bf16 round to the nearest half or bfloat16 value (ties to even); fp32 keeps the
// exact values.
#pragma once
#include <cmath>
#include <cstdint>

#include "sim/hwconfig.hpp"

namespace eatsim::sim {

struct Quant {
  DataType type = DataType::fp32;
  double max_abs = 0;      // the tensor's max|x| over all samples
  bool unsigned_ = false;  // the tensor never goes negative: the full code range is >= 0
  double step = 0;         // integer types: value of one code (max_abs / qmax); 0 for float types
  int64_t qmax = 0;        // integer types: the largest code (127, 255, 32767, 65535)
  // Integer types: |x| below zero_lo rounds to code 0, above zero_hi it does not; only values in
  // between (±1e-9 around step/2) need the division that decides it exactly.
  double zero_lo = 0, zero_hi = 0;
};

// A tensor whose max|x| is 0 quantises every value to 0 (step 0): no division, no error.
Quant make_quant(DataType t, double max_abs, bool nonneg);
// The dequantised value x takes on the datapath (x itself for fp32).
float quantise_value(const Quant& q, float x);
// quantise_value(q, x) == 0, without computing the value.
inline bool quantises_to_zero(const Quant& q, float x) {
  switch (q.type) {
    case DataType::fp32:
      return x == 0;
    case DataType::fp16:
      return !(x > 2.98023223876953125e-08f || x < -2.98023223876953125e-08f);  // |x| <= 2^-25
    case DataType::bf16:  // half bf16's smallest subnormal (2^-133) rounds to even, i.e. to 0
      return !(x > 0x1p-134f || x < -0x1p-134f);
    default: {
      if (q.step == 0 || (q.unsigned_ && x < 0)) return true;
      const double a = std::fabs(double(x));
      if (a > q.zero_hi) return false;
      if (a < q.zero_lo) return true;
      return !(a / q.step > 0.5);
    }
  }
}

// Bulk form: nonzero[i] = !quantises_to_zero(q, x[i]) for n values; returns how many are non-zero.
// Float compares the compiler vectorises; only values within 1e-9 of half a step take the exact
// (double) test, so the flags are exactly those of quantises_to_zero.
// `exact`, when given, also receives how many x are != 0 (the fp32 density), from the same pass.
int64_t nonzero_flags(const Quant& q, const float* x, int64_t n, uint8_t* nonzero, int64_t* exact = nullptr);

// quantises_to_zero with the quantisation's fields held by value: in a loop that also stores bytes
// (which may alias anything) they stay in registers instead of being reloaded per element.
struct ZeroTest {
  Quant q;
  explicit ZeroTest(const Quant& quant) : q(quant) {}
  bool operator()(float x) const { return quantises_to_zero(q, x); }
};

}  // namespace eatsim::sim
