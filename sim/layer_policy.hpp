// The per-layer sparsity policy (`sparsity.policy: per-layer`): each layer keeps gate, skip and
// compression only where they save energy on a calibration trace of the same network, as a real
// design sets per-layer enable bits from a profiling run. The choice depends on the hwconfig and
// the calibration trace only, so it is reproducible from the two.
#pragma once
#include <map>
#include <string>

#include "sim/result.hpp"

namespace eatsim::sim {

// The hardware the calibration trace runs on: hw with the features on in every layer.
HwConfig calibration_hw(const HwConfig& hw);

// Report-row name -> whether the features save energy there, from `cal`, the calibration trace
// simulated on calibration_hw(r.hw) (with every row also dense): mean energy over its samples, the
// front end powered either way. ConfigError when that trace is not of the network `r` simulated.
std::map<std::string, bool> calibrate_layers(const SimResult& r, const SimResult& cal);

// A layer that turns its features off runs as the same hardware with them off: its counters
// become its dense twin's. Sets LayerRecord::sparsity_on on every row.
void apply_layer_policy(SimResult& r, const std::map<std::string, bool>& on);

// One line for the terminal: where the features are on and off ("" under policy always).
std::string describe_layer_policy(const SimResult& r);

}  // namespace eatsim::sim
