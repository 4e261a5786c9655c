// Private to the Net's sources (net.cpp, net_plan.cpp, net_state.cpp): the plan sized by one batch
// and the Net's state behind its pimpl. Includes oneDNN through layer.hpp: not for other headers.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "trainer/fusion_plan.hpp"
#include "trainer/grad_memory.hpp"
#include "trainer/layers/layer.hpp"
#include "trainer/net.hpp"

namespace eatsim {

namespace trainer {

// Gradient of an edge with several consumers: all but the first to run backward write here, and
// the buffer is added into the edge's gradient right after that consumer's backward.
struct Accum {
  int edge;
  memory scratch;
  dnnl::binary add;
};

// Everything sized by the batch: edges, layers, gradient-accumulation buffers.
struct Plan {
  int batch = 0;
  bool backward = false;                       // gradient buffers and backward primitives built
  std::vector<Act> acts;                       // [0] = graph input, [1 + i] = output of node i
  std::vector<std::unique_ptr<Layer>> layers;  // by node index
  std::vector<std::vector<Accum>> accum;       // by node index, run after its backward
  std::vector<std::shared_ptr<void>> slabs;    // shared gradient memory (see share_diffs)
  std::vector<char> clobbered;                 // by node: output overwritten in place by its ReLU
                                               // (or never written: a BN computing its ReLU)
  bool inplace = false;                        // some node is clobbered
};

// How one node's inputs take their gradients (net_plan.cpp).
struct InputWiring {
  std::vector<Act*> ins;
  std::vector<memory> diff_in;
  int alias_edge = -1;                 // an input edge whose gradient is the output's gradient buffer
  std::vector<size_t> accum_from_out;  // accumulations (index in the node's accum) read from it
};

}  // namespace trainer

struct Net::Impl {
  using Plan = trainer::Plan;
  Graph g;
  trainer::Env env;
  std::vector<trainer::Param> params;  // state_dict order
  std::vector<ParamInfo> infos;
  std::unordered_map<std::string, size_t> by_key;
  std::vector<std::unique_ptr<Plan>> plans;  // the current plan (one at a time: net_plan.cpp)
  Plan* cur = nullptr;
  bool debug_grads = false;
  bool fast_conv = false;
  bool last_train = false;
  PenaltyConfig pen;
  std::vector<int> pen_nodes;
  std::vector<double> pen_weights;      // per penalised node; empty: all 1
  std::vector<double> pen_sums;         // per penalised node, last forward
  std::vector<trainer::PenSlot> slots;  // per node: penalty state shared with fusing layers
  trainer::GraphUses uses;              // consumers and penalty_by per node
  mutable std::vector<float> probs;
  bool profiling = false;
  mutable std::map<std::string, double> prof;  // seconds by layer type (set_profile)

  double reorder_s = 0;  // profiling: layout conversions inside layers (Port), running total

  // Runs f, adding its wall time to prof[what] when profiling; the layout conversions inside go
  // to prof["reorder"] instead.
  template <class F>
  void timed(const char* what, F&& f) {
    if (!profiling) return f();
    double r0 = reorder_s;
    auto t0 = std::chrono::steady_clock::now();
    f();
    env.s.wait();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    prof[what] += dt - (reorder_s - r0);
    prof["reorder"] += reorder_s - r0;
  }

  trainer::Param* find(const std::string& key) {
    auto it = by_key.find(key);
    return it == by_key.end() ? nullptr : &params[it->second];
  }

  // Plans (net_plan.cpp). A training plan serves eval forwards too; an eval-only plan has no
  // gradient buffers. all_edges: every edge must survive the forward (no fusion, no in-place ReLU).
  Plan& plan_for(int n, bool backward, bool all_edges = false);
  std::unique_ptr<Plan> build(int n, bool backward, bool all_edges);
  trainer::InputWiring wire_inputs(Plan& p, const trainer::GradWriters& w, int i);
  trainer::memory new_diff(const trainer::md& d);
  void share_diffs(Plan& p, const trainer::GradWriters& w);

  // Passes (net.cpp).
  static float* ptr(const trainer::memory& m) { return static_cast<float*>(m.get_data_handle()); }
  // Elements in the buffer, padding of blocked layouts included (it holds zeros, which add 0).
  static int64_t buf_elems(const trainer::Act& a) {
    return static_cast<int64_t>(a.desc.get_size() / sizeof(float));
  }
  void forward(const float* x, int n, bool train, bool all_edges = false);
  double penalty_value(std::vector<float>* scales) const;
  void need_forward(const char* what) const {
    if (!cur) throw std::logic_error(std::string(what) + " before any forward");
  }
  LossParts loss(const int64_t* labels) const;
  void backward_core(const float* d_output);
  void seed_gradients(const float* d);
  void write_output_diff(const float* d, bool add);
  Tensor to_plain(const trainer::Act& a, const trainer::memory& m) const;

  // Parameters (net_state.cpp).
  void init_params(uint64_t seed);
};

}  // namespace eatsim
