// eatsim model list: the built-in model graphs.
#include <fmt/format.h>

#include <iostream>

#include "models/graph.hpp"
#include "tools/eatsim/command.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  po::variables_map vm;
  if (!parse("model list", "", args, opts, {}, vm)) return 0;
  std::cout << fmt::format("{:<12} {:>14} {:>16}  {}\n", "model", "params", "MACs/sample", "default input");
  for (const auto& name : embedded_model_names()) {
    Graph g = load_graph(name);
    std::cout << fmt::format("{:<12} {:>14} {:>16}  {}x{}x{}, {} classes\n", name, g.trainable_count(),
                             g.total_macs(), g.params.in_channels, g.params.input_h, g.params.input_w,
                             g.params.classes);
  }
  return 0;
}

Register reg("model list", "list the built-in model graphs", run);

}  // namespace
}  // namespace eatsim::cli
