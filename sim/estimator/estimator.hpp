// The paper's analytical energy estimator ("sponge" model, Shumailov et al. 2021, reused by the EAT
// authors): E = 1950 pJ x elements moved + 3.7 pJ x ops x f. Conventions: docs/energy-estimator.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/estimator/census.hpp"

namespace eatsim::sponge {

constexpr double kPjPerElement = 1950.0;  // one tensor element moved to or from DRAM
constexpr double kPjPerOp = 3.7;          // one fp32 multiply (a MAC counts as one op)

// reference: what the original estimator reports on the kuangliu PyTorch models (module nodes only,
// in-place ReLU inputs counted after rectification, BN buffers + num_batches_tracked + 2C surcharge).
// graph: every node of the graph, inputs counted before the node runs, BN counted as its 4C tensors.
enum class Convention { reference, graph };
// whole: one pass over the samples (parameters once, activations N times); per_sample: mean of
// per-sample ratios; per_batch: mean of per-batch ratios (the last batch may be smaller).
enum class Reduction { whole, per_sample, per_batch };
const char* convention_name(Convention c);
const char* reduction_name(Reduction r);
Convention convention_from_name(const std::string& s);  // UsageError when unknown
Reduction reduction_from_name(const std::string& s);    // UsageError when unknown

// One counted layer call over a chunk of samples.
struct LayerCount {
  int node = -1;
  std::string name;  // graph node name (= PyTorch module path for module nodes)
  std::string type;  // PyTorch class name the original reports (Conv2d, BatchNorm2d, Sequential, ...)
  std::string rule;  // how ops were counted, e.g. "conv2d:out.numel*kh*kw*Cin"
  Shape in_shape, out_shape;  // batched; in_shape is the first input's
  int64_t in_total = 0, in_nnz = 0, out_total = 0, out_nnz = 0;
  int64_t param_total = 0, param_nnz = 0;  // surcharge included
  // BN's second read of its running statistics (reference only): 2C more elements, of which the
  // non-zeros of running_mean and running_var count as non-zero, as the original adds them.
  int64_t surcharge = 0, surcharge_nnz = 0;
  int64_t ops = 0;
  bool supported = true;  // false: the original has no op rule for it (0 ops), e.g. identity
};

struct Totals {
  int64_t param_total = 0, param_nnz = 0, in_total = 0, in_nnz = 0, out_total = 0, out_nnz = 0, ops = 0;
};

struct Estimate {
  int64_t first = 0, samples = 0;  // the chunk: samples [first, first + samples)
  Totals totals;
  double energy_worst_pj = 0, energy_opt_pj = 0, ratio = 1;
  double weight_density = 1, input_density = 1;  // f = weight_density * input_density
  double f() const { return weight_density * input_density; }
  std::vector<LayerCount> layers;
};

// Energy of given totals (worst: all counts, f = 1; optimised: non-zeros, f = densities).
Estimate energy_of(const Totals& t);

// One pass over samples [first, first + count).
Estimate estimate(const Census& c, Convention conv, int64_t first, int64_t count, bool keep_layers = true);

struct Options {
  Convention convention = Convention::reference;
  Reduction reduction = Reduction::whole;
  int64_t batch = 0;  // per_batch: samples per batch (> 0)
};

struct Report {
  Options options;
  int bits = 32;
  Estimate whole;                // always computed: one pass over every sample, with layers
  std::vector<Estimate> chunks;  // per_sample / per_batch: one per chunk (no layers)
  double ratio = 1;              // the reduction's figure: whole.ratio or the mean over chunks
  double ratio_std = 0;          // population std over chunks (0 for whole)
  double energy_worst_mean_pj = 0, energy_opt_mean_pj = 0;  // per chunk (whole: the pass)
};

Report analyse(const Census& c, const Options& o);

// The trainer's per-epoch figure: the estimator's ratio on a census of a validation subset.
inline double energy_ratio(const Census& c, const Options& o = {}) { return analyse(c, o).ratio; }

}  // namespace eatsim::sponge
