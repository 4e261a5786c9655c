// Synthetic traces: any model graph, with the density and clustering of ReLU outputs under control,
// so simulator work and sweeps need no trained network. Generators are described in FORMAT.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "traces/npy.hpp"

namespace eatsim {

enum class Clustering { independent, channel, blob };
bool clustering_from_name(const std::string& s, Clustering& out);
const char* clustering_name(Clustering c);

struct SynthOptions {
  int64_t samples = 8;
  uint64_t seed = 1;
  // Density of every ReLU output: "0.4" (all), "0.6..0.2" (linear ramp over ReLUs in execution
  // order), "0.5,0.4,..." (one per ReLU), each optionally followed by ",name=0.3" overrides.
  std::string density = "0.5";
  Clustering clustering = Clustering::independent;
  double run_length = 8.0;  // channel: mean length of a zero run along channels
  int blob_radius = 2;      // blob: smoothing radius in pixels
  double weight_density = 1.0;
  DType dtype = DType::f32;
};

// Resolves the density spec to one value per ReLU node (indexed like graph.nodes; -1 elsewhere).
// Throws UsageError on a malformed spec.
std::vector<double> resolve_density(const Graph& g, const std::string& spec);
// The nodes whose output density --density sets: relu, relu6, hardtanh from 0.
bool density_settable(const Node& n);

// Writes a synthetic trace to `dir` (atomically; refuses an existing dir unless replace).
void write_synthetic_trace(const Graph& g, const SynthOptions& o, const std::string& dir, bool replace,
                           const std::string& producer);

// A small deterministic generator (splitmix64 + xoshiro256**) so traces are identical everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  double uniform();  // [0, 1)
  double normal();   // Box-Muller
 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace eatsim
