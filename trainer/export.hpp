// Trace export: run N samples of a dataset split through a checkpoint in inference mode and write
// a v1 trace (every edge tensor, the weights with BatchNorm unfolded, labels, predictions, and the
// training metadata).
#pragma once
#include <cstdint>
#include <string>

#include "traces/npy.hpp"

namespace eatsim {

struct ExportOptions {
  std::string checkpoint;  // a checkpoint directory, or a run directory holding checkpoint/
  std::string dataset;     // empty: the one the checkpoint was trained on
  std::string split = "test";
  // The user's own inputs instead of a dataset: a float32 .npy of N×C×H×W network inputs (after any
  // normalisation the model expects), and optionally int32/int64 labels of N entries (-1 = unknown
  // when absent). `samples` < 0 takes every row from `first` on.
  std::string inputs, labels;
  int64_t samples = 8, first = 0;
  DType dtype = DType::f32;  // f32 (exact), f16, or i8 (int8/uint8 with per-tensor scales)
  int batch = 64;            // inference batch (memory bound)
  std::string out;
  bool force = false;
  std::string producer = "eatsim trace export";
};

struct ExportSummary {
  int64_t samples = 0, correct = 0, labelled = 0;
  double seconds = 0;
  int64_t bytes = 0;
};

ExportSummary export_trace(const ExportOptions& o);

// The checkpoint directory inside `path` (path itself, or path/checkpoint).
std::string resolve_checkpoint_dir(const std::string& path);

}  // namespace eatsim
