// eatsim sim: simulates a hardware configuration against a trace (or a model's shapes alone):
// a per-layer table on stdout, CSV and JSON reports with --out.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/accelergy.hpp"
#include "sim/dram_trace.hpp"
#include "sim/gemm.hpp"
#include "sim/layer_policy.hpp"
#include "sim/report.hpp"
#include "sim/run.hpp"
#include "sim/scalesim_files.hpp"
#include "sim/systemc/clocked.hpp"
#include "sim/trace_data.hpp"
#include "tools/eatsim/command.hpp"
#include "traces/trace.hpp"

namespace eatsim::cli {
namespace {

po::options_description sim_options() {
  po::options_description opts("options");
  auto add = opts.add_options();
  add("hw", po::value<std::string>(), "hwconfig file or preset (eatsim hw check --list)");
  add("trace", po::value<std::string>(), "trace directory to replay");
  add("scalesim-config", po::value<std::string>(),
      "instead of --hw: a SCALE-Sim v2 .cfg, mapped onto the scalesim32 preset (docs/scalesim.md)");
  add("topology", po::value<std::string>(),
      "instead of --trace/--model: a SCALE-Sim topology CSV (convolution rows, or GEMM rows 'Layer, M, N, "
      "K')");
  add("gemm", po::bool_switch(), "read --topology as GEMM rows whatever its header says");
  add("scalesim-reports", po::value<std::string>(),
      "also write SCALE-Sim's COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv here");
  add("model", po::value<std::string>(),
      "instead of a trace: a model's shapes alone (one sample, dense): name, .yaml or .onnx");
  add("set", po::value<std::vector<std::string>>()->composing(),
      "override a hwconfig key: --set array.rows=16");
  add("out", po::value<std::string>(), "write PREFIX.csv and PREFIX.json");
  add("scalesim-topology", po::value<std::string>(), "also write the layers as a SCALE-Sim v2 topology CSV");
  add("dram-trace", po::value<std::string>(),
      "also write every DRAM request (64 B, cycle, address, read/write) here; .gz compresses; the address "
      "map "
      "goes to FILE.map.csv (docs/dram-trace.md)");
  add("dram-trace-format", po::value<std::string>()->default_value("dramsim3"),
      "dramsim3 ('0xADDR READ|WRITE CYCLE') or ramulator2 (LoadStoreTrace: 'LD|ST 0xADDR')");
  add("accelergy-counts", po::value<std::string>(),
      "also write the run's action counts (all samples) in Accelergy's action_counts format "
      "(docs/accelergy.md)");
  add("samples", po::value<int64_t>(), "simulate the first N samples of the trace (default: all)");
  add("fidelity", po::value<std::string>()->default_value("fast"),
      "fast (the engine jumps over known spans), cycle (the clocked SystemC model) or step (one engine "
      "step per clock in plain C++, for debugging); all give the same numbers");
  add("jobs,j", po::value<int>()->default_value(1),
      "simulate samples on N workers (threads; processes for --fidelity cycle); 0: every core");
  add("check", po::bool_switch(),
      "functional check: the engine's accumulation along its schedule vs a reference GEMM on the same "
      "quantised operands (a mismatch is an error naming the layer); prints the quantisation error too");
  add_model_options(opts);
  return opts;
}

// --fidelity, --jobs and --check as SimOptions (cycle fidelity installs the SystemC model).
sim::SimOptions run_options(const po::variables_map& vm) {
  std::string fid = vm["fidelity"].as<std::string>();
  sim::Fidelity fidelity = sim::Fidelity::fast;
  if (fid == "step")
    fidelity = sim::Fidelity::step;
  else if (fid == "cycle")
    fidelity = sim::Fidelity::cycle, sysc::install();
  else if (fid != "fast")
    throw UsageError(fmt::format("eatsim sim: --fidelity: unknown '{}' (fast, cycle or step)", fid));
  int jobs = vm["jobs"].as<int>();
  require_range("jobs", jobs, 0, kMaxWorkers, fmt::format("0 (every core) .. {}", kMaxWorkers));
  if (jobs == 0) jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  sim::SimOptions so{0, fidelity, jobs, vm["check"].as<bool>()};
  if (vm.count("samples")) {
    so.samples = vm["samples"].as<int64_t>();
    if (so.samples < 1) throw UsageError("eatsim sim: --samples must be positive");
  }
  return so;
}

// --accelergy-counts: every event of the run (all layers, all samples) under the hwconfig's
// Accelergy names.
void write_accelergy_counts(const po::variables_map& vm, const sim::SimResult& r) {
  if (!vm.count("accelergy-counts")) return;
  std::vector<double> sum(sim::accelergy_events().size(), 0.0);
  for (const sim::Counters& c : r.totals()) {
    std::vector<double> e = sim::event_counts(c, r.hw.pe_count());
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += e[i];
  }
  const std::string p = vm["accelergy-counts"].as<std::string>();
  atomic_write(p, sim::action_counts_yaml(sum, sim::accelergy_names(r.hw.energy.accelergy_map, r.hw.file)));
  std::cerr << fmt::format("wrote {}: Accelergy action counts of {} sample(s)\n", p, r.num_samples);
}

// --out PREFIX (CSV and JSON) and --accelergy-counts, for a trace, a model or a topology.
void write_reports(const po::variables_map& vm, const sim::SimResult& r) {
  if (vm.count("out")) {
    std::string p = vm["out"].as<std::string>();
    atomic_write(p + ".csv", sim::to_csv(r));
    atomic_write(p + ".json", sim::to_json(r));
    std::cerr << fmt::format("wrote {0}.csv and {0}.json\n", p);
  }
  write_accelergy_counts(vm, r);
}

// A SCALE-Sim topology: every row on `hw`, our table and reports, and SCALE-Sim's.
int run_topology(const po::variables_map& vm, const sim::HwConfig& hw, const sim::SimOptions& so) {
  if (so.verify) throw UsageError("eatsim sim: --check needs a trace's values (--trace DIR)");
  const std::string topo = vm["topology"].as<std::string>();
  std::vector<scalesim::Layer> layers = scalesim::read_topology(topo, vm["gemm"].as<bool>());
  auto t0 = std::chrono::steady_clock::now();
  sim::SimResult r = scalesim::simulate(hw, layers, so);
  r.model = std::filesystem::path(topo).stem().string();
  r.source = "SCALE-Sim topology " + topo;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << sim::format_table(r);
  std::cerr << fmt::format("simulated {} topology layers in {:.3f} s\n", layers.size(), secs);
  write_reports(vm, r);
  if (vm.count("scalesim-reports")) {
    const std::string dir = vm["scalesim-reports"].as<std::string>();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw FileError(fmt::format("{}: cannot create the directory ({})", dir, ec.message()));
    atomic_write(dir + "/COMPUTE_REPORT.csv", scalesim::compute_report(r));
    atomic_write(dir + "/BANDWIDTH_REPORT.csv", scalesim::bandwidth_report(r));
    atomic_write(dir + "/DETAILED_ACCESS_REPORT.csv", scalesim::detailed_access_report(r));
    std::cerr << fmt::format("wrote SCALE-Sim's reports in {}\n", dir);
  }
  return 0;
}

int run(const Args& args) {
  po::options_description opts = sim_options();
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse("sim",
             "(--hw CONFIG | --scalesim-config FILE.cfg) (--trace DIR | --model NAME | --topology CSV) "
             "[--out PREFIX] "
             "[--set key=value ...]",
             args, opts, pos, vm))
    return 0;
  if (vm.count("trace") + vm.count("model") + vm.count("topology") != 1)
    throw UsageError(
        "eatsim sim: give exactly one of --trace DIR, --model NAME or --topology CSV (see eatsim sim "
        "--help)");
  if (vm.count("hw") + vm.count("scalesim-config") != 1)
    throw UsageError("eatsim sim: give exactly one of --hw CONFIG or --scalesim-config FILE.cfg");
  if (vm.count("scalesim-reports") && !vm.count("topology"))
    throw UsageError(
        "eatsim sim: --scalesim-reports goes with --topology (SCALE-Sim's reports are per topology row)");
  const sim::SimOptions so = run_options(vm);
  std::vector<std::string> sets;
  if (vm.count("set")) sets = vm["set"].as<std::vector<std::string>>();
  sim::HwConfig hw =
      vm.count("hw")
          ? sim::load_hwconfig(vm["hw"].as<std::string>(), sets)
          : scalesim::hwconfig_of(scalesim::read_config(vm["scalesim-config"].as<std::string>()), sets);
  if (vm.count("topology")) return run_topology(vm, hw, so);
  if (so.verify && !vm.count("trace"))
    throw UsageError("eatsim sim: --check needs a trace's values (--trace DIR)");
  std::unique_ptr<TraceReader> tr;
  if (vm.count("trace")) tr = std::make_unique<TraceReader>(vm["trace"].as<std::string>());
  const Graph g = tr ? tr->graph() : load_model(vm["model"].as<std::string>(), vm);
  if (vm.count("scalesim-topology"))
    atomic_write(vm["scalesim-topology"].as<std::string>(), sim::scalesim_topology(g));
  // What a run costs beside the simulation, timed apart so that "per sample" is the simulation's:
  // the trace's content hash (once per run, for the report) and its values (when read).
  using clock = std::chrono::steady_clock;
  auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  double hash_secs = 0, load_secs = 0;
  std::unique_ptr<sim::TraceData> values;
  if (tr) {
    auto t = clock::now();
    tr->hash();
    hash_secs = since(t);
    t = clock::now();
    if (hw.sparsity.any() || so.verify) {
      int64_t n = tr->manifest().num_samples();
      values = std::make_unique<sim::TraceData>(*tr, so.samples > 0 ? std::min(n, so.samples) : n);
    }
    load_secs = since(t);
  }
  std::unique_ptr<sim::DramTraceWriter> dram;
  sim::SimOptions run_so = so;
  if (vm.count("dram-trace")) {
    sim::DramTraceFormat fmt_ = sim::DramTraceFormat::dramsim3;
    const std::string name = vm["dram-trace-format"].as<std::string>();
    if (!sim::dram_trace_format_from_name(name, fmt_))
      throw UsageError(fmt::format("--dram-trace-format {}: dramsim3 or ramulator2", name));
    dram = std::make_unique<sim::DramTraceWriter>(vm["dram-trace"].as<std::string>(), fmt_, g, hw);
    run_so.dram_trace = dram.get();
  }
  auto t0 = clock::now();
  sim::SimOptions shapes_so{1, so.fidelity, so.jobs};
  shapes_so.dram_trace = run_so.dram_trace;
  sim::SimResult r =
      tr ? sim::simulate(hw, *tr, run_so, values.get()) : sim::simulate_network(hw, g, shapes_so);
  if (!tr) r.source = "shapes only";
  double secs = since(t0);
  std::cout << sim::format_table(r) << sim::describe_layer_policy(r);
  if (so.verify) std::cout << sim::format_verification(r);
  std::cerr << fmt::format(
      "simulated {} sample(s) in {:.3f} s ({:.2f} ms per sample, {} fidelity, {} job(s))\n", r.num_samples,
      secs, 1000 * secs / double(r.num_samples), sim::fidelity_name(so.fidelity), so.jobs);
  if (tr)
    std::cerr << fmt::format("trace: hashed in {:.3f} s, values {} in {:.3f} s\n", hash_secs,
                             values ? "loaded" : "not needed", load_secs);
  write_reports(vm, r);
  if (dram) {
    const std::string p = vm["dram-trace"].as<std::string>();
    dram->close();
    std::string map = "region,base,bytes\n";
    for (const auto& reg : dram->regions())
      map += fmt::format("{},0x{:x},{}\n", reg.name, reg.base, reg.bytes);
    atomic_write(p + ".map.csv", map);
    std::error_code ec;
    std::cerr << fmt::format(
        "wrote {}: {} DRAM requests ({} bytes moved), {} bytes on disk; address map {}.map.csv\n", p,
        dram->requests(), dram->bytes(), std::filesystem::file_size(p, ec), p);
  }
  return 0;
}

Register reg("sim", "simulate a hardware configuration against a trace: per-layer cycles, traffic, energy",
             run);

}  // namespace
}  // namespace eatsim::cli
