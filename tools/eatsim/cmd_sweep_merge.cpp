// eatsim sweep merge: join the outputs of sweep shards and report missing or duplicated points.
#include <fmt/format.h>

#include <iostream>

#include "base/errors.hpp"
#include "sim/sweep/sweep.hpp"
#include "tools/eatsim/command.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("out,o", po::value<std::string>()->required(), "merged output directory")(
      "shards", po::value<std::vector<std::string>>()->multitoken()->required(), "shard output directories");
  po::positional_options_description pos;
  pos.add("shards", -1);
  po::variables_map vm;
  if (!parse("sweep merge", "--out DIR SHARD_DIR...", args, opts, pos, vm)) return 0;
  sweep::MergeReport r =
      sweep::merge(vm["shards"].as<std::vector<std::string>>(), vm["out"].as<std::string>());
  std::cout << fmt::format("merged {} of {} expected results into {}/results.csv\n", r.found, r.expected,
                           vm["out"].as<std::string>());
  for (const auto& d : r.duplicated) std::cout << "duplicated (identical, kept once): " << d << "\n";
  if (!r.missing.empty()) {
    std::cout << fmt::format("missing {} results:\n", r.missing.size());
    for (size_t i = 0; i < r.missing.size() && i < 20; ++i) std::cout << "  " << r.missing[i] << "\n";
    if (r.missing.size() > 20) std::cout << fmt::format("  ... and {} more\n", r.missing.size() - 20);
    throw CheckFailed(
        fmt::format("{} results are missing: rerun the shards that produce them", r.missing.size()));
  }
  return 0;
}

Register reg("sweep merge", "join sweep shard outputs; report missing or duplicated points", run);

}  // namespace
}  // namespace eatsim::cli
