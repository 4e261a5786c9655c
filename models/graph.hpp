// The model graph both halves share: typed nodes, per-sample shapes, parameters named by
// PyTorch state_dict keys, MAC counts. Loaded from the YAML format described in models/FORMAT.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace eatsim {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[64, 32, 32]"
int64_t numel(const Shape& s);

enum class Op {
  conv2d,
  batchnorm2d,
  relu,
  maxpool2d,
  avgpool2d,
  global_avgpool,
  linear,
  add,
  flatten,
  identity,
  // element-wise activations (models/FORMAT.md says which produce exact zeros)
  relu6,
  hardtanh,
  sigmoid,
  silu,
  hardswish,
  hardsigmoid,
  leaky_relu,
  dropout,  // training only: the identity at inference
  mul,      // element-wise product; one input may be (C, 1, 1), broadcast (squeeze-and-excitation)
  concat,   // channels of two or more inputs, in input order
};
const char* op_name(Op op);
bool op_from_name(const std::string& s, Op& out);
std::string op_names();  // every op name, comma separated (for messages)
// One input, one output of the same shape, computed element by element: relu and the activations.
bool is_activation(Op op);
// Activations whose outputs hold exact zeros over a range of inputs (what gating and skipping
// use): relu, relu6, hardswish, hardsigmoid, and hardtanh when its lower bound is 0.

// Graph-level parameters; every channel count in a model file is scaled by `width`.
struct ModelParams {
  double width = 1.0;
  int in_channels = 3;
  int input_h = 32, input_w = 32;  // input image height and width (`input_size: S` or `[H, W]`)
  int classes = 10;
  std::string input_size_yaml() const;  // "32", or "[224, 160]" when not square
};

struct Node {
  std::string name;  // unique; the PyTorch module path for module nodes (e.g. "layer1.0.conv1")
  Op op = Op::identity;
  std::vector<std::string> inputs;   // node names or "input"
  std::vector<int> in;               // resolved: node indices, -1 for the graph input
  bool module = false;               // a module (hooked by the reference estimator) vs a functional call
  bool inplace = false;              // activations: an in-place module (its hook sees rectified input)
  double min_val = -1, max_val = 1;  // hardtanh bounds (relu6: 0 and 6)
  double negative_slope = 0.01;      // leaky_relu
  double p = 0.5;                    // dropout probability
  // conv2d / pools
  int kh = 0, kw = 0, sh = 1, sw = 1, ph = 0, pw = 0;
  int dh = 1, dw = 1;      // conv2d: dilation (1: none)
  int groups = 1;          // conv2d: channel groups (depthwise: groups == in channels == out channels)
  bool ceil_mode = false;  // maxpool2d: output size rounded up (PyTorch's ceil_mode)
  // conv2d out_channels, linear out_features (after width scaling)
  int64_t out_channels = 0;
  bool bias = false;
  double eps = 1e-5, momentum = 0.1;  // batchnorm2d
  Shape out_shape;                    // per sample: (C, H, W) or (F)
  int line = 0;                       // 1-based line in the model file, for messages
};

enum class ParamKind { weight, bias, running_mean, running_var, num_batches_tracked };

bool makes_zeros(const Node& n);
// An activation's value at x, PyTorch's formula (a reference; the trainer runs oneDNN's kernels).
float activate(const Node& n, float x);

struct ParamInfo {
  std::string key;  // state_dict key, e.g. "layer1.0.bn1.running_var"
  Shape shape;
  bool is_int64 = false;   // num_batches_tracked
  bool trainable = false;  // weight/bias (PyTorch parameters) vs buffers
  ParamKind kind = ParamKind::weight;
  int node = -1;
};

struct Graph {
  std::string name;
  std::string source;  // file the graph came from, for messages
  ModelParams params;
  Shape input_shape;        // (C, H, W)
  std::vector<Node> nodes;  // in file order = PyTorch registration order
  std::vector<int> order;   // execution (topological) order, file order where possible
  int output = -1;

  int find(const std::string& name) const;  // -1 when absent
  const Shape& in_shape(const Node& n, size_t i) const {
    return n.in[i] < 0 ? input_shape : nodes[n.in[i]].out_shape;
  }
  std::vector<ParamInfo> parameters() const;  // state_dict order
  int64_t trainable_count() const;
  int64_t macs(const Node& n) const;  // per sample; 0 for non-GEMM ops
  int64_t total_macs() const;
};

// Loads a graph: NAME of an embedded model (models/NAME.yaml) or a path to a YAML file.
// Parameters not given (nullptr / unset fields) come from the file's `params:` defaults.
struct ParamOverrides {
  bool has_width = false, has_in_channels = false, has_input_size = false, has_classes = false;
  ModelParams p;
};
Graph load_graph(const std::string& name_or_path, const ParamOverrides& over = {});
Graph parse_graph(const std::string& yaml_text, const std::string& file, const ParamOverrides& over = {});
std::vector<std::string> embedded_model_names();

}  // namespace eatsim

namespace eatsim {
// The resolved graph (channels already scaled, width 1) in the model-file format; parse_graph of
// the result gives the same graph. Traces embed this.
std::string graph_to_yaml(const Graph& g);
}  // namespace eatsim
