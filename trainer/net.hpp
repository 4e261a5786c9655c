// A trainable network built from any model Graph, on oneDNN primitives (hidden behind a pimpl so
// this header stays free of dnnl.hpp). Parameters are plain PyTorch-layout tensors named by
// state_dict keys; activations cross this boundary only as plain NCHW (or (N, F)) float tensors.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "trainer/penalty.hpp"
#include "trainer/tensor.hpp"

namespace eatsim {

// With fast convolutions, the layers that may run Winograd: 3x3, stride 1, at least 16 input
// channels (with fewer, oneDNN's Winograd pads the channels and is ~4x slower than direct; stride-2
// layers cannot use it). Others stay direct.
bool winograd_suits(const Node& conv, int64_t in_channels);

// Arithmetic of the convolutions and linear layers (trainer/README.md says what runs in which type).
enum class Precision { fp32, bf16 };
const char* precision_name(Precision p);
Precision parse_precision(const std::string& s);  // "fp32" | "bf16"; UsageError otherwise
// Whether oneDNN runs bf16 kernels natively here (avx512_bf16 or AMX, after ONEDNN_MAX_CPU_ISA).
bool cpu_has_bf16();
// UsageError naming the option and the fix where !cpu_has_bf16().
void require_bf16_cpu();

struct LossParts {
  double loss = 0;      // ce + λ·penalty
  double ce = 0;        // mean softmax cross-entropy over the batch
  double penalty = 0;   // P (before λ); 0 when λ = 0
  int64_t correct = 0;  // argmax(logits) == label
};

// One trainable tensor: value and gradient in the PyTorch layout, owned by the Net.
struct ParamRef {
  const ParamInfo* info;
  float* value;
  float* grad;  // overwritten by every backward
  int64_t size;
};

class Net {
 public:
  // Parameters are initialised as PyTorch does (kaiming-uniform conv/linear, BN 1/0, stats 0/1).
  explicit Net(Graph g, uint64_t seed = 0);
  ~Net();
  Net(Net&&) noexcept;
  Net& operator=(Net&&) noexcept;

  const Graph& graph() const;

  // EAT loss; validates (UsageError) and resolves the layer selection.
  void set_penalty(const PenaltyConfig& c);
  const PenaltyConfig& penalty() const;
  const std::vector<int>& penalised_nodes() const;  // node indices
  // A factor on each penalised node's term (penalised_nodes() order; hardware in the loop). Empty:
  // all 1, the plain penalty. Reset by set_penalty. std::invalid_argument on a size mismatch.
  void set_penalty_weights(std::vector<double> w);
  const std::vector<double>& penalty_weights() const;
  // Convolution algorithm: direct (default) or fast, which lets oneDNN use Winograd F(4x4, 3x3)
  // for the layers winograd_suits (≈2x faster convolutions at ResNet18 width 1, batch 128;
  // gradients then differ from PyTorch's by up to ~1e-2 relative in some layers).
  void set_fast_conv(bool on);
  // bf16: convolutions and linear layers multiply bf16 activations, weights and output gradients
  // with fp32 accumulation; parameters, their gradients, every other layer, the loss and the
  // penalty stay fp32. No Winograd in bf16 (direct convolutions, on AMX where present). Throws
  // UsageError where the CPU has no bf16 instructions (oneDNN would not run bf16 kernels).
  void set_precision(Precision p);
  Precision precision() const;

  // Keep every edge's gradient after backward and compute the graph input's too (tests, debugging).
  // Off by default: gradient buffers are then shared between edges whose lifetimes do not overlap.
  void set_debug_grads(bool on);

  // Opt-in wall-clock timing by layer type (benchmarks): seconds summed over forwards and
  // backwards per op name ("conv2d", ...), plus "penalty" (passes not fused into a ReLU),
  // "grad-accum" (residual gradient sums) and "loss". Switching it on resets the sums; it
  // adds one stream wait per layer.
  void set_profile(bool on);
  std::map<std::string, double> profile() const;

  // x: (n, C, H, W) plain. train: batch statistics, BN running statistics updated; eval: running
  // statistics. Primitives and buffers are built once per batch size and reused.
  void forward(const float* x, int n, bool train);
  // Loss of the last forward (CE on the output node + λ·P) without backward.
  LossParts loss(const int64_t* labels) const;
  // Loss of the last (training) forward, then backward: parameter gradients are overwritten. A
  // non-finite loss is returned without a backward pass (the gradients are then stale).
  LossParts backward(const int64_t* labels);
  // Backward from a given gradient of the output node (plain layout); λ·P's gradient is added.
  void backward_from(const float* d_output);
  // forward(train) + backward(labels).
  LossParts train_step(const float* x, const int64_t* labels, int n);

  // Results of the last forward, plain layouts. node = -1 is the graph input. In training plans
  // (unless set_debug_grads) a ReLU overwrites its input in place when nothing else reads it and
  // it is not penalised; edge() of such a node throws std::logic_error (infer_edges keeps all).
  Tensor output() const;
  Tensor edge(int node) const;
  Tensor edge_grad(int node) const;  // after a backward; needs set_debug_grads(true)
  // Eval-mode inference handing back every edge: [0] = input, [1 + i] = output of node i.
  std::vector<Tensor> infer_edges(const float* x, int n);
  // The same, one edge at a time (node -1 is the input): only one plain copy lives at once.
  void infer_each_edge(const float* x, int n, const std::function<void(int node, const Tensor&)>& each);
  // Per penalised node (penalised_nodes() order): mean of x²/(x²+σ) in the last forward.
  std::vector<double> layer_penalties() const;
  // Per node (graph order): elements of its output in the last forward with |x| > threshold, and
  // the element count (batch included). Firing % = nonzeros / numel; the sponge model uses 2^-126.
  // -1 for a node whose output its ReLU overwrote in place (see edge()).
  std::vector<int64_t> nonzero_counts(float threshold = 0.0f) const;
  // The same for the listed nodes only (in that order): training's eval counts just the ReLUs.
  std::vector<int64_t> nonzero_counts(const std::vector<int>& nodes, float threshold = 0.0f) const;
  int64_t edge_numel(int node) const;
  // Bytes held by the current batch size's plan: activations (every edge) and gradient buffers.
  int64_t activation_bytes() const;
  int64_t gradient_bytes() const;
  // Plans held: one at a time (another batch size or kind replaces the current one).
  size_t plans_held() const;

  // Parameters and buffers by state_dict key (plain layouts; num_batches_tracked as a float).
  const std::vector<ParamInfo>& param_info() const;
  std::map<std::string, Tensor> state() const;
  Tensor get(const std::string& key) const;
  // Checks the key and shape (DataError naming the tensor).
  void set(const std::string& key, const Tensor& t);
  // Every key of the graph must be present with the right shape; extra keys are rejected.
  void load_state(const std::map<std::string, Tensor>& s, const std::string& where = "state");
  std::vector<ParamRef> trainable();
  float* param(const std::string& key);  // nullptr when absent
  float* grad(const std::string& key);   // nullptr for buffers

 private:
  struct Impl;
  std::unique_ptr<Impl> p_;
};

}  // namespace eatsim
