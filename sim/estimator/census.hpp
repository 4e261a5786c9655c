// Non-zero counts of every tensor the sponge estimator needs: per sample for activations, once for
// parameters. Built from a trace, or from in-memory tensors (the trainer, each epoch).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/graph.hpp"

namespace eatsim {
class TraceReader;
}

namespace eatsim::sponge {

// |x| above this counts as non-zero: 2^-126 (32-bit), 2^-30 (16-bit), 2^-14 (8-bit), as in the
// original estimator; the width changes nothing else. Other widths throw UsageError.
double nonzero_threshold(int bits);

// Counts one activation tensor (graph input or node output).
struct ActCounts {
  int64_t numel = 0;         // elements per sample
  std::vector<int64_t> nnz;  // non-zeros, one entry per sample
  int64_t nnz_sum(int64_t first, int64_t count) const;
};

struct ParamCounts {
  int64_t numel = 0, nnz = 0;
};

struct Census {
  Graph graph;
  int bits = 32;
  ActCounts input;
  std::vector<ActCounts> nodes;               // indexed like graph.nodes
  std::map<std::string, ParamCounts> params;  // by state_dict key
  int64_t num_samples() const { return static_cast<int64_t>(input.nnz.size()); }
  const ActCounts& act(int node) const { return node < 0 ? input : nodes[node]; }
};

// Non-zeros among n values under a threshold from nonzero_threshold().
int64_t count_nonzero(const float* x, int64_t n, double threshold);

// Collects counts from tensors in memory. Activations may arrive in several batches (they are
// appended in order); parameters are set once. finish() checks that every tensor of the graph is
// there with the same number of samples.
class CensusBuilder {
 public:
  CensusBuilder(const Graph& g, int bits);
  double threshold() const { return thr_; }
  // `samples` samples of node `node` (-1: the graph input), samples outermost, each sample's
  // numel(shape) values contiguous without padding (NCHW or NHWC alike: only counts are taken).
  void add_activation(int node, const float* data, int64_t samples);
  void add_activation(const std::string& name, const float* data, int64_t samples);  // "input" or a node name
  // Counts taken elsewhere (e.g. in a pass that already reads the tensor): one non-zero count per
  // sample, each made with threshold().
  void add_counts(int node, const int64_t* nnz_per_sample, int64_t samples);
  // A parameter or buffer by state_dict key; its element count must match the graph's.
  void set_param(const std::string& key, const float* data, int64_t n);
  void set_param_i64(const std::string& key, const int64_t* data, int64_t n);  // num_batches_tracked
  void set_param_counts(const std::string& key, int64_t numel, int64_t nnz);
  Census finish() const;

 private:
  Census c_;
  double thr_;
  void check_param(const std::string& key, int64_t n) const;
};

// Reads every activation and parameter tensor of a trace once (streaming) and counts non-zeros of
// the dequantised values.
Census census_from_trace(const TraceReader& r, int bits);

}  // namespace eatsim::sponge
