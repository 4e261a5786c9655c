// eatsim model import: an ONNX file as an eatsim graph plus a checkpoint of its initializers, which
// trace export, energy, sim --model, sweeps and train --init take like any trained checkpoint.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "base/errors.hpp"
#include "interop/onnx_import.hpp"
#include "tools/eatsim/command.hpp"
#include "trainer/checkpoint.hpp"

namespace eatsim::cli {
namespace {
namespace fs = std::filesystem;

std::vector<int64_t> parse_shape(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    try {
      size_t used = 0;
      long long x = std::stoll(part, &used);
      if (used != part.size() || x <= 0) throw std::invalid_argument(part);
      v.push_back(x);
    } catch (const std::exception&) {
      throw UsageError(fmt::format("--input-shape {}: expected positive integers N,C,H,W (or N,F)", s));
    }
  }
  if (v.size() != 4 && v.size() != 2)
    throw UsageError(fmt::format("--input-shape {}: expected N,C,H,W (or N,F)", s));
  return v;
}

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("onnx", po::value<std::string>()->required(), "the .onnx file")(
      "out,o", po::value<std::string>()->required(),
      "checkpoint directory to write (model.yaml, checkpoint.yaml, one .npy per parameter)")(
      "input-shape", po::value<std::string>(),
      "N,C,H,W (or N,F) for an input with dynamic dimensions (the batch N is free)")(
      "name", po::value<std::string>(), "model name (default: the file's stem)")(
      "force", po::bool_switch(), "replace an existing output directory")("quiet,q", po::bool_switch(),
                                                                          "print nothing but errors");
  po::positional_options_description pos;
  pos.add("onnx", 1);
  po::variables_map vm;
  if (!parse("model import", "MODEL.onnx --out DIR [--input-shape N,C,H,W] [--name NAME]", args, opts, pos,
             vm))
    return 0;
  const std::string path = vm["onnx"].as<std::string>(), out = vm["out"].as<std::string>();
  std::error_code ec;
  if (fs::exists(out, ec) && !vm["force"].as<bool>())
    throw UsageError(fmt::format("--out {}: exists (give --force to replace it)", out));
  OnnxImportOptions o;
  if (vm.count("input-shape")) o.input_shape = parse_shape(vm["input-shape"].as<std::string>());
  if (vm.count("name")) o.name = vm["name"].as<std::string>();
  ImportedModel m = import_onnx(path, o);

  Net net(m.graph);
  for (const ImportedTensor& t : m.tensors) {
    Tensor v(t.shape);
    if (t.is_int64)
      v.data[0] = static_cast<float>(t.i64.at(0));
    else
      v.data = t.f32;
    net.set(t.key, v);
  }
  CheckpointMeta meta;
  meta.model = m.graph.name;
  meta.params = m.graph.params;
  meta.info["source"] = "onnx:" + fs::absolute(path).lexically_normal().string();
  meta.info["onnx_opset"] = std::to_string(m.file_opset);
  save_checkpoint(out, net, meta);

  if (!vm["quiet"].as<bool>()) {
    std::cout << fmt::format(
        "imported {} (opset {}) as '{}': {} nodes, input {}, output {}, {} parameters, {} "
        "MACs per sample\n",
        path, m.file_opset, m.graph.name, m.graph.nodes.size(), shape_str(m.graph.input_shape),
        shape_str(m.graph.nodes[m.graph.output].out_shape), m.graph.trainable_count(), m.graph.total_macs());
    for (const auto& n : m.notes) std::cout << "  note: " << n << "\n";
    std::cout << fmt::format(
        "wrote {0}: model.yaml and a checkpoint of the initializers\n"
        "next: eatsim model show {0}/model.yaml | eatsim sim --model {0}/model.yaml --hw tpu_ws32 | "
        "eatsim trace export {0} --inputs X.npy --out TRACE\n",
        out);
  }
  return 0;
}

Register reg("model import", "import an ONNX model as an eatsim graph and a checkpoint of its weights", run);

}  // namespace
}  // namespace eatsim::cli
