// eatsim firing: per-layer firing % (non-zero outputs / outputs) of one trace, or two side by side
// (standard vs EAT) — the EAT paper's Figures 1-2. BatchNorm and flatten are left out.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/estimator/report.hpp"
#include "tools/eatsim/command.hpp"
#include "traces/trace.hpp"

namespace eatsim::cli {
namespace {

using namespace eatsim::sponge;

// One row per layer, then per layer type and over all counted layers; B's columns when given.
void print_table(const Firing& fa, const Firing* fb, Convention conv, int bits, const std::string& da,
                 const std::string& db) {
  bool two = fb != nullptr;
  std::map<std::string, const FiringCount*> bt;
  if (two)
    for (const auto& [t, c] : fb->by_type) bt[t] = &c;
  std::cout << fmt::format("firing % (non-zero outputs / outputs), convention {}, {}-bit non-zeros\n",
                           convention_name(conv), bits);
  std::cout << "A: " << da << "\n";
  if (two) std::cout << "B: " << db << "\n";
  std::string head = fmt::format("{:<24} {:<15} {:>12} {:>9}", "layer", "op", "elements", "A %");
  if (two) head += fmt::format(" {:>9} {:>8}", "B %", "B/A");
  std::cout << head << "\n";
  auto line = [&](const std::string& name, const std::string& op, const FiringCount& a,
                  const FiringCount* b) {
    std::string s = fmt::format("{:<24} {:<15} {:>12} {:>9.2f}", name, op, a.numel, 100 * a.firing());
    if (b)
      s += fmt::format(" {:>9.2f} {:>8}", 100 * b->firing(),
                       a.nnz ? fmt::format("{:.3f}", b->firing() / a.firing()) : "-");
    std::cout << s << "\n";
  };
  for (size_t i = 0; i < fa.rows.size(); ++i)
    line(fa.rows[i].name, op_name(fa.rows[i].op), fa.rows[i].count, two ? &fb->rows[i].count : nullptr);
  std::cout << "\nby layer type (element-weighted)\n";
  for (const auto& [t, c] : fa.by_type) line(t, "", c, two ? bt[t] : nullptr);
  line("all counted layers", "", fa.total, two ? &fb->total : nullptr);
}

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("trace-a", po::value<std::string>()->required(), "trace (e.g. standard training)")(
      "trace-b", po::value<std::string>(),
      "second trace of the same model (e.g. EAT), shown beside the first")(
      "convention", po::value<std::string>()->default_value("graph"),
      "graph (every node, functional ReLUs included) | reference (module nodes only, as the paper's hooks)")(
      "bits", po::value<int>()->default_value(32), "non-zero threshold: 32 | 16 | 8")(
      "csv", po::value<std::string>(), "write the table to this CSV file");
  po::positional_options_description pos;
  pos.add("trace-a", 1).add("trace-b", 1);
  po::variables_map vm;
  if (!parse("firing", "TRACE_A [TRACE_B] [--convention graph|reference] [--bits 32|16|8] [--csv FILE]", args,
             opts, pos, vm))
    return 0;
  Convention conv = convention_from_name(vm["convention"].as<std::string>());
  int bits = vm["bits"].as<int>();
  nonzero_threshold(bits);
  std::string da = vm["trace-a"].as<std::string>();
  Firing fa = firing(census_from_trace(TraceReader(da), bits), conv);
  Firing fb;
  bool two = vm.count("trace-b") > 0;
  std::string db = two ? vm["trace-b"].as<std::string>() : "";
  if (two) {
    fb = firing(census_from_trace(TraceReader(db), bits), conv);
    bool same = fa.rows.size() == fb.rows.size();
    for (size_t i = 0; same && i < fa.rows.size(); ++i) same = fa.rows[i].name == fb.rows[i].name;
    if (!same)
      throw UsageError(
          fmt::format("{} and {}: the traces are not of the same model graph (layers differ)", da, db));
  }
  print_table(fa, two ? &fb : nullptr, conv, bits, da, db);
  if (vm.count("csv")) {
    std::ostringstream f;
    write_firing_csv(f, fa, two ? &fb : nullptr);
    atomic_write(vm["csv"].as<std::string>(), f.str());
  }
  return 0;
}

Register reg("firing",
             "per-layer firing % of one trace or two side by side (standard vs EAT), the paper's Fig. 1-2",
             run);

}  // namespace
}  // namespace eatsim::cli
