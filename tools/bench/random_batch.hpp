// A fixed random training batch for the trainer benchmarks (normal inputs, uniform labels).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "models/graph.hpp"

namespace eatsim::bench {

struct RandomBatch {
  std::vector<float> x;
  std::vector<int64_t> y;
  RandomBatch(const Graph& g, int batch, uint64_t seed = 2) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0, 1);
    x.resize(batch * numel(g.input_shape));
    for (auto& v : x) v = nd(rng);
    y.resize(batch);
    for (auto& v : y) v = static_cast<int64_t>(rng() % g.params.classes);
  }
};

}  // namespace eatsim::bench
