// conv2d and linear as GEMM (DESIGN.md §6): M = output pixels, K = kh·kw·Cin (Cin innermost by
// default), N = output channels. Padding taps are counted as their own class. A grouped conv with G
// groups is G independent GEMMs of the same shape, one per channel slice (Cin/G inputs, N/G outputs):
// the shape below is one group's, and the *_elems / *_macs totals are the whole layer's.
#pragma once
#include <cstdint>
#include <string>

namespace eatsim {
struct Graph;
}

namespace eatsim::sim {

struct GemmShape {
  std::string name;
  int64_t M = 0, K = 0, N = 0;
  // Convolution geometry; a linear layer is a 1x1 conv on a 1x1 image with Cin = in_features.
  // cin: one group's input channels.
  int64_t cin = 0, h = 1, w = 1, ho = 1, wo = 1;
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t groups = 1;
  int64_t pad_pairs = 0;  // (m, k) entries of one group's im2col matrix that fall on padding

  int64_t dense_macs() const { return groups * M * K * N; }
  int64_t pad_macs() const { return groups * pad_pairs * N; }
  int64_t ifmap_elems() const { return groups * cin * h * w; }  // raw input, padding not stored
  int64_t weight_elems() const { return groups * K * N; }
  int64_t out_elems() const { return groups * M * N; }
  // One group's GEMM as a layer of its own (groups = 1).
  GemmShape one_group() const {
    GemmShape g = *this;
    g.groups = 1;
    return g;
  }
};

// Geometry of a conv2d beyond its sizes; the defaults are a plain convolution.
struct ConvGeometry {
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t groups = 1;
};
GemmShape conv_gemm(const std::string& name, int64_t cin, int64_t h, int64_t w, int64_t cout,
                    const ConvGeometry& k);
// An ungrouped, undilated conv.
inline GemmShape conv_gemm(const std::string& name, int64_t cin, int64_t h, int64_t w, int64_t cout, int kh,
                           int kw, int sh, int sw, int ph, int pw) {
  return conv_gemm(name, cin, h, w, cout, ConvGeometry{kh, kw, sh, sw, ph, pw});
}
GemmShape linear_gemm(const std::string& name, int64_t in_features, int64_t out_features);
// The GEMM of a conv2d or linear node (ModelError for other ops).
GemmShape gemm_of(const Graph& g, int node);

// The graph's conv/linear layers as a SCALE-Sim v2 topology CSV, for cross-checking with it. SCALE-Sim
// has no padding and computes the output as ceil((H - R + S) / S), so each layer gets the input
// extent the conv actually reads, (Ho - 1)·S + R: SCALE-Sim then sees the same M, K and N. A grouped
// conv becomes one row per group ("NAME.g0", "NAME.g1", ...), each a layer of its own, as SCALE-Sim
// has no groups; a dilated conv is refused (SCALE-Sim has no dilation).
std::string scalesim_topology(const Graph& g);

}  // namespace eatsim::sim
