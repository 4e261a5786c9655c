// Private to the trainer: the oneDNN layer interface. Each layer owns its primitive descriptors,
// primitives and conversion buffers for one batch size; edges (activations and their gradients)
// live in the Net's plan and keep the layout their producer chose (format_tag::any inside).
#pragma once
#include <dnnl.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/graph.hpp"
#include "trainer/fusion_plan.hpp"

// Element-wise kernels compiled for AVX-512 and AVX2 as well as the baseline, chosen at load time.
// Not under ThreadSanitizer: the clones' IFUNC resolvers run before its runtime is up and crash.
#if defined(__SANITIZE_THREAD__)
#define EATSIM_SIMD_CLONES
#else
#define EATSIM_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

namespace eatsim::trainer {

using dnnl::memory;
using md = dnnl::memory::desc;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct Env {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream s{eng};
  double* reorder_s = nullptr;  // profiling: Port conversions add their wall seconds here
  // Convolutions and linear layers take bf16 activations, weights and output gradients (fp32
  // accumulation inside oneDNN's kernels); their outputs, input gradients and weight gradients
  // stay fp32, as does every other layer (Net::set_precision).
  bool bf16 = false;
  dnnl::memory::data_type mm_type() const {
    return bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
  }
};

// One graph edge: a node's output (or the graph input) and the gradient of the loss w.r.t. it.
struct Act {
  md desc;      // layout chosen by the producer
  memory data;  // set by the producer's build() or allocated by the Net
  memory diff;  // same layout as data
  Shape dims;   // logical dims with batch: (N, C, H, W) or (N, F)
  int64_t numel() const { return eatsim::numel(dims); }
};

// A parameter or buffer in PyTorch layout, owned by the Net.
struct Param {
  ParamInfo info;
  std::vector<float> value, grad;  // grad empty for buffers
  int64_t count = 0;               // num_batches_tracked
};

// The EAT penalty on one node's output, for a layer that computes it inside its own passes
// (ReLU: on its output, and on its input when it is that input's only consumer).
struct PenSlot {
  bool on = false;  // penalised in the current configuration
  float sigma = 1;
  float scale = 0;  // d(λ·P)/d(Σ x²/(x²+σ)): set before backward
  double sum = 0;   // Σ x²/(x²+σ) over the batch: set by forward
};

// What a layer needs from the Net when it is built.
struct BuildArgs {
  Env& env;
  const Node& node;
  int batch;
  std::vector<Act*> in;         // input edges
  Act& out;                     // the layer sets out.desc (and may set out.data to alias an input)
  std::vector<memory> diff_in;  // where backward writes d(input i); empty memory = not needed
  Param* (*find)(void* ctx, const std::string& key);
  void* ctx;
  bool backward;       // false: an eval-only plan (no gradient buffers, no backward primitives)
  LayerPlan plan;      // fusion and in-place decisions for this layer (fusion_plan.hpp)
  PenSlot* slots;      // penalty state by node, indexed by the plan's pen_self, pen_in, pen_relu
  bool fused = false;  // set by a batchnorm2d that computes its ReLU as planned (its layout allows it)
  std::vector<memory>* scratch = nullptr;  // transient buffers that may share one allocation (Port)
  // A second such pool for conversions of an output gradient, which live while the layer's
  // backward also uses a `scratch` buffer (its weights), so they cannot share that one.
  std::vector<memory>* grad_scratch = nullptr;
  std::vector<memory>* col_scratch = nullptr;  // a third: im2col copies (conv_gemm.hpp)
  Param& param(const std::string& leaf) const { return *find(ctx, node.name + "." + leaf); }
  PenSlot* slot(int i) const { return i >= 0 ? &slots[i] : nullptr; }
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual void forward(Env& e, bool train) = 0;
  virtual void backward(Env& e) = 0;
};

std::unique_ptr<Layer> make_conv2d(BuildArgs& a);
std::unique_ptr<Layer> make_batchnorm2d(BuildArgs& a);
std::unique_ptr<Layer> make_relu(BuildArgs& a);
std::unique_ptr<Layer> make_pool2d(BuildArgs& a);  // maxpool2d, avgpool2d, global_avgpool
std::unique_ptr<Layer> make_linear(BuildArgs& a);
std::unique_ptr<Layer> make_add(BuildArgs& a);
std::unique_ptr<Layer> make_flatten(BuildArgs& a);
std::unique_ptr<Layer> make_identity(BuildArgs& a);
std::unique_ptr<Layer> make_eltwise(BuildArgs& a);  // relu6, hardtanh, sigmoid, silu, hardswish, ...
std::unique_ptr<Layer> make_dropout(BuildArgs& a);
std::unique_ptr<Layer> make_mul(BuildArgs& a);
std::unique_ptr<Layer> make_concat(BuildArgs& a);
std::unique_ptr<Layer> make_layer(BuildArgs& a);  // by a.node.op

// Plain C-order layout for dims of rank 1..4 (x, nc, ncw, nchw).
md plain_desc(const Shape& dims);
inline memory::dims to_dims(const Shape& s) { return memory::dims(s.begin(), s.end()); }

// A primitive argument whose layout the primitive chose. When it differs from the user's (edge or
// parameter) layout a buffer and a reorder convert; otherwise the user's memory is used as is.
class Port {
 public:
  // shared: the buffer lives only while one primitive runs (weights, weight gradients), so it
  // is registered in `shared` and bound later to memory all such buffers of the plan share.
  void init(Env& e, const md& user, const md& prim, std::vector<memory>* shared = nullptr);
  bool converts() const { return convert_; }
  // Input: returns memory in the primitive's layout holding `user`'s values.
  memory in(Env& e, memory user);
  // Output: the memory the primitive writes; finish() copies it to `user` when they differ.
  memory out(const memory& user) { return convert_ ? buf_ : user; }
  void finish(Env& e, memory user);

 private:
  bool convert_ = false;
  memory buf_;
  dnnl::reorder to_prim_, from_prim_;
};

// A conv2d's or linear's weight (PyTorch layout w_user) and optional bias ((O), when the node has
// one), with their gradients, as memories over the Net's parameter storage.
struct WeightMems {
  memory w, dw, b, db;
  md b_md;  // the bias's desc, empty without bias
  WeightMems(BuildArgs& a, const md& w_user);
  // Adds the bias (or its gradient) to a primitive's arguments when there is one.
  void add_bias(std::unordered_map<int, memory>& args, int arg, bool grad) const {
    if (b) args[arg] = grad ? db : b;
  }
};

// A reorder (or plain copy) between two memories of the same logical dims.
dnnl::reorder make_reorder(Env& e, const md& from, const md& to);

}  // namespace eatsim::trainer
