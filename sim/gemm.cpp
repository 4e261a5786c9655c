// GEMM view of conv/linear layers and the closed-form count of padding taps.
#include "sim/gemm.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "base/errors.hpp"
#include "models/graph.hpp"

namespace eatsim::sim {
namespace {
// Σ over output positions of the kernel taps that land inside the input, along one axis.
int64_t valid_taps(int64_t in, int64_t out, int k, int s, int p) {
  int64_t n = 0;
  for (int64_t o = 0; o < out; ++o) {
    int64_t lo = o * s - p, hi = lo + k;  // input rows [lo, hi)
    n += std::max<int64_t>(0, std::min(hi, in) - std::max<int64_t>(lo, 0));
  }
  return n;
}
}  // namespace

GemmShape conv_gemm(const std::string& name, int64_t cin, int64_t h, int64_t w, int64_t cout, int kh, int kw,
                    int sh, int sw, int ph, int pw) {
  GemmShape g;
  g.name = name;
  g.cin = cin, g.h = h, g.w = w, g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw;
  g.ho = (h + 2 * ph - kh) / sh + 1;
  g.wo = (w + 2 * pw - kw) / sw + 1;
  if (g.ho < 1 || g.wo < 1 || cin < 1 || cout < 1)
    throw ModelError(
        fmt::format("{}: conv of {}x{}x{} with kernel {}x{} gives no output", name, cin, h, w, kh, kw));
  g.M = g.ho * g.wo;
  g.K = int64_t(kh) * kw * cin;
  g.N = cout;
  int64_t valid = valid_taps(h, g.ho, kh, sh, ph) * valid_taps(w, g.wo, kw, sw, pw);
  g.pad_pairs = (g.M * kh * kw - valid) * cin;
  return g;
}

GemmShape linear_gemm(const std::string& name, int64_t in_features, int64_t out_features) {
  GemmShape g = conv_gemm(name, in_features, 1, 1, out_features, 1, 1, 1, 1, 0, 0);
  return g;
}

GemmShape gemm_of(const Graph& g, int node) {
  const Node& n = g.nodes[node];
  const Shape& in = g.in_shape(n, 0);
  if (n.op == Op::conv2d)
    return conv_gemm(n.name, in[0], in[1], in[2], n.out_channels, n.kh, n.kw, n.sh, n.sw, n.ph, n.pw);
  if (n.op == Op::linear) return linear_gemm(n.name, numel(in), n.out_channels);
  throw ModelError(
      fmt::format("{}: {} does not run on the array (only conv2d and linear do)", n.name, op_name(n.op)));
}

std::string scalesim_topology(const Graph& g) {
  std::string out =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";
  for (int i : g.order) {
    const Node& n = g.nodes[i];
    if (n.op != Op::conv2d && n.op != Op::linear) continue;
    GemmShape s = gemm_of(g, i);
    if (s.sh != s.sw)
      throw ModelError(
          fmt::format("{}: SCALE-Sim takes one stride; this layer has {}x{}", n.name, s.sh, s.sw));
    out += fmt::format("{}, {}, {}, {}, {}, {}, {}, {},\n", n.name, (s.ho - 1) * s.sh + s.kh,
                       (s.wo - 1) * s.sw + s.kw, s.kh, s.kw, s.cin, s.N, s.sh);
  }
  return out;
}

}  // namespace eatsim::sim
