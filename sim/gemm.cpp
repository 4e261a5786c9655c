// GEMM view of conv/linear layers and the closed-form count of padding taps.
#include "sim/gemm.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "base/errors.hpp"
#include "models/graph.hpp"

namespace eatsim::sim {
namespace {
// Σ over output positions of the kernel taps that land inside the input, along one axis (taps at
// o·s − p + t·d for t < k).
int64_t valid_taps(int64_t in, int64_t out, int k, int s, int p, int d) {
  int64_t n = 0;
  for (int64_t o = 0; o < out; ++o)
    for (int t = 0; t < k; ++t) {
      int64_t i = o * s - p + int64_t(t) * d;
      n += i >= 0 && i < in;
    }
  return n;
}
}  // namespace

GemmShape conv_gemm(const std::string& name, int64_t cin, int64_t h, int64_t w, int64_t cout,
                    const ConvGeometry& k) {
  GemmShape g;
  g.name = name;
  g.h = h, g.w = w, g.kh = k.kh, g.kw = k.kw, g.sh = k.sh, g.sw = k.sw, g.ph = k.ph, g.pw = k.pw;
  g.dh = k.dh, g.dw = k.dw, g.groups = k.groups;
  const int64_t ekh = int64_t(k.dh) * (k.kh - 1) + 1, ekw = int64_t(k.dw) * (k.kw - 1) + 1;
  g.ho = (h + 2 * k.ph - ekh) / k.sh + 1;
  g.wo = (w + 2 * k.pw - ekw) / k.sw + 1;
  if (g.ho < 1 || g.wo < 1 || cin < 1 || cout < 1 || k.groups < 1 || cin % k.groups || cout % k.groups)
    throw ModelError(
        fmt::format("{}: conv of {}x{}x{} with kernel {}x{} (dilation {}x{}, {} groups) gives no output",
                    name, cin, h, w, k.kh, k.kw, k.dh, k.dw, k.groups));
  g.cin = cin / k.groups;
  g.M = g.ho * g.wo;
  g.K = int64_t(k.kh) * k.kw * g.cin;
  g.N = cout / k.groups;
  int64_t valid = valid_taps(h, g.ho, k.kh, k.sh, k.ph, k.dh) * valid_taps(w, g.wo, k.kw, k.sw, k.pw, k.dw);
  g.pad_pairs = (g.M * k.kh * k.kw - valid) * g.cin;
  return g;
}

GemmShape linear_gemm(const std::string& name, int64_t in_features, int64_t out_features) {
  return conv_gemm(name, in_features, 1, 1, out_features, ConvGeometry{});
}

GemmShape gemm_of(const Graph& g, int node) {
  const Node& n = g.nodes[node];
  const Shape& in = g.in_shape(n, 0);
  if (n.op == Op::conv2d)
    return conv_gemm(n.name, in[0], in[1], in[2], n.out_channels,
                     ConvGeometry{n.kh, n.kw, n.sh, n.sw, n.ph, n.pw, n.dh, n.dw, n.groups});
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
    if (s.dh != 1 || s.dw != 1)
      throw ModelError(
          fmt::format("{}: SCALE-Sim has no dilation; this layer is dilated {}x{}", n.name, s.dh, s.dw));
    for (int64_t grp = 0; grp < s.groups; ++grp)
      out += fmt::format("{}{}, {}, {}, {}, {}, {}, {}, {},\n", n.name,
                         s.groups > 1 ? fmt::format(".g{}", grp) : "", (s.ho - 1) * s.sh + s.kh,
                         (s.wo - 1) * s.sw + s.kw, s.kh, s.kw, s.cin, s.N, s.sh);
  }
  return out;
}

}  // namespace eatsim::sim
