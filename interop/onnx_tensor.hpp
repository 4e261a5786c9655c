// ONNX TensorProto data as plain vectors (inline data and external-data files), with every size
// checked against what the file really holds before anything is allocated. Internal to interop/.
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "models/graph.hpp"

namespace eatsim::onnxio {

// The tensor's dimensions; a negative or overflowing one is a ModelError naming `where`.
Shape dims(const onnx::TensorProto& t, const std::string& where);

// Values as float (FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT32, INT64) or int64 (INT32, INT64).
// External data is read from `model_dir`; a location that is absolute or leaves that directory,
// a missing file, or data shorter than the claimed size is a ModelError naming `where`.
std::vector<float> as_f32(const onnx::TensorProto& t, const std::string& model_dir, const std::string& where);
std::vector<int64_t> as_i64(const onnx::TensorProto& t, const std::string& model_dir,
                            const std::string& where);

// The same checks as as_f32 without reading the values: the data the tensor holds (inline, or
// its external file's size) covers what its shape claims.
void check_size(const onnx::TensorProto& t, const std::string& model_dir, const std::string& where);

const char* type_name(int32_t data_type);

}  // namespace eatsim::onnxio
