// eatsim plot breakdown: per-layer energy stacked by component, one panel per simulation report.
#include <fmt/format.h>

#include <iostream>

#include "tools/eatsim/command.hpp"
#include "tools/eatsim/plot.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("csv", po::value<std::vector<std::string>>()->multitoken()->required(),
                     "report CSVs from eatsim sim --out PREFIX (PREFIX.csv)")(
      "out,o", po::value<std::string>()->required(), "output prefix (PREFIX.png, PREFIX.svg)")(
      "labels", po::value<std::string>()->default_value(""), "panel titles, comma-separated");
  po::positional_options_description pos;
  pos.add("csv", -1);
  po::variables_map vm;
  if (!parse("plot breakdown", "REPORT.csv [REPORT2.csv ...] --out PREFIX [--labels A,B]", args, opts, pos,
             vm))
    return 0;
  std::vector<std::string> labels;
  std::string l = vm["labels"].as<std::string>();
  for (size_t s = 0, c; !l.empty() && s <= l.size(); s = c + 1) {
    c = l.find(',', s);
    if (c == std::string::npos) c = l.size();
    labels.push_back(l.substr(s, c - s));
  }
  plot::energy_breakdown(vm["csv"].as<std::vector<std::string>>(), labels, vm["out"].as<std::string>());
  std::cout << fmt::format("wrote {0}.png and {0}.svg\n", vm["out"].as<std::string>());
  return 0;
}

Register reg("plot breakdown", "plot per-layer energy stacked by component from simulation reports", run);

}  // namespace
}  // namespace eatsim::cli
