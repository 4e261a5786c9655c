// Value-driven features (issue 9): one scan of a layer's quantised operands gives what gate, skip
// and the functional check need — the zero bitmap per lane group and dataflow, the MAC classes and
// the density statistics. The lane-group stream models (WS FIFOs and reader, OS weight feeds) plug
// into the fold engine as StreamModels. docs/microarchitecture.md explains the rules.
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "sim/engine.hpp"
#include "sim/gemm.hpp"
#include "sim/hwconfig.hpp"
#include "sim/layer_data.hpp"
#include "sim/quant.hpp"
#include "sim/scan.hpp"

namespace eatsim::sim {

struct LayerData;  // sim/layer_data.hpp

// How a layer's weights scan: zero weights per GEMM row k, non-zero counts, and the dequantised
// [K][N] weights when verification asked for them. Weights do not change between samples, so a
// run keeps each layer's scan in a WeightCache.
struct WeightScan {
  const float* src = nullptr;  // the weights scanned
  int64_t n = 0;
  double step = -1;
  DataType type = DataType::fp32;
  bool cin_inner = true, unsigned_ = false;
  std::vector<int64_t> zw;
  int64_t nz_fp32 = 0, nz = 0;                  // non-zero weights before / after quantisation
  std::shared_ptr<const std::vector<float>> w;  // dequantised [K][N], when verification asked for it
};
// One worker's scans, by the layer's graph node, for one simulation run (whose data source hands
// out the same weights for a node at every sample); not shared between threads.
class WeightCache {
 public:
  WeightScan& at(int node) { return scans_[node]; }

 private:
  std::unordered_map<int, WeightScan> scans_;
};

// Quantises the operands and scans them (`keep_values`: also keep the dequantised operands, for
// the functional verification). `cache` and `node`: reuse the weights' scan of an earlier sample.
// Throws ConfigError when a k-tile needs more than 64 lane groups.
std::unique_ptr<SparseLayer> analyse_layer(const HwConfig& hw, const GemmShape& g, const LayerData& d,
                                           bool keep_values = false, WeightCache* cache = nullptr,
                                           int node = -1, const ScanOptions& opts = {});

// Stream models of the skip feature; each steps one clock per advance(1) and jumps a fold's stream
// only when an identical stream (same bitmap) already ran, reusing its outcome — so step() and
// run() agree by construction.
std::unique_ptr<StreamModel> make_skip_stream(const HwConfig& hw, const SparseLayer& s);

// Compressed size in bits of a tensor of `n` elements held as `fmt` (none: n * bits).
struct Compressed {
  int64_t bits = 0, meta_bits = 0;
};
Compressed compressed_size(const float* x, int64_t n, const Quant& q, int elem_bits, const CompressConfig& c);

}  // namespace eatsim::sim
