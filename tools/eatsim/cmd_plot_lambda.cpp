// eatsim plot lambda: test accuracy vs the estimator's energy ratio over λ and σ (Figure 3).
#include <fmt/format.h>

#include <iostream>

#include "tools/eatsim/command.hpp"
#include "tools/eatsim/plot.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("runs", po::value<std::vector<std::string>>()->multitoken()->required(),
                     "run directories of eatsim train (metrics.csv, checkpoint/)")(
      "out,o", po::value<std::string>()->required(), "output prefix (PREFIX.png, PREFIX.svg)");
  po::positional_options_description pos;
  pos.add("runs", -1);
  po::variables_map vm;
  if (!parse("plot lambda", "RUN_DIR... --out PREFIX", args, opts, pos, vm)) return 0;
  plot::accuracy_vs_ratio(vm["runs"].as<std::vector<std::string>>(), vm["out"].as<std::string>());
  std::cout << fmt::format("wrote {0}.png and {0}.svg\n", vm["out"].as<std::string>());
  return 0;
}

Register reg("plot lambda", "plot test accuracy vs energy ratio of training runs over lambda and sigma", run);

}  // namespace
}  // namespace eatsim::cli
