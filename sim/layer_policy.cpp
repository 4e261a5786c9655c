// The per-layer sparsity policy; see layer_policy.hpp.
#include "sim/layer_policy.hpp"

#include <fmt/format.h>

#include "base/errors.hpp"

namespace eatsim::sim {

HwConfig calibration_hw(const HwConfig& hw) {
  HwConfig always = hw;
  always.sparsity.policy = SparsityPolicy::always;
  return always;
}

std::map<std::string, bool> calibrate_layers(const SimResult& r, const SimResult& cal) {
  const std::string& dir = r.hw.sparsity.calibration;
  auto same = [&] {
    if (r.layers.size() != cal.layers.size()) return false;
    for (size_t i = 0; i < r.layers.size(); ++i) {
      const LayerGroup &x = r.layers[i].group, &y = cal.layers[i].group;
      const GemmShape &a = x.shape, &b = y.shape;
      if (x.name != y.name || a.M != b.M || a.K != b.K || a.N != b.N) return false;
    }
    return true;
  };
  if (!same())
    throw ConfigError(
        fmt::format("{}: sparsity.calibration: the trace is of network '{}' with other layers than '{}' "
                    "(calibrate on a trace "
                    "of the network simulated)",
                    dir, cal.model, r.model));
  const EnergyTable& t = r.energy;
  std::map<std::string, bool> on;
  for (const LayerRecord& l : cal.layers) {
    double with = 0, without = 0;
    for (size_t s = 0; s < l.samples.size(); ++s)
      with += energy_of(t, l.samples[s]).total(), without += energy_of(t, l.dense[s]).total();
    on[l.group.name] = with < without;
  }
  return on;
}

void apply_layer_policy(SimResult& r, const std::map<std::string, bool>& on) {
  for (LayerRecord& l : r.layers) {
    auto it = on.find(l.group.name);
    l.sparsity_on = it == on.end() || it->second ? 1 : 0;
    if (!l.sparsity_on) l.samples = l.dense, l.verified.clear();
  }
}

std::string describe_layer_policy(const SimResult& r) {
  if (r.hw.sparsity.policy != SparsityPolicy::per_layer || !r.hw.sparsity.any()) return "";
  std::string on, off;
  for (const LayerRecord& l : r.layers) {
    std::string& list = l.sparsity_on ? on : off;
    list += (list.empty() ? "" : ", ") + l.group.name;
  }
  return fmt::format("sparsity per layer (calibrated on {}): on in {}; off in {}\n",
                     r.hw.sparsity.calibration, on.empty() ? "none" : on, off.empty() ? "none" : off);
}

}  // namespace eatsim::sim
