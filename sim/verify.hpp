// Functional verification (DESIGN.md §6, `--check`): the engine's accumulation along the schedule it produced
// — per lane group partial sums merged by re-alignment (WS), per-PE sums over the non-skipped k (OS),
// compacted folds (IS) — on the dequantised operands, against a reference GEMM on the same operands.
#pragma once
#include "sim/layer_data.hpp"
#include "sim/sparse.hpp"

namespace eatsim::sim {

// Throws NumericError naming the layer and the worst output element when the engine's sums leave
// the float tolerance ((K + 2)·2^-23·Σ|a·w| per output, the recursive-summation bound). Reports
// the quantisation error against the recorded fp32 output when `d.output` is given.
VerifyStats verify_layer(const HwConfig& hw, const SparseLayer& s, const LayerData& d);

}  // namespace eatsim::sim
