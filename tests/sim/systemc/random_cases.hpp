// Random cases for the clocked-model tests: hardware configs drawn within the schema (every
// dataflow, datatype, buffering, DRAM, PPU and — where the engine accepts them — sparsity setting),
// single-layer rows of random shape, and operand values with random or clustered zeros.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sim/hwconfig.hpp"
#include "sim/network.hpp"

namespace eatsim::test {

struct RandomHw {
  sim::HwConfig hw;
  std::string text;  // preset and --set overrides: enough to rebuild it
  bool sparse = false;
};

// A random valid config. Sparse settings are drawn too; when the engine refuses them
// (check_supported), they are switched off and `sparse` is false.
RandomHw random_hw(std::mt19937& rng, int max_dim = 12);

// A conv or linear row of random geometry with PPU work, residual and write-back.
sim::LayerGroup random_row(std::mt19937& rng, const std::string& name);

// Operand values: weights dense-ish, inputs with zeros independent, in channel runs, or in blobs.
struct RowData {
  std::vector<float> ifmap, weights;
  std::string pattern;
  sim::LayerData view() const {
    sim::LayerData d;
    d.ifmap = ifmap.data(), d.weights = weights.data();
    return d;
  }
};
RowData random_data(std::mt19937& rng, const sim::LayerGroup& row);

// "counter: fast=A cycle=B" for every counter that differs, "" when all agree.
std::string counter_diff(const sim::Counters& fast, const sim::Counters& cycle);

}  // namespace eatsim::test
