// Model graph: parsing of the YAML format (models/FORMAT.md), validation, shape inference.
#include "models/graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <queue>
#include <sstream>

#include "base/embedded.hpp"
#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/yaml_util.hpp"

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
const char* const kOpNames[] = {"conv2d",         "batchnorm2d", "relu", "maxpool2d", "avgpool2d",
                                "global_avgpool", "linear",      "add",  "flatten",   "identity"};
}

const char* op_name(Op op) { return kOpNames[static_cast<int>(op)]; }

bool op_from_name(const std::string& s, Op& out) {
  for (int i = 0; i < 10; ++i)
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
        add("weight", {n.out_channels, in[0], n.kh, n.kw}, ParamKind::weight, true);
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
    return numel(n.out_shape) * n.kh * n.kw * in[0];
  }
  if (n.op == Op::linear) return in_shape(n, 0)[0] * n.out_channels;
  return 0;
}

int64_t Graph::total_macs() const {
  int64_t t = 0;
  for (const auto& n : nodes) t += macs(n);
  return t;
}

namespace {

// Reads "kernel: 3" or "kernel: [3, 3]".
bool read_pair(yamlu::Map& m, const std::string& key, int& a, int& b, bool required, int fallback) {
  YAML::Node n = m.node(key);
  if (!n) {
    if (required) m.diag().error(m.self(), m.key_path(key), "missing required key (an integer or [h, w])");
    a = b = fallback;
    return !required;
  }
  if (n.IsSequence() && n.size() == 2) {
    auto x = yamlu::convert<int>(n[0]), y = yamlu::convert<int>(n[1]);
    if (x && y) {
      a = *x, b = *y;
      return true;
    }
  } else if (auto v = yamlu::convert<int>(n)) {
    a = b = *v;
    return true;
  }
  m.diag().error(n, m.key_path(key), "expected an integer or [h, w], got " + yamlu::describe(n));
  a = b = fallback;
  return false;
}

// Channel counts: an integer (scaled by width) or the word "classes".
int64_t read_channels(yamlu::Map& m, const std::string& key, const ModelParams& p) {
  YAML::Node n = m.node(key);
  if (!n) {
    m.diag().error(m.self(), m.key_path(key), "missing required key (an integer or 'classes')");
    return 1;
  }
  if (n.IsScalar() && n.Scalar() == "classes") return p.classes;
  auto v = yamlu::convert<int64_t>(n);
  if (!v || *v <= 0) {
    m.diag().error(n, m.key_path(key), "expected a positive integer or 'classes', got " + yamlu::describe(n));
    return 1;
  }
  return std::max<int64_t>(1, std::llround(static_cast<double>(*v) * p.width));
}

void read_params(const YAML::Node& root, yamlu::Diag& d, const ParamOverrides& over, ModelParams& p) {
  YAML::Node pn = root["params"];
  if (pn) {
    yamlu::Map m(pn, "params", d);
    p.width = m.get<double>("width", p.width);
    p.in_channels = m.get<int>("in_channels", p.in_channels);
    p.input_size = m.get<int>("input_size", p.input_size);
    p.classes = m.get<int>("classes", p.classes);
    m.done();
  }
  if (over.has_width) p.width = over.p.width;
  if (over.has_in_channels) p.in_channels = over.p.in_channels;
  if (over.has_input_size) p.input_size = over.p.input_size;
  if (over.has_classes) p.classes = over.p.classes;
  auto bad = [&](const char* k, const std::string& v, const char* want) {
    d.error(pn ? pn[k].Mark() : YAML::Mark::null_mark(), std::string("params.") + k,
            fmt::format("{} is not valid ({})", v, want));
  };
  if (!(p.width > 0) || p.width > 64) bad("width", fmt::format("{}", p.width), "a multiplier in (0, 64]");
  if (p.in_channels <= 0) bad("in_channels", std::to_string(p.in_channels), "a positive channel count");
  if (p.input_size <= 0) bad("input_size", std::to_string(p.input_size), "a positive image size");
  if (p.classes <= 0) bad("classes", std::to_string(p.classes), "a positive class count");
}

Node read_node(const YAML::Node& yn, size_t idx, yamlu::Diag& d, const ModelParams& p) {
  Node n;
  n.line = yn.Mark().is_null() ? 0 : yn.Mark().line + 1;
  std::string where = fmt::format("nodes[{}]", idx);
  yamlu::Map m(yn, where, d);
  if (!m.ok()) return n;
  n.name = m.req<std::string>("name");
  if (!n.name.empty()) where = fmt::format("nodes[{}] ({})", idx, n.name);
  yamlu::Map mm(yn, where, d);  // same mapping, messages now carry the node's name
  mm.node("name");
  std::string op = mm.req<std::string>("op");
  if (!op.empty() && !op_from_name(op, n.op))
    d.error(mm.node("op"), mm.key_path("op"),
            "unknown op '" + op +
                "' (known: conv2d, batchnorm2d, relu, maxpool2d, avgpool2d, global_avgpool, linear, add, "
                "flatten, identity)");
  YAML::Node ins = mm.node("inputs");
  if (!ins) {
    d.error(yn, mm.key_path("inputs"), "missing required key (a list of node names or 'input')");
  } else if (ins.IsScalar()) {
    n.inputs.push_back(ins.Scalar());
  } else if (ins.IsSequence()) {
    for (const auto& i : ins) {
      if (i.IsScalar())
        n.inputs.push_back(i.Scalar());
      else
        d.error(i, mm.key_path("inputs"), "expected a node name, got " + yamlu::describe(i));
    }
  } else {
    d.error(ins, mm.key_path("inputs"), "expected a list of node names, got " + yamlu::describe(ins));
  }
  bool default_module =
      n.op == Op::conv2d || n.op == Op::batchnorm2d || n.op == Op::linear || n.op == Op::identity;
  n.module = mm.get<bool>("module", default_module);
  switch (n.op) {
    case Op::conv2d:
      n.out_channels = read_channels(mm, "out_channels", p);
      read_pair(mm, "kernel", n.kh, n.kw, true, 1);
      read_pair(mm, "stride", n.sh, n.sw, false, 1);
      read_pair(mm, "pad", n.ph, n.pw, false, 0);
      n.bias = mm.get<bool>("bias", false);
      break;
    case Op::maxpool2d:
    case Op::avgpool2d:
      read_pair(mm, "kernel", n.kh, n.kw, true, 1);
      if (mm.has("stride"))
        read_pair(mm, "stride", n.sh, n.sw, false, 1);
      else
        n.sh = n.kh, n.sw = n.kw, mm.node("stride");
      read_pair(mm, "pad", n.ph, n.pw, false, 0);
      break;
    case Op::batchnorm2d:
      n.eps = mm.get<double>("eps", 1e-5);
      n.momentum = mm.get<double>("momentum", 0.1);
      break;
    case Op::linear:
      n.out_channels = read_channels(mm, "out_features", p);
      n.bias = mm.get<bool>("bias", true);
      break;
    case Op::relu:
      n.inplace = mm.get<bool>("inplace", false);
      break;
    default:
      break;
  }
  if (n.kh < 0 || n.kw < 0 ||
      ((n.op == Op::conv2d || n.op == Op::maxpool2d || n.op == Op::avgpool2d) && (n.kh <= 0 || n.kw <= 0)))
    d.error(mm.node("kernel"), mm.key_path("kernel"), "kernel sizes must be positive");
  if (n.sh <= 0 || n.sw <= 0) d.error(mm.node("stride"), mm.key_path("stride"), "strides must be positive");
  if (n.ph < 0 || n.pw < 0) d.error(mm.node("pad"), mm.key_path("pad"), "padding must be zero or positive");
  if (n.op == Op::batchnorm2d && !(n.eps > 0))
    d.error(mm.node("eps"), mm.key_path("eps"), "eps must be positive");
  mm.done();
  return n;
}

// Shape of one node's output from its inputs; records an error and returns {} when they do not fit.
Shape infer(const Graph& g, const Node& n, yamlu::Diag& d) {
  auto err = [&](const std::string& msg) {
    d.errors.push_back(fmt::format("{}:{}: nodes ({}): {}", d.file, n.line, n.name, msg));
    return Shape{};
  };
  size_t want = n.op == Op::add ? 2 : 1;
  if (n.in.size() != want)
    return err(
        fmt::format("{} takes {} input{}, got {}", op_name(n.op), want, want == 1 ? "" : "s", n.in.size()));
  for (size_t i = 0; i < n.in.size(); ++i)
    if (g.in_shape(n, i).empty()) return {};  // an earlier error already explains it
  const Shape& x = g.in_shape(n, 0);
  auto spatial = [&](int64_t size, int k, int s, int p) { return (size + 2 * p - k) / s + 1; };
  switch (n.op) {
    case Op::conv2d:
    case Op::maxpool2d:
    case Op::avgpool2d: {
      if (x.size() != 3) return err(fmt::format("needs a (C, H, W) input, got {}", shape_str(x)));
      if (x[1] + 2 * n.ph < n.kh || x[2] + 2 * n.pw < n.kw)
        return err(fmt::format("kernel {}x{} is larger than the padded input {}", n.kh, n.kw, shape_str(x)));
      if (n.op != Op::conv2d && (2 * n.ph > n.kh || 2 * n.pw > n.kw))
        return err("pool padding must be at most half the kernel (as in PyTorch)");
      int64_t c = n.op == Op::conv2d ? n.out_channels : x[0];
      return {c, spatial(x[1], n.kh, n.sh, n.ph), spatial(x[2], n.kw, n.sw, n.pw)};
    }
    case Op::batchnorm2d:
    case Op::relu:
      if (n.op == Op::batchnorm2d && x.size() != 3)
        return err(fmt::format("needs a (C, H, W) input, got {}", shape_str(x)));
      return x;
    case Op::identity:
      return x;
    case Op::global_avgpool:
      if (x.size() != 3) return err(fmt::format("needs a (C, H, W) input, got {}", shape_str(x)));
      return {x[0], 1, 1};
    case Op::flatten:
      return {numel(x)};
    case Op::linear:
      if (x.size() != 1)
        return err(
            fmt::format("needs a flat (F) input, got {} (add a flatten node before it)", shape_str(x)));
      return {n.out_channels};
    case Op::add: {
      const Shape& y = g.in_shape(n, 1);
      if (x != y)
        return err(fmt::format("add inputs have different shapes: {} ({}) and {} ({})", shape_str(x),
                               n.inputs[0], shape_str(y), n.inputs[1]));
      return x;
    }
  }
  return {};
}

// Kahn's algorithm, taking the earliest ready node in file order so a valid file order is kept.
bool topo_order(Graph& g, yamlu::Diag& d) {
  size_t n = g.nodes.size();
  std::vector<int> indeg(n, 0);
  std::vector<std::vector<int>> users(n);
  for (size_t i = 0; i < n; ++i)
    for (int j : g.nodes[i].in)
      if (j >= 0) ++indeg[i], users[j].push_back(static_cast<int>(i));
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < n; ++i)
    if (indeg[i] == 0) ready.push(static_cast<int>(i));
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    g.order.push_back(i);
    for (int u : users[i])
      if (--indeg[u] == 0) ready.push(u);
  }
  if (g.order.size() == n) return true;
  // Walk back along unresolved inputs from one stuck node until a node repeats: that is a cycle.
  int start = -1;
  for (size_t i = 0; i < n && start < 0; ++i)
    if (indeg[i] > 0) start = static_cast<int>(i);
  std::vector<int> path;
  std::vector<int> seen(n, -1);
  int cur = start;
  while (seen[cur] < 0) {
    seen[cur] = static_cast<int>(path.size());
    path.push_back(cur);
    for (int j : g.nodes[cur].in)
      if (j >= 0 && indeg[j] > 0) {
        cur = j;
        break;
      }
  }
  std::string cyc;
  for (size_t k = seen[cur]; k < path.size(); ++k)
    cyc = g.nodes[path[k]].name + (cyc.empty() ? "" : " <- ") + cyc;
  cyc += " <- " + g.nodes[cur].name;
  d.errors.push_back(
      fmt::format("{}:{}: nodes ({}): the graph has a cycle: {} (every node must depend only on "
                  "earlier results)",
                  d.file, g.nodes[cur].line, g.nodes[cur].name, cyc));
  return false;
}

}  // namespace

Graph parse_graph(const std::string& text, const std::string& file, const ParamOverrides& over) {
  YAML::Node root = yamlu::parse<ModelError>(text, file);
  yamlu::Diag d{file, {}};
  Graph g;
  g.source = file;
  yamlu::Map top(root, "", d);
  d.throw_if_any<ModelError>();
  g.name = top.req<std::string>("name");
  top.opt<std::string>("description");
  top.node("params");
  read_params(root, d, over, g.params);
  g.input_shape = {g.params.in_channels, g.params.input_size, g.params.input_size};
  std::string output = top.get<std::string>("output", "");
  YAML::Node nodes = top.node("nodes");
  top.done();
  if (!nodes || !nodes.IsSequence() || nodes.size() == 0) {
    d.error(nodes ? nodes : root, "nodes", "expected a non-empty list of nodes");
    d.throw_if_any<ModelError>();
  }
  for (size_t i = 0; i < nodes.size(); ++i) g.nodes.push_back(read_node(nodes[i], i, d, g.params));
  // Names unique, inputs resolved.
  std::map<std::string, int> index;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.name.empty()) continue;
    if (n.name == "input")
      d.error(nodes[i]["name"], fmt::format("nodes[{}].name", i), "'input' is reserved for the graph input");
    else if (!index.emplace(n.name, static_cast<int>(i)).second)
      d.error(nodes[i]["name"], fmt::format("nodes[{}].name", i),
              "duplicate node name '" + n.name + "' (first defined on line " +
                  std::to_string(g.nodes[index[n.name]].line) + ")");
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    for (const auto& in : n.inputs) {
      if (in == "input") {
        n.in.push_back(-1);
        continue;
      }
      auto it = index.find(in);
      if (it == index.end()) {
        d.error(nodes[i]["inputs"], fmt::format("nodes[{}] ({}).inputs", i, n.name),
                "unknown input '" + in + "' (not a node name, nor 'input')");
      } else if (it->second == static_cast<int>(i)) {
        d.error(nodes[i]["inputs"], fmt::format("nodes[{}] ({}).inputs", i, n.name),
                "the graph has a cycle: node '" + n.name + "' uses its own output");
      } else {
        n.in.push_back(it->second);
      }
    }
  }
  d.throw_if_any<ModelError>();
  if (!topo_order(g, d)) d.throw_if_any<ModelError>();
  for (int i : g.order) g.nodes[i].out_shape = infer(g, g.nodes[i], d);
  if (output.empty()) {
    g.output = g.order.back();
  } else {
    g.output = g.find(output);
    if (g.output < 0) d.error(root["output"], "output", "unknown node '" + output + "'");
  }
  d.throw_if_any<ModelError>();
  return g;
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
    << ", input_size: " << g.params.input_size << ", classes: " << g.params.classes << "}\n";
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
        break;
      case Op::maxpool2d:
      case Op::avgpool2d:
        o << ", kernel: [" << n.kh << ", " << n.kw << "], stride: [" << n.sh << ", " << n.sw << "], pad: ["
          << n.ph << ", " << n.pw << "]";
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
      default:
        break;
    }
    o << "}\n";
  }
  return o.str();
}

}  // namespace eatsim
