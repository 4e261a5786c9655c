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
#include "sim/quant.hpp"

namespace eatsim::sim {

struct LayerData;

// One layer, one sample, after quantisation.
struct SparseLayer {
  GemmShape g;
  Dataflow df = Dataflow::ws;
  int R = 0, C = 0;
  int G = 0;             // lane-group size (WS: rows, OS: pixel rows); R when skip is off
  bool skip = false;     // skip on: zero groups leave the stream
  Quant qa, qw;          // the input's and the weights' quantisation
  std::vector<float> a;  // dequantised input, (H, W, Cin)
  std::shared_ptr<const std::vector<float>> w;  // dequantised weights, [K][N], K in K order (check only)
  // WS: bit g of ws_mask[kt * M + m] = group g of k-tile kt has work for pixel m.
  std::vector<uint64_t> ws_mask;
  // OS: os_keep[(mt * ngroups + g) * K + k] = group g of m-tile mt has work at k; os_count its sum.
  std::vector<uint8_t> os_keep;
  std::vector<int64_t> os_count;
  int os_groups = 0;
  // IS: per m-tile, the K rows with a non-zero (or padding) input, in order (compacted folds).
  std::vector<std::vector<int32_t>> is_rows;
  // Layer totals (one sample).
  int64_t pad_entries = 0;       // (m, k) entries on padding
  int64_t zero_entries = 0;      // (m, k) entries with a zero activation, padding excluded
  int64_t skipped_entries = 0;   // (m, k) entries removed by skip (each costs N MACs)
  int64_t zero_weight_macs = 0;  // Σ over non-zero, non-pad (m, k) of the zero weights in row k
  int64_t mac_nonzero = 0, gslices = 0, gslices_zero = 0;
  int64_t act_elems = 0, act_nonzero_fp32 = 0, act_nonzero = 0;
  int64_t weight_elems = 0, weight_nonzero_fp32 = 0, weight_nonzero = 0;
};

// Quantises the operands and scans them (`keep_values`: also keep the dequantised operands, for
// the functional check). Throws ConfigError when a k-tile needs more than 64 lane groups.
std::unique_ptr<SparseLayer> analyse_layer(const HwConfig& hw, const GemmShape& g, const LayerData& d,
                                           bool keep_values = false);

// Stream models of the skip feature; each steps one clock per advance(1) and jumps a fold's stream
// only when an identical stream (same bitmap) already ran, reusing its outcome — so step() and
// run() agree by construction.
std::unique_ptr<StreamModel> make_skip_stream(const HwConfig& hw, const SparseLayer& s);

// Compressed size in bits of a tensor of `n` elements held as `fmt` (none: n * bits).
struct Compressed {
  int64_t bits = 0, meta_bits = 0;
};
Compressed compressed_size(const float* x, int64_t n, const Quant& q, int elem_bits, const CompressConfig& c);

namespace testing {
// Test-only: perturbs the WS skip rule (a G-slice with exactly one non-zero counts as empty), so a
// regression test can prove that the functional check and `eatsim check` catch a changed rule.
void set_skip_rule_perturbed(bool on);
bool skip_rule_perturbed();
// Test-only: forces the generic per-entry scan where the WS fast path would run (to compare them).
void set_generic_scan(bool on);
bool generic_scan();
}  // namespace testing

}  // namespace eatsim::sim
