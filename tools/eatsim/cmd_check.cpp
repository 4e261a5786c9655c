// eatsim check: compare a simulation report with a golden one under tolerances; exit 1 on a
// regression. --update rewrites the golden on purpose and says what changed.
#include <fmt/format.h>

#include <iostream>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/regression.hpp"
#include "tools/eatsim/command.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("report", po::value<std::string>()->required(),
                     "report JSON (eatsim sim --out PREFIX writes PREFIX.json)")(
      "golden", po::value<std::string>()->required(), "golden report JSON")(
      "tolerance", po::value<std::string>(),
      "tolerance YAML (docs/regression.md); default: counters exact, floats 1e-9")(
      "update", po::bool_switch(),
      "rewrite the golden with the report (deliberate change) and say what changed");
  po::positional_options_description pos;
  pos.add("report", 1).add("golden", 1);
  po::variables_map vm;
  if (!parse("check", "REPORT.json GOLDEN.json [--tolerance FILE] [--update]", args, opts, pos, vm)) return 0;
  std::string rp = vm["report"].as<std::string>(), gp = vm["golden"].as<std::string>();
  sim::Report rep = sim::read_report(rp);
  if (vm["update"].as<bool>()) {
    std::string old;
    try {
      sim::Report gold = sim::read_report(gp);
      sim::CheckOutcome o = sim::compare(rep, gold, sim::Tolerances{});
      old = o.moved.empty() ? "nothing changed"
                            : fmt::format("{} metrics changed:\n{}", o.moved.size(), sim::format_outcome(o));
    } catch (const Error& e) {
      old = fmt::format("the old golden is replaced whole ({})", e.lines().front());
    }
    atomic_write(gp, read_text<ConfigError>(rp));
    std::cout << fmt::format("updated {} from {}: {}\n", gp, rp, old);
    return 0;
  }
  sim::Report gold = sim::read_report(gp);
  sim::Tolerances tol;
  if (vm.count("tolerance")) tol = sim::load_tolerances(vm["tolerance"].as<std::string>(), gold.metrics);
  sim::CheckOutcome o = sim::compare(rep, gold, tol);
  if (!o.moved.empty()) std::cout << sim::format_outcome(o);
  std::cout << fmt::format(
      "{}: {} metrics over {} layers compared with {} ({}): {} moved, {} beyond tolerance\n", rp, o.compared,
      gold.layers.size(), gp, tol.source, o.moved.size(), o.failures);
  if (o.failures) throw CheckFailed(fmt::format("{} metrics regressed against {}", o.failures, gp));
  std::cout << "ok\n";
  return 0;
}

Register reg("check",
             "compare a simulation report with a golden report under tolerances (exit 1 on regression)", run);

}  // namespace
}  // namespace eatsim::cli
