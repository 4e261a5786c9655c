// Model graph: op names, parameters and costs, loading by name or path, and writing back as YAML.
// Parsing is in graph_parse.cpp, execution order and shapes in graph_infer.cpp.
#include "models/graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "base/embedded.hpp"
#include "base/errors.hpp"
#include "base/files.hpp"

namespace eatsim {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

namespace {
const char* const kOpNames[] = {"conv2d",         "batchnorm2d", "relu",    "maxpool2d", "avgpool2d",
                                "global_avgpool", "linear",      "add",     "flatten",   "identity",
                                "relu6",          "hardtanh",    "sigmoid", "silu",      "hardswish",
                                "hardsigmoid",    "leaky_relu",  "dropout", "mul",       "concat"};
constexpr int kNumOps = sizeof(kOpNames) / sizeof(kOpNames[0]);
static_assert(kNumOps == static_cast<int>(Op::concat) + 1, "every op has a name");
}  // namespace

const char* op_name(Op op) { return kOpNames[static_cast<int>(op)]; }

std::string op_names() {
  std::string s;
  for (int i = 0; i < kNumOps; ++i) s += (i ? ", " : "") + std::string(kOpNames[i]);
  return s;
}

bool is_activation(Op op) {
  switch (op) {
    case Op::relu:
    case Op::relu6:
    case Op::hardtanh:
    case Op::sigmoid:
    case Op::silu:
    case Op::hardswish:
    case Op::hardsigmoid:
    case Op::leaky_relu:
      return true;
    default:
      return false;
  }
}

bool makes_zeros(const Node& n) {
  switch (n.op) {
    case Op::relu:
    case Op::relu6:
    case Op::hardswish:
    case Op::hardsigmoid:
      return true;
    case Op::hardtanh:
      return n.min_val == 0;
    default:
      return false;
  }
}

float activate(const Node& n, float x) {
  auto clip = [](float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; };
  switch (n.op) {
    case Op::relu:
      return x > 0 ? x : 0.0f;
    case Op::relu6:
    case Op::hardtanh:
      return clip(x, float(n.min_val), float(n.max_val));
    case Op::sigmoid:
      return 1.0f / (1.0f + std::exp(-x));
    case Op::silu:
      return x / (1.0f + std::exp(-x));
    case Op::hardswish:
      return x * clip(x + 3, 0, 6) / 6;
    case Op::hardsigmoid:
      return clip(x / 6 + 0.5f, 0, 1);
    case Op::leaky_relu:
      return x > 0 ? x : float(n.negative_slope) * x;
    default:
      return x;  // dropout at inference, identity
  }
}

bool op_from_name(const std::string& s, Op& out) {
  for (int i = 0; i < kNumOps; ++i)
    if (s == kOpNames[i]) {
      out = static_cast<Op>(i);
      return true;
    }
  return false;
}

const char* find_embedded(const std::string& path) {
  for (const auto& f : embedded_files())
    if (path == f.path) return f.contents;
  return nullptr;
}

std::vector<std::string> embedded_model_names() {
  std::vector<std::string> out;
  for (const auto& f : embedded_files()) {
    std::string p = f.path;
    if (p.rfind("models/", 0) == 0 && p.size() > 12 && p.substr(p.size() - 5) == ".yaml")
      out.push_back(p.substr(7, p.size() - 12));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ModelParams::input_size_yaml() const {
  return input_h == input_w ? std::to_string(input_h) : fmt::format("[{}, {}]", input_h, input_w);
}

int Graph::find(const std::string& n) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == n) return static_cast<int>(i);
  return -1;
}

std::vector<ParamInfo> Graph::parameters() const {
  std::vector<ParamInfo> out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    auto add = [&](const char* leaf, Shape s, ParamKind k, bool trainable, bool i64 = false) {
      out.push_back(ParamInfo{n.name + "." + leaf, std::move(s), i64, trainable, k, static_cast<int>(i)});
    };
    const Shape& in = in_shape(n, 0);
    switch (n.op) {
      case Op::conv2d:
        add("weight", {n.out_channels, in[0] / n.groups, n.kh, n.kw}, ParamKind::weight, true);
        if (n.bias) add("bias", {n.out_channels}, ParamKind::bias, true);
        break;
      case Op::linear:
        add("weight", {n.out_channels, in[0]}, ParamKind::weight, true);
        if (n.bias) add("bias", {n.out_channels}, ParamKind::bias, true);
        break;
      case Op::batchnorm2d:
        add("weight", {in[0]}, ParamKind::weight, true);
        add("bias", {in[0]}, ParamKind::bias, true);
        add("running_mean", {in[0]}, ParamKind::running_mean, false);
        add("running_var", {in[0]}, ParamKind::running_var, false);
        add("num_batches_tracked", {}, ParamKind::num_batches_tracked, false, true);
        break;
      default:
        break;
    }
  }
  return out;
}

int64_t Graph::trainable_count() const {
  int64_t c = 0;
  for (const auto& p : parameters())
    if (p.trainable) c += numel(p.shape);
  return c;
}

int64_t Graph::macs(const Node& n) const {
  if (n.op == Op::conv2d) {
    const Shape& in = in_shape(n, 0);
    return numel(n.out_shape) * n.kh * n.kw * (in[0] / n.groups);
  }
  if (n.op == Op::linear) return in_shape(n, 0)[0] * n.out_channels;
  return 0;
}

int64_t Graph::total_macs() const {
  int64_t t = 0;
  for (const auto& n : nodes) t += macs(n);
  return t;
}

Graph load_graph(const std::string& name, const ParamOverrides& over) {
  bool is_path = name.find('/') != std::string::npos || name.find(".yaml") != std::string::npos ||
                 name.find(".yml") != std::string::npos;
  if (!is_path) {
    std::string rel = "models/" + name + ".yaml";
    if (const char* text = find_embedded(rel)) return parse_graph(text, rel, over);
    std::string known;
    for (const auto& m : embedded_model_names()) known += (known.empty() ? "" : ", ") + m;
    throw ModelError(
        fmt::format("{}: no such model (built in: {}; or give a path to a .yaml file)", name, known));
  }
  std::string text;
  if (std::string why = read_regular_file(name, text); !why.empty()) throw ModelError(name + ": " + why);
  return parse_graph(text, name, over);
}

std::string graph_to_yaml(const Graph& g) {
  std::ostringstream o;
  o << "name: " << g.name << "\nparams: {width: 1, in_channels: " << g.params.in_channels
    << ", input_size: " << g.params.input_size_yaml() << ", classes: " << g.params.classes << "}\n";
  o << "output: " << g.nodes[g.output].name << "\nnodes:\n";
  for (const Node& n : g.nodes) {
    o << "  - {name: " << n.name << ", op: " << op_name(n.op) << ", inputs: [";
    for (size_t i = 0; i < n.inputs.size(); ++i) o << (i ? ", " : "") << n.inputs[i];
    o << "], module: " << (n.module ? "true" : "false");
    switch (n.op) {
      case Op::conv2d:
        o << ", out_channels: " << n.out_channels << ", kernel: [" << n.kh << ", " << n.kw << "], stride: ["
          << n.sh << ", " << n.sw << "], pad: [" << n.ph << ", " << n.pw
          << "], bias: " << (n.bias ? "true" : "false");
        // Written only when not the default: older traces keep their bytes.
        if (n.dh != 1 || n.dw != 1) o << ", dilation: [" << n.dh << ", " << n.dw << "]";
        if (n.groups != 1) o << ", groups: " << n.groups;
        break;
      case Op::maxpool2d:
      case Op::avgpool2d:
        o << ", kernel: [" << n.kh << ", " << n.kw << "], stride: [" << n.sh << ", " << n.sw << "], pad: ["
          << n.ph << ", " << n.pw << "]";
        if (n.ceil_mode) o << ", ceil_mode: true";  // written only when set: older traces keep their bytes
        break;
      case Op::batchnorm2d:
        o << fmt::format(", eps: {}, momentum: {}", n.eps, n.momentum);
        break;
      case Op::linear:
        o << ", out_features: " << n.out_channels << ", bias: " << (n.bias ? "true" : "false");
        break;
      case Op::relu:
        o << ", inplace: " << (n.inplace ? "true" : "false");
        break;
      case Op::dropout:
        o << fmt::format(", p: {}", n.p);
        break;
      default:
        if (n.op == Op::hardtanh) o << fmt::format(", min_val: {}, max_val: {}", n.min_val, n.max_val);
        if (n.op == Op::leaky_relu) o << fmt::format(", negative_slope: {}", n.negative_slope);
        if (is_activation(n.op) && n.inplace) o << ", inplace: true";
        break;
    }
    o << "}\n";
  }
  return o.str();
}

}  // namespace eatsim
