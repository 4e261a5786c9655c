// eatsim hw check: validates a hardware configuration (a file or a preset) and prints it resolved.
#include <fmt/format.h>

#include <iostream>

#include "sim/hwconfig.hpp"
#include "tools/eatsim/command.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("config", po::value<std::string>()->required(), "hwconfig file or preset name")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a key: --set array.rows=16 (repeatable)")("list", po::bool_switch(),
                                                          "list the embedded presets");
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  bool list = std::find(args.begin(), args.end(), "--list") != args.end();
  if (list) {
    for (const auto& p : sim::embedded_preset_names()) std::cout << p << "\n";
    return 0;
  }
  if (!parse("hw check", "FILE|PRESET [--set key.path=value ...]", args, opts, pos, vm)) return 0;
  std::vector<std::string> sets;
  if (vm.count("set")) sets = vm["set"].as<std::vector<std::string>>();
  sim::HwConfig hw = sim::load_hwconfig(vm["config"].as<std::string>(), sets);
  std::cout << sim::hwconfig_to_yaml(hw);
  std::cerr << fmt::format("ok: {} ({} PEs, {} KB SRAM)\n", hw.name, hw.pe_count(), hw.sram_kb());
  return 0;
}

Register reg("hw check", "validate a hardware configuration and print it resolved", run);

}  // namespace
}  // namespace eatsim::cli
