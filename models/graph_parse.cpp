// Model graph: parsing of the YAML format (models/FORMAT.md) with every problem reported as
// file:line: key: message; execution order and shapes come from graph_infer.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "base/errors.hpp"
#include "base/yaml_util.hpp"
#include "models/graph.hpp"
#include "models/graph_infer.hpp"

namespace eatsim {

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

// groups: a positive integer (not scaled by width) or the word "depthwise" (the input's channels,
// resolved with the shapes: 0 until then).
void read_groups(yamlu::Map& m, Node& n) {
  YAML::Node y = m.node("groups");
  if (!y) return;
  if (y.IsScalar() && y.Scalar() == "depthwise") {
    n.groups = 0;
    return;
  }
  auto v = yamlu::convert<int>(y);
  if (v && *v > 0)
    n.groups = *v;
  else
    m.diag().error(y, m.key_path("groups"),
                   "expected a positive integer or 'depthwise', got " + yamlu::describe(y));
}

void read_params(const YAML::Node& root, yamlu::Diag& d, const ParamOverrides& over, ModelParams& p) {
  YAML::Node pn = root["params"];
  if (pn) {
    yamlu::Map m(pn, "params", d);
    p.width = m.get<double>("width", p.width);
    p.in_channels = m.get<int>("in_channels", p.in_channels);
    if (m.has("input_size")) read_pair(m, "input_size", p.input_h, p.input_w, false, p.input_h);
    p.classes = m.get<int>("classes", p.classes);
    m.done();
  }
  if (over.has_width) p.width = over.p.width;
  if (over.has_in_channels) p.in_channels = over.p.in_channels;
  if (over.has_input_size) p.input_h = over.p.input_h, p.input_w = over.p.input_w;
  if (over.has_classes) p.classes = over.p.classes;
  auto bad = [&](const char* k, const std::string& v, const char* want) {
    d.error(pn ? pn[k].Mark() : YAML::Mark::null_mark(), std::string("params.") + k,
            fmt::format("{} is not valid ({})", v, want));
  };
  if (!(p.width > 0) || p.width > 64) bad("width", fmt::format("{}", p.width), "a multiplier in (0, 64]");
  if (p.in_channels <= 0) bad("in_channels", std::to_string(p.in_channels), "a positive channel count");
  if (p.input_h <= 0 || p.input_w <= 0)
    bad("input_size", p.input_size_yaml(), "a positive image size S or [H, W]");
  if (p.classes <= 0) bad("classes", std::to_string(p.classes), "a positive class count");
}

// inputs: one node name, or a list of them ("input" is the graph input).
void read_inputs(const YAML::Node& yn, yamlu::Map& mm, yamlu::Diag& d, Node& n) {
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
}

// The keys that belong to the node's op.
void read_op_fields(yamlu::Map& mm, const ModelParams& p, Node& n) {
  switch (n.op) {
    case Op::conv2d:
      n.out_channels = read_channels(mm, "out_channels", p);
      read_pair(mm, "kernel", n.kh, n.kw, true, 1);
      read_pair(mm, "stride", n.sh, n.sw, false, 1);
      read_pair(mm, "pad", n.ph, n.pw, false, 0);
      read_pair(mm, "dilation", n.dh, n.dw, false, 1);
      read_groups(mm, n);
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
      if (n.op == Op::maxpool2d) n.ceil_mode = mm.get<bool>("ceil_mode", false);
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
    case Op::relu6:
    case Op::sigmoid:
    case Op::silu:
    case Op::hardswish:
    case Op::hardsigmoid:
      n.inplace = mm.get<bool>("inplace", false);
      if (n.op == Op::relu6) n.min_val = 0, n.max_val = 6;
      break;
    case Op::hardtanh:
      n.min_val = mm.get<double>("min_val", -1.0);
      n.max_val = mm.get<double>("max_val", 1.0);
      n.inplace = mm.get<bool>("inplace", false);
      break;
    case Op::leaky_relu:
      n.negative_slope = mm.get<double>("negative_slope", 0.01);
      n.inplace = mm.get<bool>("inplace", false);
      break;
    case Op::dropout:
      n.p = mm.get<double>("p", 0.5);
      break;
    default:
      break;
  }
}

void check_op_fields(yamlu::Map& mm, yamlu::Diag& d, const Node& n) {
  if (n.kh < 0 || n.kw < 0 ||
      ((n.op == Op::conv2d || n.op == Op::maxpool2d || n.op == Op::avgpool2d) && (n.kh <= 0 || n.kw <= 0)))
    d.error(mm.node("kernel"), mm.key_path("kernel"), "kernel sizes must be positive");
  if (n.sh <= 0 || n.sw <= 0) d.error(mm.node("stride"), mm.key_path("stride"), "strides must be positive");
  if (n.ph < 0 || n.pw < 0) d.error(mm.node("pad"), mm.key_path("pad"), "padding must be zero or positive");
  if (n.dh <= 0 || n.dw <= 0)
    d.error(mm.node("dilation"), mm.key_path("dilation"), "dilations must be positive (1: none)");
  if (n.op == Op::batchnorm2d && !(n.eps > 0))
    d.error(mm.node("eps"), mm.key_path("eps"), "eps must be positive");
  if (n.op == Op::hardtanh &&
      !(n.min_val < n.max_val && std::isfinite(n.min_val) && std::isfinite(n.max_val)))
    d.error(mm.node("max_val"), mm.key_path("max_val"),
            "hardtanh needs finite bounds with min_val < max_val");
  if (n.op == Op::leaky_relu && !std::isfinite(n.negative_slope))
    d.error(mm.node("negative_slope"), mm.key_path("negative_slope"), "negative_slope must be finite");
  if (n.op == Op::dropout && !(n.p >= 0 && n.p < 1))
    d.error(mm.node("p"), mm.key_path("p"), "dropout p must be in [0, 1)");
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
    d.error(mm.node("op"), mm.key_path("op"), "unknown op '" + op + "' (known: " + op_names() + ")");
  read_inputs(yn, mm, d, n);
  bool default_module =
      n.op == Op::conv2d || n.op == Op::batchnorm2d || n.op == Op::linear || n.op == Op::identity;
  n.module = mm.get<bool>("module", default_module);
  read_op_fields(mm, p, n);
  check_op_fields(mm, d, n);
  mm.done();
  return n;
}

// Node names are unique and not "input"; returns name -> index.
std::map<std::string, int> index_names(const Graph& g, YAML::Node nodes, yamlu::Diag& d) {
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
  return index;
}

// Input names to node indices (-1 for the graph input).
void resolve_inputs(Graph& g, YAML::Node nodes, const std::map<std::string, int>& index, yamlu::Diag& d) {
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
  g.input_shape = {g.params.in_channels, g.params.input_h, g.params.input_w};
  std::string output = top.get<std::string>("output", "");
  YAML::Node nodes = top.node("nodes");
  top.done();
  if (!nodes || !nodes.IsSequence() || nodes.size() == 0) {
    d.error(nodes ? nodes : root, "nodes", "expected a non-empty list of nodes");
    d.throw_if_any<ModelError>();
  }
  for (size_t i = 0; i < nodes.size(); ++i) g.nodes.push_back(read_node(nodes[i], i, d, g.params));
  resolve_inputs(g, nodes, index_names(g, nodes, d), d);
  d.throw_if_any<ModelError>();
  order_and_infer(g, d);
  if (output.empty()) {
    g.output = g.order.back();
  } else {
    g.output = g.find(output);
    if (g.output < 0) d.error(root["output"], "output", "unknown node '" + output + "'");
  }
  d.throw_if_any<ModelError>();
  return g;
}

}  // namespace eatsim
