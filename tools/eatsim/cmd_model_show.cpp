// eatsim model show: a model graph with per-sample shapes, parameters and MACs per node.
#include <fmt/format.h>

#include <iostream>

#include "models/graph.hpp"
#include "tools/eatsim/command.hpp"

namespace eatsim::cli {
namespace {

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it), ++n;
  }
  return out;
}

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("model", po::value<std::string>()->required(),
                     "model name (see eatsim model list), a .yaml path or an .onnx file (shapes only)")(
      "keys", po::bool_switch(), "print the state_dict keys with shapes instead of the node table")(
      "yaml", po::bool_switch(), "print the resolved graph in the model-file format");
  add_model_options(opts);
  po::positional_options_description pos;
  pos.add("model", 1);
  po::variables_map vm;
  if (!parse("model show", "MODEL [--width W --in-channels C --input-size S --classes K]", args, opts, pos,
             vm))
    return 0;
  Graph g = load_model(vm["model"].as<std::string>(), vm);
  if (vm["yaml"].as<bool>()) {
    std::cout << graph_to_yaml(g);
    return 0;
  }
  auto params = g.parameters();
  if (vm["keys"].as<bool>()) {
    for (const auto& p : params)
      std::cout << fmt::format("{:<40} {:<20} {}\n", p.key, shape_str(p.shape),
                               p.is_int64 ? "int64" : "float32");
    return 0;
  }
  std::cout << fmt::format("{} (width {}, input {}, {} classes) from {}\n", g.name, g.params.width,
                           shape_str(g.input_shape), g.params.classes, g.source);
  std::cout << fmt::format("{:<24} {:<15} {:<3} {:<26} {:<16} {:>12} {:>14}\n", "node", "op", "mod", "inputs",
                           "output", "params", "MACs");
  for (int i : g.order) {
    const Node& n = g.nodes[i];
    int64_t np = 0;
    for (const auto& p : params)
      if (p.node == i && p.trainable) np += numel(p.shape);
    std::string ins;
    for (const auto& s : n.inputs) ins += (ins.empty() ? "" : ",") + s;
    if (ins.size() > 26) ins = ins.substr(0, 23) + "...";
    std::cout << fmt::format("{:<24} {:<15} {:<3} {:<26} {:<16} {:>12} {:>14}\n", n.name, op_name(n.op),
                             n.module ? "yes" : "-", ins, shape_str(n.out_shape), np ? with_commas(np) : "-",
                             g.macs(n) ? with_commas(g.macs(n)) : "-");
  }
  std::cout << fmt::format("total: {} nodes, {} trainable parameters, {} MACs per sample (forward)\n",
                           g.nodes.size(), with_commas(g.trainable_count()), with_commas(g.total_macs()));
  return 0;
}

Register reg("model show", "print a model graph with shapes, parameters and MACs per node", run);

}  // namespace
}  // namespace eatsim::cli
