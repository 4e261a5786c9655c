// The end-to-end demo; see demo.hpp.
#include "tools/eatsim/demo.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/estimator/census.hpp"
#include "sim/estimator/estimator.hpp"
#include "sim/estimator/firing.hpp"
#include "sim/estimator/report.hpp"
#include "sim/hwconfig.hpp"
#include "sim/report.hpp"
#include "sim/run.hpp"
#include "tools/eatsim/plot.hpp"
#include "traces/trace.hpp"
#include "trainer/export.hpp"
#include "trainer/train.hpp"

namespace eatsim::demo {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Stage {
  int index, total;
  std::string what;
  Clock::time_point t0 = Clock::now();
  Stage(int i, int n, std::string w) : index(i), total(n), what(std::move(w)) {
    std::cerr << fmt::format("[{}/{}] {}\n", index, total, what);
  }
  void done(const std::string& note) const {
    std::cerr << fmt::format("[{}/{}] {}: {} ({:.1f} s)\n", index, total, what, note,
                             std::chrono::duration<double>(Clock::now() - t0).count());
  }
};

struct Side {
  std::string name, label;
  std::string run, trace;
  double test_acc = 0, relu_firing = 0;
  sponge::Census census;
  sponge::Report estimate;
  sim::SimResult sparse, dense;
};

double last_metric(const std::string& run_dir, const std::string& col) {
  std::ifstream in(run_dir + "/metrics.csv");
  std::string header, line, last;
  std::getline(in, header);
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  std::vector<std::string> h, v;
  std::stringstream hs(header), vs(last);
  for (std::string s; std::getline(hs, s, ',');) h.push_back(s);
  for (std::string s; std::getline(vs, s, ',');) v.push_back(s);
  for (size_t i = 0; i < h.size() && i < v.size(); ++i)
    if (h[i] == col) return std::stod(v[i]);
  throw DataError(fmt::format("{}/metrics.csv: no column {}", run_dir, col));
}

double total_energy(const sim::SimResult& r) {
  double e = 0;
  for (const auto& m : sim::total_metrics(r)) e += m.energy_pj;
  return e / std::max<size_t>(1, sim::total_metrics(r).size());
}

double total_cycles(const sim::SimResult& r) {
  double c = 0;
  for (const auto& m : sim::total_metrics(r)) c += static_cast<double>(m.cycles);
  return c / std::max<size_t>(1, sim::total_metrics(r).size());
}

constexpr int kStages = 6;

TrainConfig train_config(const Options& o, const Side& side, bool eat) {
  TrainConfig c;
  c.model = o.model;
  c.model_params.has_width = c.model_params.has_in_channels = c.model_params.has_input_size = true;
  c.model_params.p.width = o.width, c.model_params.p.in_channels = 1,
  c.model_params.p.input_h = c.model_params.p.input_w = 28;
  c.dataset = "fashion-mnist";
  c.train_limit = o.train_limit, c.test_limit = o.test_limit;
  c.epochs = o.epochs, c.batch = o.batch, c.eval_batch = o.batch, c.lr = o.lr;
  c.schedule = Schedule::cosine;
  c.penalty.lambda = eat ? o.lambda : 0.0;
  c.penalty.sigma = o.sigma;
  c.penalty.layers = o.penalty_layers;
  c.augment = {2, true, 0.0};
  c.seed = 1;
  c.out_dir = side.run;
  c.resume = fs::exists(side.run + "/checkpoint/checkpoint.yaml");
  return c;
}

// Stages 1-2: training, resumed or reused when the run directory has it. Returns whether it was reused.
bool train_side(const Options& o, Side& side, int index) {
  side.run = o.out + "/runs/" + side.name;
  Stage st(index + 1, kStages,
           fmt::format("train {} {} (width {:g}) on Fashion-MNIST, {} epochs", side.label, o.model, o.width,
                       o.epochs));
  TrainResult r = train(train_config(o, side, index == 1));
  if (!r.finished) throw UsageError(side.run + ": training was interrupted; rerun eatsim demo to continue");
  side.test_acc = last_metric(side.run, "test_acc");
  side.relu_firing = last_metric(side.run, "firing_relu");
  st.done(fmt::format("{}test accuracy {:.2f} %, ReLU firing {:.1f} %", r.epochs.empty() ? "reused; " : "",
                      100 * side.test_acc, 100 * side.relu_firing));
  return r.epochs.empty();
}

// Stage 3: traces of the same test samples. Returns whether both were reused.
bool export_traces(const Options& o, std::vector<Side>& sides) {
  Stage st(3, kStages, fmt::format("export traces of {} test samples", o.samples));
  std::string note;
  bool all_reused = true;
  for (Side& side : sides) {
    side.trace = o.out + "/traces/" + side.name;
    bool reuse = false;
    if (fs::exists(side.trace + "/trace.yaml")) {
      try {
        reuse = TraceReader(side.trace).manifest().num_samples() == o.samples;
      } catch (const Error&) {
      }
    }
    all_reused = all_reused && reuse;
    if (!reuse) {
      ExportOptions e;
      e.checkpoint = side.run;
      e.samples = o.samples;
      e.out = side.trace;
      e.force = true;
      e.producer = "eatsim demo";
      export_trace(e);
    }
    note += fmt::format("{}{} {}", note.empty() ? "" : ", ", side.name, reuse ? "reused" : "written");
  }
  st.done(note);
  return all_reused;
}

// Stage 4: the paper's estimator and per-layer firing.
void estimate_energy(const Options& o, std::vector<Side>& sides) {
  Stage st(4, kStages, "the paper's energy estimator (sponge model) and firing per layer");
  for (Side& side : sides) {
    side.census = sponge::census_from_trace(TraceReader(side.trace), 32);
    side.estimate = sponge::analyse(side.census, {});
    std::ostringstream js;
    sponge::write_json(js, side.estimate, side.trace, side.census.graph.name);
    atomic_write(o.out + "/energy-" + side.name + ".json", js.str());
  }
  auto fa = sponge::firing(sides[0].census, sponge::Convention::graph);
  auto fb = sponge::firing(sides[1].census, sponge::Convention::graph);
  std::ostringstream csv;
  sponge::write_firing_csv(csv, fa, &fb);
  atomic_write(o.out + "/firing.csv", csv.str());
  st.done(fmt::format("ratio {:.4f} (standard) vs {:.4f} (EAT)", sides[0].estimate.ratio,
                      sides[1].estimate.ratio));
}

// Stage 5: simulation on the preset with its sparsity features, and on the same hardware dense.
void simulate_sides(const Options& o, std::vector<Side>& sides) {
  Stage st(5, kStages, fmt::format("simulate both traces on {} (sparsity features on, and off)", o.preset));
  sim::HwConfig hw = sim::load_hwconfig(o.preset);
  sim::HwConfig dense = sim::load_hwconfig(
      o.preset, {"sparsity.gate=false", "sparsity.skip.enabled=false", "sparsity.compress.format=none"});
  for (Side& side : sides) {
    TraceReader tr(side.trace);
    side.sparse = sim::simulate(hw, tr);
    side.dense = sim::simulate(dense, tr);
    for (auto* r : {&side.sparse, &side.dense}) {
      std::string p = o.out + "/sim/" + side.name + "-" + o.preset + (r == &side.dense ? "-dense" : "");
      atomic_write(p + ".csv", sim::to_csv(*r));
      atomic_write(p + ".json", sim::to_json(*r));
    }
  }
  st.done("reports in " + o.out + "/sim/");
}

// Stage 6: plots.
void draw_plots(const Options& o, const std::vector<Side>& sides) {
  Stage st(6, kStages, "plots");
  std::string p = o.out + "/plots/";
  plot::training_curves({sides[0].run, sides[1].run}, {sides[0].label, sides[1].label}, p + "training");
  plot::firing_bars(o.out + "/firing.csv", sides[0].label, sides[1].label, p + "firing");
  plot::energy_breakdown(
      {o.out + "/sim/standard-" + o.preset + ".csv", o.out + "/sim/eat-" + o.preset + ".csv"},
      {sides[0].label + " on " + o.preset, sides[1].label + " on " + o.preset}, p + "energy");
  // The ratio of the headline: the estimator on the traced test samples.
  plot::accuracy_vs_ratio(
      {sides[0].run, sides[1].run}, p + "accuracy-vs-ratio",
      {sides[0].estimate.ratio, sides[1].estimate.ratio},
      fmt::format("sponge estimator on the {} traced test samples, as in the headline", o.samples));
  st.done("training, firing, energy and accuracy-vs-ratio in " + p + " (PNG and SVG)");
}

// (energy µJ, cycles) of each layer, mean over samples.
std::vector<std::pair<double, double>> per_layer(const sim::SimResult& r) {
  std::vector<std::pair<double, double>> v;
  for (const auto& l : r.layers) {
    double e = 0, c = 0;
    for (const auto& cnt : l.samples) {
      auto m = sim::metrics_of(r, cnt, sim::reported_cycles(r.hw, l.group, cnt));
      e += m.energy_pj, c += static_cast<double>(m.cycles);
    }
    v.emplace_back(e / 1e6 / l.samples.size(), c / l.samples.size());
  }
  return v;
}

// The per-layer comparison of the two sides on the preset.
std::string layer_table(const Options& o, const std::vector<Side>& sides) {
  std::string out;
  const Graph& g = sides[0].census.graph;
  out += fmt::format("\nPer layer on {} ({} samples; input density = non-zero inputs of the layer):\n",
                     o.preset, o.samples);
  out += fmt::format("{:<22} {:>9} {:>9} {:>12} {:>12} {:>10} {:>10}\n", "layer", "dens ST", "dens EAT",
                     "energy ST", "energy EAT", "cycles ST", "cycles EAT");
  auto a = per_layer(sides[0].sparse), b = per_layer(sides[1].sparse);
  for (size_t i = 0; i < sides[0].sparse.layers.size(); ++i) {
    const auto& grp = sides[0].sparse.layers[i].group;
    auto dens = [&](const Side& s) {
      if (grp.gemm < 0) return std::string("-");
      const auto& act = s.census.act(g.nodes[grp.gemm].in[0]);
      return fmt::format("{:.1f}%", 100.0 * act.nnz_sum(0, act.nnz.size()) /
                                        (act.numel * static_cast<double>(act.nnz.size())));
    };
    out += fmt::format("{:<22} {:>9} {:>9} {:>10.3f}µJ {:>10.3f}µJ {:>10.0f} {:>10.0f}\n", grp.name,
                       dens(sides[0]), dens(sides[1]), a[i].first, b[i].first, a[i].second, b[i].second);
  }
  return out;
}

// The headline: accuracy, firing, the estimator's ratio and the simulated energy and speed-up.
std::string headline_table(const Options& o, const std::vector<Side>& sides) {
  std::string out;
  double es = total_energy(sides[0].sparse), ee = total_energy(sides[1].sparse);
  double ratio_s = es / total_energy(sides[0].dense), ratio_e = ee / total_energy(sides[1].dense);
  double sp_s = total_cycles(sides[0].dense) / total_cycles(sides[0].sparse),
         sp_e = total_cycles(sides[1].dense) / total_cycles(sides[1].sparse);
  out += fmt::format(
      "\nHeadline ({} width {:g} on Fashion-MNIST, {} epochs; {} test samples simulated on {}):\n", o.model,
      o.width, o.epochs, o.samples, o.preset);
  out += fmt::format("  {:<44} {:>12} {:>12}\n", "", "standard", "EAT");
  out += fmt::format("  {:<44} {:>11.2f}% {:>11.2f}%\n", "test accuracy", 100 * sides[0].test_acc,
                     100 * sides[1].test_acc);
  out += fmt::format("  {:<44} {:>11.1f}% {:>11.1f}%\n", "ReLU firing (test set, eval mode)",
                     100 * sides[0].relu_firing, 100 * sides[1].relu_firing);
  out += fmt::format("  {:<44} {:>12.4f} {:>12.4f}   (decrease {:.1f} %)\n",
                     "sponge ratio (paper's estimator)", sides[0].estimate.ratio, sides[1].estimate.ratio,
                     100 * (sides[0].estimate.ratio - sides[1].estimate.ratio) / sides[0].estimate.ratio);
  out += fmt::format("  {:<44} {:>10.3f}µJ {:>10.3f}µJ   (EAT/standard {:.3f})\n",
                     "simulated energy per sample", es / 1e6, ee / 1e6, ee / es);
  out += fmt::format("  {:<44} {:>12.4f} {:>12.4f}\n", "energy ratio (sparsity features on / off)", ratio_s,
                     ratio_e);
  out +=
      fmt::format("  {:<44} {:>11.3f}x {:>11.3f}x\n", "speed-up (sparsity features on vs off)", sp_s, sp_e);
  return out;
}

// Prints the figures. headline.txt keeps them with the wall time of the run that computed them: a
// rerun that reuses every stage and arrives at the same figures leaves it as it is and says so.
void write_headline(const Options& o, const std::string& figures, bool all_reused, double wall) {
  const std::string path = o.out + "/headline.txt";
  std::string old;
  if (fs::is_regular_file(path)) old = read_text<DataError>(path);
  std::string where =
      fmt::format("everything is in {}/ (runs, traces, energy-*.json, firing.csv, sim/, plots/)", o.out);
  std::cout << figures;
  if (all_reused && old.rfind(figures, 0) == 0 && old.size() > figures.size()) {
    std::string first = old.substr(figures.size() + 1);  // "wall time N s; everything is in ..."
    std::cout << fmt::format(
        "\nthis rerun: {:.0f} s, finished stages reused; {} keeps the run that computed "
        "these figures ({})\n{}\n",
        wall, path, first.substr(0, first.find(';')), where);
    return;
  }
  std::string tail = fmt::format("\nwall time {:.0f} s; {}\n", wall, where);
  std::cout << tail;
  atomic_write(path, figures + tail);
}

}  // namespace

void run(const Options& o) {
  auto t_start = Clock::now();
  if (o.threads > 0) omp_set_num_threads(o.threads);
  fs::create_directories(o.out + "/runs");
  fs::create_directories(o.out + "/traces");
  fs::create_directories(o.out + "/sim");
  fs::create_directories(o.out + "/plots");
  std::vector<Side> sides(2);
  sides[0].name = "standard", sides[0].label = "standard";
  sides[1].name = "eat", sides[1].label = fmt::format("EAT (λ={:g}, σ={:g})", o.lambda, o.sigma);
  bool all_reused = true;  // training and traces all reused: a rerun, whose figures are the first run's
  for (int s = 0; s < 2; ++s) all_reused = train_side(o, sides[s], s) && all_reused;
  all_reused = export_traces(o, sides) && all_reused;
  estimate_energy(o, sides);
  simulate_sides(o, sides);
  if (o.plots) draw_plots(o, sides);
  const std::string figures = layer_table(o, sides) + headline_table(o, sides);
  const double wall = std::chrono::duration<double>(Clock::now() - t_start).count();
  write_headline(o, figures, all_reused, wall);
}

}  // namespace eatsim::demo
