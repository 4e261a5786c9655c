// Value carriers between a data source and the simulator: the operand values of one layer for one
// sample, and what the functional verification found. Plain values; no simulator behaviour.
#pragma once
#include <cstdint>
#include <vector>

namespace eatsim::sim {

// A tensor a row writes back or reads as a residual operand (compress sizes it from its values).
struct WrittenTensor {
  const float* data = nullptr;
  int64_t elems = 0;
  double max_abs = 0;  // over all samples
  bool nonneg = false;
};

// Operand values of one layer for one sample, read by gate, skip, compress and the functional
// check. Null pointers: values unknown.
struct LayerData {
  const float* ifmap = nullptr;    // (Cin, H, W)
  const float* weights = nullptr;  // (Cout, Cin, kh, kw) or (out, in)
  const float* bias = nullptr;     // (Cout), or null
  const float* output = nullptr;   // the GEMM node's recorded fp32 output (Cout, Ho, Wo), or null
  // Quantisation scales come from max|x| over all samples of the trace; < 0: this sample's.
  double ifmap_max_abs = -1, weight_max_abs = -1;
  bool ifmap_nonneg = false, weights_nonneg = false;
  std::vector<WrittenTensor> written;    // the row's written-back tensors (LayerGroup::out_nodes)
  std::vector<WrittenTensor> residuals;  // the row's residual operands (LayerGroup::residual_nodes)
};

// What the functional check found for one layer and sample.
struct VerifyStats {
  bool ran = false;
  double worst_ratio = 0;    // max over outputs of |engine - reference| / tolerance (must be <= 1)
  double quant_err_max = 0;  // max |engine + bias - recorded fp32 output|
  double quant_err_rel = 0;  // quant_err_max / max |recorded output|
  double ifmap_scale = 0, weight_scale = 0;  // max|x| each tensor was quantised with
};

// What the scan of a layer's values found for one sample (sim/sparse.hpp): the MAC classes and
// densities the engine's counters are finished with.
struct ScanTotals {
  int64_t pad_entries = 0;       // (m, k) entries on padding
  int64_t zero_entries = 0;      // (m, k) entries with a zero activation, padding excluded
  int64_t skipped_entries = 0;   // (m, k) entries removed by skip (each costs N MACs)
  int64_t zero_weight_macs = 0;  // Σ over non-zero, non-pad (m, k) of the zero weights in row k
  int64_t mac_nonzero = 0, gslices = 0, gslices_zero = 0;
  int64_t act_elems = 0, act_nonzero_fp32 = 0, act_nonzero = 0;
  int64_t weight_elems = 0, weight_nonzero_fp32 = 0, weight_nonzero = 0;
};

}  // namespace eatsim::sim
