// ONNX import: an exported CNN (ONNX protobuf, read with Debian's libonnx) as an eatsim graph plus
// its initializers in the trainer's checkpoint layout (state_dict keys of the graph). What is
// supported and how each ONNX op maps is in docs/onnx.md. This header stays free of protobuf.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/graph.hpp"

namespace eatsim {

struct OnnxImportOptions {
  // N,C,H,W (or N,F) for an input whose file shape has symbolic or missing dimensions; a given
  // dimension must agree with the file's where the file fixes it (0: keep the file's; the batch
  // dimension is free). Empty: the file's shape.
  std::vector<int64_t> input_shape;
  bool weights = true;  // false: shapes only (model show, sim --model); initializer data is not read
  std::string name;     // graph name (default: the file's stem; PyTorch names every graph torch_jit)
};

struct ImportedTensor {
  std::string key;  // state_dict key of the graph (e.g. "layer1.0.conv1.weight")
  Shape shape;
  bool is_int64 = false;   // num_batches_tracked
  std::vector<float> f32;  // numel(shape) values unless is_int64
  std::vector<int64_t> i64;
};

struct ImportedModel {
  Graph graph;                          // parsed back from `yaml` (shapes inferred, validated)
  std::string yaml;                     // the graph in the model-file format
  std::vector<ImportedTensor> tensors;  // every key of graph.parameters(), in that order (weights only)
  int file_opset = 0;                   // the file's default-domain opset
  int opset = 0;                        // the opset imported (older files are converted to 11)
  std::vector<std::string> notes;       // what the import changed: folded Pads, fused SiLUs, ...
};

// Reads MODEL.onnx. Every problem is an eatsim::Error (exit code 2) naming the file and the node:
// not a model, a truncated file, an opset above 17, every unsupported op (all listed), dynamic
// input dimensions without input_shape, a missing or escaping external-data file, a tensor whose
// claimed size does not match its data. Memory stays proportional to the data the file holds.
ImportedModel import_onnx(const std::string& path, const OnnxImportOptions& o = {});

// A TensorProto file (.pb, as in ONNX's backend test data) as float32: values and shape.
std::vector<float> read_onnx_tensor(const std::string& path, Shape* shape);

// The ONNX op types the import maps (docs/onnx.md), sorted.
const std::vector<std::string>& onnx_supported_ops();

// Lowest and highest default-domain opsets imported directly.
constexpr int kOnnxMinOpset = 11, kOnnxMaxOpset = 17;

}  // namespace eatsim
