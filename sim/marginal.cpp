// Energy per non-zero by differencing two simulations: see marginal.hpp.
#include "sim/marginal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "base/errors.hpp"
#include "sim/quant.hpp"
#include "sim/run.hpp"
#include "sim/trace_data.hpp"
#include "traces/trace.hpp"

namespace eatsim::sim {
namespace {

// a·fa + b·fb, component by component.
EnergyBreakdown mix(const EnergyBreakdown& a, double fa, const EnergyBreakdown& b, double fb) {
  EnergyBreakdown r;
  r.mac = a.mac * fa + b.mac * fb;
  r.mac_gated = a.mac_gated * fa + b.mac_gated * fb;
  r.psum_add = a.psum_add * fa + b.psum_add * fb;
  r.reg = a.reg * fa + b.reg * fb;
  for (int i = 0; i < kNumBufs; ++i) r.sram[i] = a.sram[i] * fa + b.sram[i] * fb;
  r.dram = a.dram * fa + b.dram * fb;
  r.ppu = a.ppu * fa + b.ppu * fb;
  r.leakage = a.leakage * fa + b.leakage * fb;
  r.frontend = a.frontend * fa + b.frontend * fb;
  r.realign = a.realign * fa + b.realign * fb;
  r.metadata = a.metadata * fa + b.metadata * fb;
  return r;
}

// Mean energy per sample of a run.
EnergyBreakdown mean_energy(const SimResult& r) {
  EnergyBreakdown sum;
  std::vector<Counters> t = r.totals();
  for (const Counters& c : t) sum = mix(sum, 1.0, energy_of(r.energy, c), 1.0);
  return mix(sum, 1.0 / double(std::max<size_t>(1, t.size())), sum, 0.0);
}

// `fraction` of each sample's non-zeros (as the datatype quantises them) set to zero, at random.
std::vector<float> thin(const TraceData::View& v, DataType type, int64_t samples, double fraction,
                        uint64_t seed, double* removed) {
  std::vector<float> out(v.data->begin(), v.data->begin() + samples * v.per_sample);
  const Quant q = make_quant(type, v.max_abs, v.nonneg);  // the scale stays the trace's: only zeros change
  std::mt19937_64 rng(seed);
  int64_t gone = 0;
  std::vector<int64_t> nz;
  for (int64_t s = 0; s < samples; ++s) {
    float* x = out.data() + s * v.per_sample;
    nz.clear();
    for (int64_t i = 0; i < v.per_sample; ++i)
      if (!quantises_to_zero(q, x[i])) nz.push_back(i);
    const auto k = static_cast<int64_t>(std::llround(fraction * double(nz.size())));
    for (int64_t j = 0; j < k; ++j) {  // a partial Fisher-Yates shuffle picks k distinct ones
      std::uniform_int_distribution<int64_t> pick(j, int64_t(nz.size()) - 1);
      std::swap(nz[size_t(j)], nz[size_t(pick(rng))]);
      x[nz[size_t(j)]] = 0.0f;
    }
    gone += k;
  }
  if (removed) *removed = double(gone) / double(std::max<int64_t>(1, samples));
  return out;
}

SimOptions options(const TraceData& values, int64_t samples) {
  SimOptions so;
  so.samples = samples;
  so.weights = values.weight_cache();
  return so;
}

const TraceData::View& tensor_view(const TraceData& values, const std::string& where,
                                   const std::string& name) {
  const TraceData::View* v = values.find(name);
  if (!v)
    throw DataError(
        fmt::format("{}: no GEMM row reads or writes '{}' (a node output the simulator sees)", where, name));
  return *v;
}

int64_t sample_count(const TraceReader& tr, int64_t asked) {
  const int64_t total = tr.manifest().num_samples();
  return asked > 0 ? std::min(asked, total) : total;
}

}  // namespace

EnergyBreakdown network_energy(const HwConfig& hw, const Graph& g, const TraceData& values, int64_t samples) {
  DataSource src = values.source();
  return mean_energy(simulate_network(hw, g, options(values, samples), &src));
}

EnergyBreakdown thinned_energy(const HwConfig& hw, const Graph& g, const TraceData& values,
                               const std::string& tensor, double fraction, uint64_t seed, int64_t samples,
                               double* removed) {
  const TraceData::View& v = tensor_view(values, g.name, tensor);
  const std::vector<float> thinned = thin(v, hw.array.datatype, samples, fraction, seed, removed);
  const float* base = v.data->data();
  const int64_t per = v.per_sample;
  // The values, with every pointer into the tensor's sample moved to the thinned copy.
  DataSource src = [&](int node, int64_t s) {
    LayerData d = values.layer(node, s);
    const float* from = base + s * per;
    const float* to = thinned.data() + s * per;
    auto swap_in = [&](const float*& p) {
      if (p == from) p = to;
    };
    swap_in(d.ifmap);
    swap_in(d.output);
    for (auto& w : d.written) swap_in(w.data);
    for (auto& r : d.residuals) swap_in(r.data);
    return d;
  };
  return mean_energy(simulate_network(hw, g, options(values, samples), &src));
}

MarginalResult marginal_energy(const HwConfig& hw, const Graph& g, const TraceData& values, int64_t samples,
                               const std::vector<std::string>& tensors, const MarginalOptions& o,
                               const std::string& where) {
  if (!(o.fraction > 0 && o.fraction <= 1))
    throw UsageError(fmt::format("--fraction {}: must be in (0, 1]", o.fraction));
  MarginalResult r;
  r.hw = hw.name, r.trace = where, r.samples = samples;
  r.energy = network_energy(hw, g, values, samples);
  for (const std::string& name : tensors) {
    MarginalRow row;
    row.tensor = name;
    if (!values.find(name)) {
      if (g.find(name) < 0) throw DataError(fmt::format("{}: the graph has no node '{}'", where, name));
      row.seen = false;
      r.rows.push_back(row);
      continue;
    }
    const TraceData::View& v = tensor_view(values, where, name);
    row.elements = v.per_sample;
    const Quant q = make_quant(hw.array.datatype, v.max_abs, v.nonneg);
    int64_t nz = 0;
    for (int64_t i = 0; i < samples * v.per_sample; ++i) nz += !quantises_to_zero(q, (*v.data)[size_t(i)]);
    row.nonzero = double(nz) / double(std::max<int64_t>(1, samples));
    const EnergyBreakdown t = thinned_energy(hw, g, values, name, o.fraction, o.seed, samples, &row.removed);
    row.delta = mix(r.energy, 1.0, t, -1.0);
    r.rows.push_back(row);
  }
  return r;
}

MarginalResult marginal_energy(const HwConfig& hw, const TraceReader& tr,
                               const std::vector<std::string>& tensors, const MarginalOptions& o) {
  const int64_t samples = sample_count(tr, o.samples);
  TraceData values(tr, samples);
  return marginal_energy(hw, tr.graph(), values, samples, tensors, o, tr.dir());
}

}  // namespace eatsim::sim
