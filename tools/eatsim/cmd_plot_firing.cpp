// eatsim plot firing: per-layer firing of one or two traces (the paper's Figures 1-2).
#include <fmt/format.h>

#include <iostream>

#include "tools/eatsim/command.hpp"
#include "tools/eatsim/plot.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("csv", po::value<std::string>()->required(), "CSV from eatsim firing A [B] --csv FILE")(
      "out,o", po::value<std::string>()->required(), "output prefix (PREFIX.png, PREFIX.svg)")(
      "labels", po::value<std::string>()->default_value("standard,EAT"),
      "names of the two series, comma-separated");
  po::positional_options_description pos;
  pos.add("csv", 1);
  po::variables_map vm;
  if (!parse("plot firing", "FIRING.csv --out PREFIX [--labels A,B]", args, opts, pos, vm)) return 0;
  std::string l = vm["labels"].as<std::string>();
  size_t c = l.find(',');
  std::string a = l.substr(0, c), b = c == std::string::npos ? "b" : l.substr(c + 1);
  plot::firing_bars(vm["csv"].as<std::string>(), a, b, vm["out"].as<std::string>());
  std::cout << fmt::format("wrote {0}.png and {0}.svg\n", vm["out"].as<std::string>());
  return 0;
}

Register reg("plot firing", "plot per-layer firing % of one or two traces (standard vs EAT)", run);

}  // namespace
}  // namespace eatsim::cli
