// eatsim hw ert: a hardware configuration's energy table as an Accelergy ERT (one table per
// component, one action per priced event; docs/accelergy.md), for pricing eatsim's action counts
// with Accelergy or for editing and reading back with `energy: {accelergy_ert: FILE}`.
#include <fmt/format.h>

#include <iostream>

#include "base/files.hpp"
#include "sim/accelergy.hpp"
#include "sim/energy.hpp"
#include "sim/hwconfig.hpp"
#include "tools/eatsim/command.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("config", po::value<std::string>()->required(), "hwconfig file or preset name")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a key: --set array.rows=16")(
      "out,o", po::value<std::string>(), "write the ERT here (default: stdout)");
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  if (!parse("hw ert", "FILE|PRESET [--set key=value ...] [--out ERT.yaml]", args, opts, pos, vm)) return 0;
  std::vector<std::string> sets;
  if (vm.count("set")) sets = vm["set"].as<std::vector<std::string>>();
  sim::HwConfig hw = sim::load_hwconfig(vm["config"].as<std::string>(), sets);
  const std::string ert =
      sim::ert_yaml(sim::EnergyTable::from(hw), sim::accelergy_names(hw.energy.accelergy_map, hw.file));
  if (vm.count("out")) {
    atomic_write(vm["out"].as<std::string>(), ert);
    std::cerr << fmt::format("wrote {}: the energy table of {} as an Accelergy ERT\n",
                             vm["out"].as<std::string>(), hw.name);
  } else {
    std::cout << ert;
  }
  return 0;
}

Register reg("hw ert", "write a hardware configuration's energy table as an Accelergy ERT", run);

}  // namespace
}  // namespace eatsim::cli
