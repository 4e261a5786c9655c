// Sponge estimator output: a JSON report (shaped like the fixture's expected_*.json), a per-layer
// CSV, per-layer energies, and the firing CSV. Plain text writers; no JSON library needed.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "sim/estimator/firing.hpp"

namespace eatsim::sponge {

// A layer's share of the estimate's energy: worst case with all counts; optimised with its
// non-zero counts and the network-wide f (so layer energies sum to the totals).
double layer_energy_worst_pj(const LayerCount& l);
double layer_energy_opt_pj(const LayerCount& l, double f);

void write_json(std::ostream& o, const Report& r, const std::string& trace, const std::string& model);
void write_layer_csv(std::ostream& o, const Report& r);

// One trace's firing, or two side by side (b may be null); rows are matched by node name.
void write_firing_csv(std::ostream& o, const Firing& a, const Firing* b);

}  // namespace eatsim::sponge
