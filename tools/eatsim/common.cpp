// Option groups shared by several subcommands.
#include <fmt/format.h>

#include <cstdio>

#include "base/errors.hpp"
#include "interop/onnx_import.hpp"
#include "models/graph.hpp"
#include "tools/eatsim/command.hpp"
#include "traces/npy.hpp"

namespace eatsim::cli {

void add_model_options(po::options_description& opts) {
  opts.add_options()("width", po::value<double>(),
                     "width multiplier for every channel count (default: the model's)")(
      "in-channels", po::value<int>(), "input channels (default: the model's)")(
      "input-size", po::value<std::string>(), "input size S (square) or HxW (default: the model's)")(
      "classes", po::value<int>(), "number of classes (default: the model's)");
}

ParamOverrides model_overrides(const po::variables_map& vm) {
  ParamOverrides o;
  if (vm.count("width")) o.has_width = true, o.p.width = vm["width"].as<double>();
  if (vm.count("in-channels")) o.has_in_channels = true, o.p.in_channels = vm["in-channels"].as<int>();
  if (vm.count("input-size")) {
    const std::string s = vm["input-size"].as<std::string>();
    int h = 0, w = 0;
    char x = 0, extra = 0;
    int got = std::sscanf(s.c_str(), "%d%c%d%c", &h, &x, &w, &extra);
    if (got == 1) w = h;
    if (!((got == 1 || (got == 3 && (x == 'x' || x == 'X' || x == ','))) && h > 0 && w > 0))
      throw UsageError(
          fmt::format("--input-size {}: expected a positive size S or HxW (e.g. 32 or 224x160)", s));
    o.has_input_size = true, o.p.input_h = h, o.p.input_w = w;
  }
  if (vm.count("classes")) o.has_classes = true, o.p.classes = vm["classes"].as<int>();
  return o;
}

bool is_onnx_path(const std::string& model) {
  return model.size() > 5 && model.compare(model.size() - 5, 5, ".onnx") == 0;
}

Graph load_model(const std::string& model, const po::variables_map& vm) {
  if (!is_onnx_path(model)) return load_graph(model, model_overrides(vm));
  const ParamOverrides ov = model_overrides(vm);
  if (ov.has_width || ov.has_classes)
    throw UsageError(
        fmt::format("{}: --width and --classes do not apply to an ONNX file (its shapes are fixed)", model));
  OnnxImportOptions o;
  o.weights = false;
  if (ov.has_input_size || ov.has_in_channels)
    o.input_shape = {1, ov.has_in_channels ? ov.p.in_channels : 0, ov.has_input_size ? ov.p.input_h : 0,
                     ov.has_input_size ? ov.p.input_w : 0};
  return import_onnx(model, o).graph;
}

DType storage_dtype(const std::string& name) {
  DType t;
  if (!dtype_from_name(name, t) ||
      !(t == DType::f32 || t == DType::f16 || t == DType::bf16 || t == DType::i8))
    throw UsageError(fmt::format("--dtype '{}': expected float32, float16, bfloat16 or int8", name));
  return t;
}

}  // namespace eatsim::cli
