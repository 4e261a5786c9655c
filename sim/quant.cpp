// Quantisation: see quant.hpp.
#include "sim/quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace eatsim::sim {

Quant make_quant(DataType t, double max_abs, bool nonneg) {
  Quant q;
  q.type = t, q.max_abs = max_abs, q.unsigned_ = nonneg;
  if (t == DataType::int8 || t == DataType::int16) {
    int bits = datatype_bits(t);
    q.qmax = nonneg ? (int64_t(1) << bits) - 1 : (int64_t(1) << (bits - 1)) - 1;
    q.step = max_abs > 0 ? max_abs / double(q.qmax) : 0;
    q.zero_lo = 0.5 * q.step * (1 - 1e-9), q.zero_hi = 0.5 * q.step * (1 + 1e-9);
  }
  return q;
}

namespace {
// Nearest IEEE half value (round half to even), saturated at the largest finite half.
float to_half(float x) {
  if (x == 0 || !std::isfinite(x)) return x;
  double a = std::fabs(double(x));
  int e;
  std::frexp(a, &e);                // a = f * 2^e, f in [0.5, 1)
  int exp2 = std::max(e - 1, -14);  // half normals from 2^-14; below: subnormal spacing 2^-24
  double step = std::ldexp(1.0, exp2 - 10);
  double v = std::nearbyint(a / step) * step;  // a / step is exact (power of two)
  v = std::min(v, 65504.0);
  return static_cast<float>(x < 0 ? -v : v);
}

// Nearest bfloat16 value (round half to even on the bits; fp32's exponent range, so no saturation
// short of fp32's own largest values).
float to_bf16(float x) {
  if (!std::isfinite(x)) return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}
}  // namespace

float quantise_value(const Quant& q, float x) {
  switch (q.type) {
    case DataType::fp32:
      return x;
    case DataType::fp16:
      return to_half(x);
    case DataType::bf16:
      return to_bf16(x);
    default:
      break;
  }
  if (q.step == 0) return 0.0f;
  double c = std::nearbyint(double(x) / q.step);  // default rounding mode: half to even
  c = std::clamp(c, q.unsigned_ ? 0.0 : -double(q.qmax), double(q.qmax));
  return static_cast<float>(c * q.step);
}

int64_t nonzero_flags(const Quant& q, const float* x, int64_t n, uint8_t* f, int64_t* exact) {
  // Separate simple loops (each vectorises); callers pass cache-sized pieces.
  if (q.type == DataType::fp32) {
    for (int64_t i = 0; i < n; ++i) f[i] = x[i] != 0.0f;
  } else if (q.type == DataType::fp16) {
    for (int64_t i = 0; i < n; ++i) f[i] = std::fabs(x[i]) > 2.98023223876953125e-08f;
  } else if (q.type == DataType::bf16) {
    for (int64_t i = 0; i < n; ++i) f[i] = std::fabs(x[i]) > 0x1p-134f;
  } else if (q.step == 0) {
    for (int64_t i = 0; i < n; ++i) f[i] = 0;
  } else {
    // |x| > hi means |x| > zero_hi, |x| < lo means |x| < zero_lo: decided in float; the rest exactly.
    const float lo = std::nextafter(float(q.zero_lo), 0.0f), hi = std::nextafter(float(q.zero_hi), INFINITY);
    const bool unsigned_ = q.unsigned_;
    int64_t unsure = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float a = std::fabs(x[i]);
      f[i] = (a > hi) & !(unsigned_ & (x[i] < 0.0f));
      unsure += (a >= lo) & (a <= hi);
    }
    if (unsure)
      for (int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) >= lo && std::fabs(x[i]) <= hi) f[i] = !quantises_to_zero(q, x[i]);
  }
  int64_t nz = 0;
  for (int64_t i = 0; i < n; ++i) nz += f[i];
  if (exact) {
    int64_t e = 0;
    for (int64_t i = 0; i < n; ++i) e += x[i] != 0.0f;
    *exact = e;
  }
  return nz;
}

}  // namespace eatsim::sim
