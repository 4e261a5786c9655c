// Hardware in the loop: see hw_loop.hpp.
#include "trainer/hw_loop.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/hwconfig.hpp"
#include "sim/marginal.hpp"
#include "sim/trace_data.hpp"
#include "trainer/data/batcher.hpp"
#include "trainer/train.hpp"

namespace eatsim {
namespace {

// The net's edges of n samples (eval mode) and its parameters, as the simulator reads a trace.
std::unique_ptr<sim::TraceData> capture(const sim::HwConfig& hw, Net& net, const float* x, int n) {
  const Graph& g = net.graph();
  auto edges = std::make_shared<std::map<std::string, std::vector<float>>>();
  net.infer_each_edge(x, n, [&](int node, const Tensor& t) {
    const std::string name = node < 0 ? "input" : g.nodes[size_t(node)].name;
    if (hw.array.datatype == sim::DataType::fp16)
      for (float v : t.data)
        if (std::fabs(v) > 65504.0f)
          throw UsageError(fmt::format(
              "--hw {}: its datatype fp16 cannot represent '{}' of this network (|x| = {} > 65504); use a "
              "configuration with int8, int16, bf16 or fp32",
              hw.name, name, std::fabs(v)));
    (*edges)[name] = t.data;
  });
  // TraceData asks for each tensor once and keeps it: hand the edge over instead of copying it.
  auto load = [&net, edges](const std::string& name) {
    auto it = edges->find(name);
    if (it != edges->end()) return std::move(it->second);
    return net.param(name) ? net.get(name).data : std::vector<float>();
  };
  return std::make_unique<sim::TraceData>(g, load, n, n, "the network in training");
}

}  // namespace

HwWeights hw_weights(const sim::HwConfig& hw, Net& net, const float* x, int n) {
  const Graph& g = net.graph();
  HwWeights w;
  for (int i : net.penalised_nodes()) w.tensors.push_back(g.nodes[size_t(i)].name);
  std::unique_ptr<sim::TraceData> values = capture(hw, net, x, n);
  sim::MarginalOptions o;
  const sim::MarginalResult m =
      sim::marginal_energy(hw, g, *values, n, w.tensors, o, "the network in training");
  w.energy_pj = m.energy.total();
  double num = 0, den = 0;
  for (size_t k = 0; k < w.tensors.size(); ++k) {
    const sim::MarginalRow& r = m.rows[k];
    const double pj = std::max(0.0, r.pj_per_nonzero());
    const int64_t elems = numel(g.nodes[size_t(net.penalised_nodes()[k])].out_shape);
    w.pj_per_nonzero.push_back(pj), w.elements.push_back(elems), w.seen.push_back(r.seen);
    num += double(elems), den += double(elems) * pj;
  }
  w.uniform = !(den > 0);
  for (double pj : w.pj_per_nonzero) w.weights.push_back(w.uniform ? 1.0 : pj * num / den);
  return w;
}

double hw_energy(const sim::HwConfig& hw, Net& net, const float* x, int n) {
  std::unique_ptr<sim::TraceData> values = capture(hw, net, x, n);
  return sim::network_energy(hw, net.graph(), *values, n).total();
}

namespace {

// The first n samples of a split, not augmented: the same every epoch.
std::vector<float> first_samples(const Batcher& b, int64_t n) {
  std::vector<float> x(static_cast<size_t>(n * b.sample_floats()));
  for (int64_t i = 0; i < n; ++i) b.render(i, false, 0, x.data() + i * b.sample_floats());
  return x;
}

}  // namespace

HwLoop::HwLoop(const TrainConfig& cfg, const Net& net) : cfg_(cfg) {
  if (!cfg.hw.empty()) {
    hw_ = std::make_unique<sim::HwConfig>(sim::load_hwconfig(cfg.hw));
    if (!(cfg.penalty.lambda > 0))
      throw UsageError(
          fmt::format("--hw {}: it weights the EAT penalty, which --lambda 0 switches off (give "
                      "--lambda > 0, or --report-hw to only report energy)",
                      cfg.hw));
    if (net.penalised_nodes().empty())
      throw UsageError(fmt::format("--hw {}: the model '{}' has no tensor --penalty-layers {} selects",
                                   cfg.hw, net.graph().name, cfg.penalty.layers));
    if (cfg.hw_samples < 1 || cfg.hw_samples > 4096)
      throw UsageError(fmt::format("--hw-samples {}: must be 1..4096", cfg.hw_samples));
  }
  const std::string report = cfg.report_hw.empty() ? cfg.hw : cfg.report_hw;
  if (!report.empty()) report_ = std::make_unique<sim::HwConfig>(sim::load_hwconfig(report));
  if (report_ && (cfg.hw_report_samples < 1 || cfg.hw_report_samples > 4096))
    throw UsageError(fmt::format("--hw-report-samples {}: must be 1..4096", cfg.hw_report_samples));
}

HwLoop::~HwLoop() = default;

void HwLoop::refresh(int epoch, Net& net, const Batcher& train, int64_t train_samples,
                     const std::string& stored) {
  if (!hw_) return;
  if (!stored.empty()) {
    std::vector<double> w;
    std::istringstream in(stored);
    for (std::string v; std::getline(in, v, ',');) w.push_back(std::stod(v));
    if (w.size() != net.penalised_nodes().size())
      throw DataError(
          fmt::format("{}/checkpoint: info.hw_weights holds {} weights for {} penalised tensors "
                      "(was it edited? start again without --resume)",
                      cfg_.out_dir, w.size(), net.penalised_nodes().size()));
    net.set_penalty_weights(std::move(w));
    return;
  }
  const int n = static_cast<int>(std::min<int64_t>(cfg_.hw_samples, train_samples));
  std::vector<float> x = first_samples(train, n);
  HwWeights w = hw_weights(*hw_, net, x.data(), n);
  net.set_penalty_weights(w.weights);
  log(epoch, w);
}

std::string HwLoop::stored(const Net& net) const {
  std::string s;
  for (double w : net.penalty_weights()) s += fmt::format("{}{}", s.empty() ? "" : ",", w);
  return s;
}

// hw_weights.csv: one row per epoch and penalised tensor; rows of later epochs (a resumed run's
// earlier attempt) are replaced.
void HwLoop::log(int epoch, const HwWeights& w) const {
  const std::string path = cfg_.out_dir + "/hw_weights.csv";
  std::string out = "epoch,tensor,elements,seen,pj_per_nonzero,weight,energy_pj_per_sample\n";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::istringstream in(read_text<DataError>(path));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line))
      if (!line.empty() && std::atoi(line.c_str()) <= epoch) out += line + "\n";
  }
  for (size_t k = 0; k < w.tensors.size(); ++k)
    out += fmt::format("{},{},{},{},{},{},{}\n", epoch + 1, w.tensors[k], w.elements[k], w.seen[k] ? 1 : 0,
                       w.pj_per_nonzero[k], w.weights[k], w.energy_pj);
  atomic_write(path, out);
}

double HwLoop::energy_uj(Net& net, const Batcher& test, int64_t test_samples) {
  if (!report_) return -1;
  const int n = static_cast<int>(std::min<int64_t>(cfg_.hw_report_samples, test_samples));
  std::vector<float> x = first_samples(test, n);
  return hw_energy(*report_, net, x.data(), n) * 1e-6;
}

}  // namespace eatsim
