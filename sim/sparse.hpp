// Value-driven features (issue 9): one scan of a layer's quantised operands gives what gate, skip
// and the functional check need — the zero bitmap per lane group and dataflow, the MAC classes and
// the density statistics. The lane-group stream models (WS FIFOs and reader, OS weight feeds) plug
// into the fold engine as StreamModels. docs/microarchitecture.md explains the rules.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
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

// How a layer's weights scan under one quantisation: zero weights per GEMM row k, non-zero counts,
// and the dequantised [K][N] weights when verification asked for them.
struct WeightScan {
  std::vector<int64_t> zw;
  int64_t nz_fp32 = 0, nz = 0;                  // non-zero weights before / after quantisation
  std::shared_ptr<const std::vector<float>> w;  // dequantised [K][N], when verification asked for it
};
// What a scan depends on: the weights (the layer's node and its array) and the quantisation.
struct WeightKey {
  int node = -1;
  const float* src = nullptr;
  int64_t n = 0;
  double step = 0;
  DataType type = DataType::fp32;
  bool cin_inner = true, unsigned_ = false, keep_values = false;
  bool operator==(const WeightKey& o) const;
};
// Weight scans kept across samples and runs: weights do not change between samples, and a sweep
// simulates one trace at many points (the trace's values own one: TraceData). Entries never change
// once made, so threads share the cache; it holds one entry per layer and quantisation seen.
class WeightCache {
 public:
  std::shared_ptr<const WeightScan> find(const WeightKey& k) const;
  // Keeps `s` unless another thread stored the same key first; returns the entry kept.
  std::shared_ptr<const WeightScan> keep(const WeightKey& k, std::shared_ptr<const WeightScan> s);

 private:
  mutable std::mutex mu_;
  std::unordered_multimap<int, std::pair<WeightKey, std::shared_ptr<const WeightScan>>> scans_;
};

// max |x| over n values; `nonneg`: whether none is negative.
double max_abs_of(const float* x, int64_t n, bool& nonneg);

// Quantises the operands and scans them (`keep_values`: also keep the dequantised operands, for
// the functional verification). `cache` and `node`: reuse the weights' scan of an earlier sample or run.
// Throws ConfigError when a k-tile needs more than 64 lane groups.
// `sizes`: the sample's memo, whose non-zero flags of the input (when its producer's compressed
// size computed them) spare a second pass over the tensor.
class CompressedSizes;
std::unique_ptr<SparseLayer> analyse_layer(const HwConfig& hw, const GemmShape& g, const LayerData& d,
                                           bool keep_values = false, WeightCache* cache = nullptr,
                                           int node = -1, const ScanOptions& opts = {},
                                           CompressedSizes* sizes = nullptr);

// Stream models of the skip feature; each steps one clock per advance(1) and jumps a fold's stream
// only when an identical stream (same bitmap) already ran, reusing its outcome — so step() and
// run() agree by construction.
std::unique_ptr<StreamModel> make_skip_stream(const HwConfig& hw, const SparseLayer& s);

// Compressed size in bits of a tensor of `n` elements held as `fmt` (none: n * bits).
struct Compressed {
  int64_t bits = 0, meta_bits = 0;
};
Compressed compressed_size(const float* x, int64_t n, const Quant& q, int elem_bits, const CompressConfig& c);
// The same from the tensor's non-zero flags.
Compressed compressed_size_of_flags(const uint8_t* nonzero, int64_t n, int elem_bits,
                                    const CompressConfig& c);

// compressed_size, remembered for one sample's run over the network: a tensor is sized as its
// producer's written output, as the next row's input and as a later row's residual operand, with
// the same values and scale each time. Not thread-safe: one per sample.
class CompressedSizes {
 public:
  Compressed get(const float* x, int64_t n, const Quant& q, int elem_bits, const CompressConfig& c);
  // The tensor's non-zero flags under q (nonzero_flags), kept for the sample: computed once for the
  // compressed size of a written tensor, read again by the consumer's scan. Null when not kept.
  // `exact`: the tensor's count of values != 0.
  const std::vector<uint8_t>* flags(const float* x, int64_t n, const Quant& q,
                                    int64_t* exact = nullptr) const;

 private:
  struct Flags {
    const float* x;
    int64_t n;
    DataType type;
    double step;
    bool unsigned_;
    std::vector<uint8_t> f;
    int64_t exact;
  };
  std::unordered_multimap<const float*, Flags> flags_;  // by tensor address
  struct Entry {
    const float* x;
    int64_t n;
    DataType type;
    double step;
    bool unsigned_;
    int elem_bits;
    CompressFormat format;
    int run_bits;
    Compressed size;
  };
  std::unordered_multimap<const float*, Entry> seen_;  // by tensor address (grouped convs: one per slice)
};

}  // namespace eatsim::sim
