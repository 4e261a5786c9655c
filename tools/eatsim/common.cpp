// Option groups shared by several subcommands.
#include "models/graph.hpp"
#include "tools/eatsim/command.hpp"

namespace eatsim::cli {

void add_model_options(po::options_description& opts) {
  opts.add_options()("width", po::value<double>(),
                     "width multiplier for every channel count (default: the model's)")(
      "in-channels", po::value<int>(), "input channels (default: the model's)")(
      "input-size", po::value<int>(), "input height and width (default: the model's)")(
      "classes", po::value<int>(), "number of classes (default: the model's)");
}

ParamOverrides model_overrides(const po::variables_map& vm) {
  ParamOverrides o;
  if (vm.count("width")) o.has_width = true, o.p.width = vm["width"].as<double>();
  if (vm.count("in-channels")) o.has_in_channels = true, o.p.in_channels = vm["in-channels"].as<int>();
  if (vm.count("input-size")) o.has_input_size = true, o.p.input_size = vm["input-size"].as<int>();
  if (vm.count("classes")) o.has_classes = true, o.p.classes = vm["classes"].as<int>();
  return o;
}

}  // namespace eatsim::cli
