// eatsim trace synth: a synthetic trace for any model, with controlled ReLU density and clustering.
#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include "base/errors.hpp"
#include "tools/eatsim/command.hpp"
#include "traces/synth.hpp"

namespace eatsim::cli {
namespace {

int run(const Args& args) {
  po::options_description opts("options");
  opts.add_options()("model", po::value<std::string>()->required(), "model name or .yaml path")(
      "out,o", po::value<std::string>()->required(), "output trace directory")(
      "samples,n", po::value<int64_t>()->default_value(8), "number of samples")(
      "density,d", po::value<std::string>()->default_value("0.5"),
      "ReLU output density: 0.4 | 0.6..0.2 (ramp) | 0.5,0.4,... (one per ReLU); add name=0.3 to override "
      "one")("cluster", po::value<std::string>()->default_value("independent"),
             "zero pattern: independent | channel | blob")(
      "run-length", po::value<double>()->default_value(8.0), "channel: mean zero-run length along channels")(
      "blob-radius", po::value<int>()->default_value(2), "blob: smoothing radius in pixels")(
      "weight-density", po::value<double>()->default_value(1.0), "fraction of non-zero conv/linear weights")(
      "dtype", po::value<std::string>()->default_value("float32"),
      "storage: float32 | float16 | bfloat16 | int8")("seed", po::value<uint64_t>()->default_value(1),
                                                      "random seed")("force", po::bool_switch(),
                                                                     "replace an existing output directory");
  add_model_options(opts);
  po::positional_options_description pos;
  pos.add("model", 1);
  po::variables_map vm;
  if (!parse("trace synth", "MODEL --out DIR [--samples N --density D --cluster C --seed S]", args, opts, pos,
             vm))
    return 0;
  Graph g = load_graph(vm["model"].as<std::string>(), model_overrides(vm));
  SynthOptions o;
  o.samples = vm["samples"].as<int64_t>();
  o.seed = vm["seed"].as<uint64_t>();
  o.density = vm["density"].as<std::string>();
  if (!clustering_from_name(vm["cluster"].as<std::string>(), o.clustering))
    throw UsageError(fmt::format("--cluster '{}': expected independent, channel or blob",
                                 vm["cluster"].as<std::string>()));
  o.run_length = vm["run-length"].as<double>();
  o.blob_radius = vm["blob-radius"].as<int>();
  o.weight_density = vm["weight-density"].as<double>();
  std::string dt = vm["dtype"].as<std::string>();
  o.dtype = storage_dtype(dt);
  std::string out = vm["out"].as<std::string>();
  auto t0 = std::chrono::steady_clock::now();
  write_synthetic_trace(g, o, out, vm["force"].as<bool>(), "eatsim " EATSIM_VERSION " trace synth");
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format("wrote {} ({} samples of {}, density {}, {} zeros) in {:.2f} s\n", out, o.samples,
                           g.name, o.density, clustering_name(o.clustering), s);
  return 0;
}

Register reg("trace synth", "write a synthetic trace with controlled activation density and clustering", run);

}  // namespace
}  // namespace eatsim::cli
