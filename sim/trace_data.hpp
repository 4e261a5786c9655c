// The values the sparse features read, from a trace: each GEMM node's input, weights, bias and
// recorded output for the first N samples, loaded once, with every tensor's max|x| (and sign) over
// ALL samples of the trace for quantisation. Read-only after construction: threads may share it.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sim/result.hpp"
#include "sim/sparse.hpp"
#include "traces/trace.hpp"

namespace eatsim::sim {

class TraceData {
 public:
  TraceData(const TraceReader& tr, int64_t samples);
  // The same from tensors in memory (a trainer's edges and weights): `load(name)` gives a tensor's
  // values for `total` samples back to back (or a parameter's), empty when there is none; `where`
  // names the source in messages.
  using Loader = std::function<std::vector<float>(const std::string& name)>;
  TraceData(const Graph& g, const Loader& load, int64_t total, int64_t samples, const std::string& where);
  LayerData layer(int node, int64_t sample) const;
  // A DataSource that reads this object (which must outlive it).
  DataSource source() const;
  // The scans of these weights, kept for every run on these values (thread-safe).
  WeightCache* weight_cache() const { return &weights_; }
  // A loaded tensor by name (kept samples back to back, or the parameter); null when no GEMM row
  // reads or writes it.
  struct View {
    const std::vector<float>* data;
    int64_t per_sample;
    double max_abs;
    bool nonneg;
  };
  const View* find(const std::string& name) const;

 private:
  struct Tensor {
    std::vector<float> data;  // kept samples (or the parameter)
    int64_t per_sample = 0;
    double max_abs = 0;
    bool nonneg = true;
  };
  std::map<std::string, Tensor> t_;
  std::map<std::string, View> views_;
  struct Node {
    const Tensor *in = nullptr, *w = nullptr, *b = nullptr, *out = nullptr;
    std::vector<const Tensor*> written;    // the row's written-back tensors (compression sizes them)
    std::vector<const Tensor*> residuals;  // the row's residual operands (likewise)
  };
  std::map<int, Node> nodes_;
  mutable WeightCache weights_;
};

}  // namespace eatsim::sim
