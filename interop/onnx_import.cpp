// ONNX import; see onnx_import.hpp and docs/onnx.md. The file is parsed with libonnx's protobuf
// classes, files older than opset 11 are upgraded with ONNX's version converter, ONNX's shape
// inference gives every value's shape, and each node maps onto one graph node (or folds into one:
// Pad into the next conv/pool, Identity and eval-mode Dropout masks into nothing, Sigmoid·x into
// silu, MatMul + Add into a linear with bias). The result is written as model-file YAML and parsed
// back, so the graph a user gets is exactly what the format says.
#include "interop/onnx_import.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <google/protobuf/io/coded_stream.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "interop/onnx_tensor.hpp"

namespace eatsim {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxModelBytes = int64_t(2000) << 20;  // protobuf's own limit is 2 GiB

const std::set<std::string>& supported_ops() {
  static const std::set<std::string> ops(onnx_supported_ops().begin(), onnx_supported_ops().end());
  return ops;
}

// A graph node name: ONNX's scoped names ("/layer1/layer1.0/relu/Relu") become dotted paths
// ("layer1.0.relu.Relu": a component repeating the next one's prefix is dropped), and anything but
// letters, digits, '_', '.' and '-' becomes '_'. Never empty, never starting with a digit or '.'.
std::string sanitise(const std::string& raw, const std::string& fallback) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (at <= raw.size()) {
    size_t e = raw.find_first_of("/\\", at);
    if (e == std::string::npos) e = raw.size();
    std::string part = raw.substr(at, e - at);
    part.erase(0, part.find_first_not_of('.'));  // "..", "." and leading dots say nothing
    if (!part.empty()) parts.push_back(part);
    at = e + 1;
  }
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i + 1 < parts.size() && parts[i + 1].rfind(parts[i] + ".", 0) == 0) continue;
    s += (s.empty() ? "" : ".") + parts[i];
  }
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') c = '_';
  s.erase(std::unique(s.begin(), s.end(), [](char a, char b) { return a == '.' && b == '.'; }), s.end());
  while (!s.empty() && (s.back() == '.')) s.pop_back();
  if (s.empty()) return fallback;
  if (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.' || s[0] == '-') s = fallback + "_" + s;
  if (s == "input") s = fallback + "_input";
  return s;
}

struct PadFold {
  std::string src;  // the Pad's data input
  int64_t t = 0, l = 0, b = 0, r = 0;
  std::string node;  // the Pad node, for messages
};

class Importer {
 public:
  Importer(const std::string& path, const OnnxImportOptions& o)
      : path_(path), dir_(fs::path(path).parent_path().string()), o_(o) {
    if (dir_.empty()) dir_ = ".";
  }

  ImportedModel run() {
    load();
    check_ops();
    check_structure();
    opset();
    set_input_shape();
    precheck();
    infer_shapes();
    build();
    return finish();
  }

 private:
  // --- reading -------------------------------------------------------------------------------
  void load() {
    std::string bytes, why = read_regular_file(path_, bytes, kMaxModelBytes);
    if (!why.empty()) throw ModelError(path_ + ": " + why);
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              static_cast<int>(bytes.size()));
    in.SetTotalBytesLimit(
        static_cast<int>(std::min<int64_t>(kMaxModelBytes, std::numeric_limits<int>::max())));
    if (bytes.empty() || !m_.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
      throw ModelError(
          fmt::format("{}: not an ONNX model (the protobuf does not parse: a truncated file, or "
                      "not a .onnx file)",
                      path_));
    if (m_.ir_version() <= 0 || !m_.has_graph() || m_.graph().node_size() == 0)
      throw ModelError(fmt::format("{}: not an ONNX model (no IR version or no graph nodes)", path_));
  }

  // The structure ONNX's version converter and shape inference take for granted (they crash on a
  // graph output nothing computes): every name a node reads is defined before it, every output
  // is computed, no name is defined twice.
  void check_structure() {
    const auto& g = m_.graph();
    std::set<std::string> defined;
    auto define = [&](const std::string& name, const std::string& what) {
      if (name.empty()) throw ModelError(fmt::format("{}: {} has an empty name", path_, what));
      if (!defined.insert(name).second && what.rfind("initializer", 0) != 0)
        throw ModelError(fmt::format("{}: '{}' is defined twice ({})", path_, name, what));
    };
    for (const auto& t : g.initializer()) define(t.name(), "initializer");
    for (const auto& v : g.input()) defined.insert(v.name());
    for (const auto& n : g.node()) {
      for (const auto& i : n.input())
        if (!i.empty() && !defined.count(i))
          throw ModelError(
              fmt::format("{}: reads '{}' before anything defines it (the graph must be topologically "
                          "sorted and complete)",
                          where(n), i));
      for (const auto& o : n.output())
        if (!o.empty()) define(o, "an output of " + where(n).substr(path_.size() + 2));
      for (const auto& a : n.attribute())
        if (a.has_g() || a.graphs_size()) throw ModelError(where(n) + ": subgraphs are not supported");
    }
    for (const auto& o : g.output())
      if (!defined.count(o.name()))
        throw ModelError(fmt::format("{}: graph output '{}' is computed by no node", path_, o.name()));
  }

  // ONNX's own checker, before the version converter (which assumes a model that passes it).
  void check_for_conversion() {
    try {
      onnx::checker::check_model(m_);
    } catch (const std::exception& e) {
      throw ModelError(fmt::format("{}: opset {} needs upgrading, and ONNX's checker refuses the model: {}",
                                   path_, file_opset_, first_line(e.what())));
    }
  }

  void opset() {
    for (const auto& o : m_.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") file_opset_ = static_cast<int>(o.version());
    if (file_opset_ <= 0)
      throw ModelError(fmt::format("{}: the model imports no default-domain (ai.onnx) opset", path_));
    opset_ = file_opset_;
    if (file_opset_ > kOnnxMaxOpset)
      throw ModelError(
          fmt::format("{}: opset {}: this build reads opsets {} to {} (older ones are upgraded); "
                      "export with opset_version={}",
                      path_, file_opset_, kOnnxMinOpset, kOnnxMaxOpset, kOnnxMaxOpset));
    if (file_opset_ < kOnnxMinOpset) {
      try {
        check_for_conversion();
        // The converter's adapters (Gemm's, for one) need the shapes of their inputs.
        onnx::ShapeInferenceOptions opt;
        onnx::shape_inference::InferShapes(m_, onnx::OpSchemaRegistry::Instance(), opt);
        m_ = onnx::version_conversion::ConvertVersion(m_, kOnnxMinOpset);
      } catch (const std::exception& e) {
        throw ModelError(fmt::format(
            "{}: opset {} could not be upgraded to {} by ONNX's version converter ({}); "
            "export with opset {} to {}",
            path_, file_opset_, kOnnxMinOpset, first_line(e.what()), kOnnxMinOpset, kOnnxMaxOpset));
      }
      opset_ = kOnnxMinOpset;
      notes_.push_back(
          fmt::format("opset {} upgraded to {} with ONNX's version converter", file_opset_, opset_));
    }
  }

  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
  // A float as the double its shortest decimal form means (1e-05, not 9.99999974e-06).
  static double tidy(float f) { return std::isfinite(f) ? std::stod(fmt::format("{}", f)) : f; }

  // The one data input (graph inputs that are not initializers), with its shape fixed.
  void set_input_shape() {
    const auto& g = m_.graph();
    std::set<std::string> inits;
    for (const auto& t : g.initializer()) inits.insert(t.name());
    std::vector<int> data;
    for (int i = 0; i < g.input_size(); ++i)
      if (!inits.count(g.input(i).name())) data.push_back(i);
    if (data.size() != 1) {
      std::vector<std::string> names;
      for (int i : data) names.push_back("'" + g.input(i).name() + "'");
      throw ModelError(
          fmt::format("{}: the graph has {} data inputs ({}); eatsim graphs take one image input", path_,
                      data.size(), fmt::join(names, ", ")));
    }
    auto* in = m_.mutable_graph()->mutable_input(data[0]);
    input_name_ = in->name();
    if (!in->type().has_tensor_type())
      throw ModelError(fmt::format("{}: input '{}' is not a tensor", path_, input_name_));
    const int32_t et = in->type().tensor_type().elem_type();
    if (et != onnx::TensorProto::FLOAT)
      throw ModelError(fmt::format("{}: input '{}' is {}; eatsim runs float32 inputs", path_, input_name_,
                                   onnxio::type_name(et)));
    auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
    const auto& want = o_.input_shape;
    if (!want.empty()) {
      if (want.size() != 4 && want.size() != 2) throw UsageError("--input-shape: give N,C,H,W (or N,F)");
      if (shape->dim_size() != 0 && shape->dim_size() != static_cast<int>(want.size()))
        throw UsageError(fmt::format("--input-shape {}: input '{}' of {} has {} dimensions",
                                     fmt::join(want, ","), input_name_, path_, shape->dim_size()));
      if (shape->dim_size() == 0)
        for (size_t i = 0; i < want.size(); ++i) shape->add_dim();
      for (size_t i = 0; i < want.size(); ++i) {
        auto* d = shape->mutable_dim(static_cast<int>(i));
        if (want[i] < 0) throw UsageError("--input-shape: every dimension must be positive");
        if (want[i] == 0) continue;  // the file's
        if (d->has_dim_value() && d->dim_value() != want[i] && i > 0)
          throw UsageError(fmt::format("--input-shape {}: dimension {} of input '{}' is {} in {}",
                                       fmt::join(want, ","), i, input_name_, d->dim_value(), path_));
        d->set_dim_value(want[i]);
      }
    }
    const int rank = shape->dim_size();
    if (rank != 4 && rank != 2)
      throw ModelError(
          fmt::format("{}: input '{}' has {} dimensions; eatsim reads N×C×H×W images (or N×F "
                      "vectors)",
                      path_, input_name_, rank));
    std::vector<std::string> unknown;
    for (int i = 1; i < rank; ++i)
      if (!shape->dim(i).has_dim_value() || shape->dim(i).dim_value() <= 0)
        unknown.push_back(shape->dim(i).dim_param().empty() ? "?" : shape->dim(i).dim_param());
    if (!unknown.empty())
      throw ModelError(fmt::format("{}: input '{}' has dynamic dimensions ({}); give --input-shape N,C,H,W",
                                   path_, input_name_, fmt::join(unknown, ", ")));
    if (!shape->dim(0).has_dim_value() || shape->dim(0).dim_value() <= 0)
      shape->mutable_dim(0)->set_dim_value(1);
    for (int i = 1; i < rank; ++i) in_shape_.push_back(shape->dim(i).dim_value());
    for (int64_t d : in_shape_)
      if (d > (1 << 20))
        throw ModelError(fmt::format("{}: input dimension {} is implausibly large", path_, d));
  }

  // What ONNX's shape inference indexes without checking (a 6-D weight on a 4-D input crashes it):
  // every initializer's dimensions, and the ranks of conv/pool weights and attributes.
  void precheck() {
    std::map<std::string, const onnx::TensorProto*> inits;
    for (const auto& t : m_.graph().initializer()) {
      onnxio::dims(t, fmt::format("{}: initializer '{}'", path_, t.name()));
      inits[t.name()] = &t;
    }
    for (const auto& n : m_.graph().node()) {
      const std::string& op = n.op_type();
      if (op != "Conv" && op != "MaxPool" && op != "AveragePool") continue;
      if (op == "Conv") {
        auto w = n.input_size() > 1 ? inits.find(n.input(1)) : inits.end();
        if (w == inits.end()) fail(n, "the weight (input 1) must be an initializer");
        if (w->second->dims_size() != 4)
          fail(n, fmt::format("a weight of {} dimensions; eatsim has 2-D convolutions (4-D weights)",
                              w->second->dims_size()));
        if (attr_i(n, "group", 1) < 1) fail(n, "group must be at least 1");
      } else if (attr_ints(n, "kernel_shape").size() != 2) {
        fail(n, "kernel_shape must give 2 sizes (2-D pooling)");
      }
      for (const char* a : {"kernel_shape", "strides", "dilations", "pads"}) {
        const size_t k = attr_ints(n, a).size(), want = std::string(a) == "pads" ? 4 : 2;
        if (k != 0 && k != want) fail(n, fmt::format("{} has {} values; a 2-D {} takes {}", a, k, op, want));
        for (int64_t v : attr_ints(n, a))
          if (v < (std::string(a) == "pads" ? 0 : 1) || v > (1 << 20))
            fail(n, fmt::format("{} value {} is out of range", a, v));
      }
    }
  }

  void infer_shapes() {
    try {
      onnx::ShapeInferenceOptions opt;
      opt.check_type = false;
      opt.error_mode = 0;
      onnx::shape_inference::InferShapes(m_, onnx::OpSchemaRegistry::Instance(), opt);
    } catch (const std::exception& e) {
      throw ModelError(fmt::format("{}: ONNX's shape inference failed: {}", path_, first_line(e.what())));
    }
    auto take = [&](const onnx::ValueInfoProto& v) {
      if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
      Shape s;
      for (const auto& d : v.type().tensor_type().shape().dim())
        s.push_back(d.has_dim_value() ? d.dim_value() : -1);
      shapes_[v.name()] = s;
    };
    for (const auto& v : m_.graph().input()) take(v);
    for (const auto& v : m_.graph().value_info()) take(v);
    for (const auto& v : m_.graph().output()) take(v);
  }

  // Every node whose op eatsim does not have, all listed.
  void check_ops() {
    std::vector<std::string> bad;
    for (const auto& n : m_.graph().node()) {
      const bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
      if (!std_domain || !supported_ops().count(n.op_type()))
        bad.push_back(fmt::format("{}: op {}{} is not supported", where(n),
                                  std_domain ? "" : n.domain() + ".", n.op_type()));
    }
    if (!bad.empty()) {
      bad.push_back(fmt::format("{}: {} unsupported node(s); supported ops: {} (docs/onnx.md)", path_,
                                bad.size(), fmt::join(supported_ops(), ", ")));
      throw ModelError(bad);
    }
  }

  // --- values ----------------------------------------------------------------------------------
  struct Val {
    int node = -2;                            // -1: the graph input; >= 0: a graph node
    const onnx::TensorProto* init = nullptr;  // an initializer or Constant
    std::string init_name;                    // the initializer's own name
  };

  const onnx::TensorProto* constant(const onnx::NodeProto& n, int i) {
    if (i >= n.input_size() || n.input(i).empty()) return nullptr;
    auto it = vals_.find(n.input(i));
    if (it == vals_.end() || !it->second.init) return nullptr;
    return it->second.init;
  }

  std::string where(const onnx::NodeProto& n) const {
    if (!n.name().empty()) return fmt::format("{}: node '{}' ({})", path_, n.name(), n.op_type());
    return fmt::format("{}: the {} node making '{}'", path_, n.op_type(), n.output_size() ? n.output(0) : "");
  }

  [[noreturn]] void fail(const onnx::NodeProto& n, const std::string& why) const {
    throw ModelError(where(n) + ": " + why);
  }

  // An activation input (graph input or node output), or a failure naming what it is instead.
  const Val& act(const onnx::NodeProto& n, int i) {
    if (i >= n.input_size() || n.input(i).empty()) fail(n, fmt::format("input {} is missing", i));
    auto it = vals_.find(n.input(i));
    if (it == vals_.end())
      fail(n,
           fmt::format("input '{}' is not defined before this node (the graph must be topologically sorted)",
                       n.input(i)));
    if (pads_.count(n.input(i)))
      fail(n, fmt::format("input '{}' comes from Pad '{}': a Pad folds only into the Conv or pool it feeds",
                          n.input(i), pads_[n.input(i)].node));
    if (it->second.init)
      fail(n, fmt::format("input '{}' is a constant tensor; eatsim graphs compute on activations only "
                          "(constants are the parameters of Conv, BatchNormalization and Gemm)",
                          n.input(i)));
    return it->second;
  }

  // Per-sample shape of an ONNX value from shape inference (batch dropped), or a failure.
  Shape sample_shape(const onnx::NodeProto& n, const std::string& value) {
    auto it = shapes_.find(value);
    if (it == shapes_.end() || it->second.empty())
      fail(n, fmt::format("the shape of '{}' is unknown (ONNX's shape inference could not tell)", value));
    Shape s(it->second.begin() + 1, it->second.end());
    for (int64_t d : s)
      if (d < 0)
        fail(n, fmt::format("the shape of '{}' is not fixed ({})", value, fmt::join(it->second, "x")));
    return s;
  }

  const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) const {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attr_i(const onnx::NodeProto& n, const std::string& name, int64_t def) const {
    const auto* a = attr(n, name);
    return a ? a->i() : def;
  }
  double attr_f(const onnx::NodeProto& n, const std::string& name, double def) const {
    const auto* a = attr(n, name);
    return a ? tidy(a->f()) : def;
  }
  std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name) const {
    const auto* a = attr(n, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
  }
  std::string attr_s(const onnx::NodeProto& n, const std::string& name, const std::string& def) const {
    const auto* a = attr(n, name);
    return a ? a->s() : def;
  }

  std::vector<float> f32(const onnx::TensorProto& t, const std::string& what) {
    return onnxio::as_f32(t, dir_, fmt::format("{}: tensor '{}'", path_, what));
  }

  // --- building --------------------------------------------------------------------------------
  std::string unique(const std::string& want) {
    std::string s = want;
    for (int k = 2; used_.count(s); ++k) s = want + "_" + std::to_string(k);
    used_.insert(s);
    return s;
  }

  // The name of a node with parameters: its weight's initializer name less ".weight" when that
  // is what it is (a PyTorch export: "layer1.0.conv1"), else the ONNX node's name.
  std::string param_node_name(const onnx::NodeProto& n, int weight_input) {
    if (weight_input < n.input_size()) {
      auto it = vals_.find(n.input(weight_input));
      const std::string& w = n.input(weight_input);
      std::string base = it != vals_.end() && it->second.init ? w : "";
      for (const char* suf : {".weight", ".scale"})
        if (base.size() > std::strlen(suf) &&
            base.compare(base.size() - std::strlen(suf), std::string::npos, suf) == 0) {
          std::string s = sanitise(base.substr(0, base.size() - std::strlen(suf)), lower(n.op_type()));
          if (!used_.count(s)) return unique(s);
        }
    }
    return unique(sanitise(n.name(), lower(n.op_type())));
  }

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  int add_node(Node node, const onnx::NodeProto& n, const std::string& out) {
    (void)n;
    nodes_.push_back(std::move(node));
    const int idx = static_cast<int>(nodes_.size()) - 1;
    vals_[out] = Val{idx, nullptr, {}};
    return idx;
  }

  std::string in_name(const Val& v) const { return v.node < 0 ? "input" : nodes_[v.node].name; }

  void param(const std::string& key, const onnx::TensorProto* t, const std::string& what, Shape shape,
             std::vector<float> data = {}) {
    ImportedTensor it;
    it.key = key;
    it.shape = std::move(shape);
    if (o_.weights)
      it.f32 = t ? f32(*t, what) : std::move(data);
    else if (t)  // shapes only: the data is not read, but must be there
      onnxio::check_size(*t, dir_, fmt::format("{}: tensor '{}'", path_, what));
    tensors_.push_back(std::move(it));
  }

  // Symmetric per-dimension padding from ONNX pads [h0, w0, h1, w1] (+ auto_pad), plus a folded Pad.
  bool spatial_pads(const onnx::NodeProto& n, const Shape& in, int kh, int kw, int sh, int sw, int dh, int dw,
                    const PadFold* fold, int& ph, int& pw) {
    std::vector<int64_t> p = attr_ints(n, "pads");
    const std::string ap = attr_s(n, "auto_pad", "NOTSET");
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      p.assign(4, 0);
      const int64_t k[2] = {kh, kw}, s[2] = {sh, sw}, d[2] = {dh, dw};
      for (int i = 0; i < 2; ++i) {
        const int64_t size = in[1 + i];
        const int64_t out = (size + s[i] - 1) / s[i];
        const int64_t total = std::max<int64_t>(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - size);
        const int64_t small = total / 2, big = total - small;
        p[i] = ap == "SAME_UPPER" ? small : big;
        p[i + 2] = ap == "SAME_UPPER" ? big : small;
      }
    } else if (ap != "NOTSET" && ap != "VALID") {
      fail(n, fmt::format("auto_pad '{}' is not an ONNX value", ap));
    }
    if (p.empty()) p.assign(4, 0);
    if (p.size() != 4) fail(n, fmt::format("pads {} are not 2-D", fmt::join(p, ",")));
    if (fold) p[0] += fold->t, p[1] += fold->l, p[2] += fold->b, p[3] += fold->r;
    if (p[0] != p[2] || p[1] != p[3])
      fail(n, fmt::format(
                  "asymmetric padding (top {}, left {}, bottom {}, right {}){}: the graph format pads both "
                  "sides of a dimension equally",
                  p[0], p[1], p[2], p[3], fold ? " after folding Pad '" + fold->node + "'" : ""));
    ph = static_cast<int>(p[0]), pw = static_cast<int>(p[1]);
    return true;
  }

  // The data input of a conv/pool, with a zero Pad in front of it folded.
  const PadFold* fold_of(const onnx::NodeProto& n) {
    auto it = pads_.find(n.input(0));
    if (it == pads_.end()) return nullptr;
    folded_.insert(n.input(0));
    return &it->second;
  }
  const Val& data_in(const onnx::NodeProto& n, const PadFold* fold) {
    if (!fold) return act(n, 0);
    auto it = vals_.find(fold->src);
    return it->second;
  }

  void conv(const onnx::NodeProto& n) {
    const PadFold* fold = fold_of(n);
    const Val& x = data_in(n, fold);
    const onnx::TensorProto* w = constant(n, 1);
    if (!w) fail(n, "the weight (input 1) must be an initializer");
    const Shape ws = onnxio::dims(*w, where(n));
    if (ws.size() != 4) fail(n, fmt::format("a {}-D convolution; eatsim has 2-D ones", int(ws.size()) - 2));
    const onnx::TensorProto* b = constant(n, 2);
    if (n.input_size() > 2 && !n.input(2).empty() && !b) fail(n, "the bias (input 2) must be an initializer");
    const Shape in = sample_shape(n, fold ? fold->src : n.input(0));
    Node c;
    c.op = Op::conv2d;
    c.name = param_node_name(n, 1);
    c.module = true;
    c.inputs = {in_name(x)};
    c.out_channels = ws[0];
    auto ks = attr_ints(n, "kernel_shape");
    c.kh = static_cast<int>(ws[2]), c.kw = static_cast<int>(ws[3]);
    if (!ks.empty() && (ks.size() != 2 || ks[0] != ws[2] || ks[1] != ws[3]))
      fail(n,
           fmt::format("kernel_shape {} disagrees with the weight's {}", fmt::join(ks, ","), shape_str(ws)));
    auto st = attr_ints(n, "strides"), dl = attr_ints(n, "dilations");
    c.sh = st.empty() ? 1 : static_cast<int>(st[0]), c.sw = st.size() > 1 ? static_cast<int>(st[1]) : c.sh;
    c.dh = dl.empty() ? 1 : static_cast<int>(dl[0]), c.dw = dl.size() > 1 ? static_cast<int>(dl[1]) : c.dh;
    c.groups = static_cast<int>(attr_i(n, "group", 1));
    if (c.groups < 1 || in.size() != 3 || in[0] % c.groups || ws[1] * c.groups != in[0])
      fail(n, fmt::format("group {} with weight {} does not fit an input of {}", c.groups, shape_str(ws),
                          shape_str(in)));
    spatial_pads(n, in, c.kh, c.kw, c.sh, c.sw, c.dh, c.dw, fold, c.ph, c.pw);
    c.bias = b != nullptr;
    param(c.name + ".weight", w, n.input(1), ws);
    if (b) param(c.name + ".bias", b, n.input(2), {ws[0]});
    add_node(c, n, n.output(0));
  }

  void batchnorm(const onnx::NodeProto& n) {
    const Val& x = act(n, 0);
    if (attr_i(n, "training_mode", 0) != 0)
      fail(n, "training_mode=1 normalises with batch statistics; export the model in eval mode");
    for (int i = 1; i < n.output_size(); ++i)
      if (!n.output(i).empty() && consumers_[n.output(i)] > 0)
        fail(n, "its running-statistics outputs are used; export the model in eval mode");
    const onnx::TensorProto* t[4];
    for (int i = 0; i < 4; ++i)
      if (!(t[i] = constant(n, i + 1))) fail(n, fmt::format("input {} must be an initializer", i + 1));
    const Shape in = sample_shape(n, n.input(0));
    if (in.size() != 3)
      fail(n, fmt::format("BatchNormalization of a {} tensor; eatsim normalises images", shape_str(in)));
    Node bn;
    bn.op = Op::batchnorm2d;
    bn.name = param_node_name(n, 1);
    bn.module = true;
    bn.inputs = {in_name(x)};
    bn.eps = attr_f(n, "epsilon", 1e-5);
    // ONNX's momentum weighs the old statistics, PyTorch's the new ones.
    bn.momentum = std::stod(fmt::format("{:.12g}", 1.0 - attr_f(n, "momentum", 0.9)));
    const char* keys[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; ++i) {
      Shape s = onnxio::dims(*t[i], where(n));
      if (numel(s) != in[0])
        fail(n, fmt::format("input {} has {} values for {} channels", i + 1, numel(s), in[0]));
      param(bn.name + "." + keys[i], t[i], n.input(i + 1), {in[0]});
    }
    ImportedTensor nb;
    nb.key = bn.name + ".num_batches_tracked", nb.is_int64 = true;
    if (o_.weights) nb.i64 = {0};
    tensors_.push_back(nb);
    add_node(bn, n, n.output(0));
  }

  // The name of a node that stands for a PyTorch module: the scoped ONNX name less its op type
  // ("/layer1/layer1.0/relu/Relu" -> "layer1.0.relu").
  std::string module_name(const onnx::NodeProto& n, const std::string& fallback) {
    std::string s = sanitise(n.name(), fallback);
    const std::string tail = "." + n.op_type();
    if (s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0)
      s.resize(s.size() - tail.size());
    return unique(s);
  }

  // A one-input node of `op` named after the ONNX node.
  int simple(const onnx::NodeProto& n, Op op, bool module, const Val& x) {
    Node a;
    a.op = op;
    a.name = module ? module_name(n, lower(n.op_type())) : unique(sanitise(n.name(), lower(n.op_type())));
    a.module = module;
    a.inputs = {in_name(x)};
    return add_node(a, n, n.output(0));
  }

  float scalar(const onnx::NodeProto& n, int i, float def) {
    if (i >= n.input_size() || n.input(i).empty()) return def;
    const onnx::TensorProto* t = constant(n, i);
    if (!t) fail(n, fmt::format("input {} ('{}') must be a constant", i, n.input(i)));
    auto v = f32(*t, n.input(i));
    if (v.size() != 1) fail(n, fmt::format("input {} must hold one value, holds {}", i, v.size()));
    return v[0];
  }

  void clip(const onnx::NodeProto& n) {
    const Val& x = act(n, 0);
    const float lo = scalar(n, 1, -std::numeric_limits<float>::infinity());
    const float hi = scalar(n, 2, std::numeric_limits<float>::infinity());
    if (!(lo <= hi)) fail(n, fmt::format("bounds {} > {}", lo, hi));
    if (lo == 0 && std::isinf(hi)) {
      simple(n, Op::relu, true, x);
    } else if (lo == 0 && hi == 6) {
      simple(n, Op::relu6, true, x);
    } else {
      int i = simple(n, Op::hardtanh, true, x);
      const double big = std::numeric_limits<float>::max();
      nodes_[i].min_val = std::isinf(lo) ? -big : tidy(lo);
      nodes_[i].max_val = std::isinf(hi) ? big : tidy(hi);
    }
  }

  void mul(const onnx::NodeProto& n) {
    const Val& a = act(n, 0);
    const Val& b = act(n, 1);
    // x · sigmoid(x): SiLU, as PyTorch exports it.
    for (int k = 0; k < 2; ++k) {
      const Val& s = k ? a : b;
      const Val& x = k ? b : a;
      const std::string& s_name = n.input(k ? 0 : 1);
      if (s.node >= 0 && nodes_[s.node].op == Op::sigmoid && nodes_[s.node].inputs[0] == in_name(x) &&
          consumers_[s_name] == 1 && !graph_outputs_.count(s_name)) {
        nodes_[s.node].op = Op::silu;
        notes_.push_back(
            fmt::format("Sigmoid + Mul '{}' fused into silu '{}'", n.name(), nodes_[s.node].name));
        vals_[n.output(0)] = Val{s.node, nullptr, {}};
        return;
      }
    }
    Shape sa = sample_shape(n, n.input(0)), sb = sample_shape(n, n.input(1));
    auto scale = [](const Shape& s, const Shape& o) {
      return s.size() == 3 && s[1] == 1 && s[2] == 1 && o.size() == 3 && s[0] == o[0];
    };
    if (sa != sb && !scale(sa, sb) && !scale(sb, sa))
      fail(n,
           fmt::format("Mul of {} and {}: eatsim multiplies equal shapes or scales channels by a (C, 1, 1) "
                       "tensor",
                       shape_str(sa), shape_str(sb)));
    binary(n, Op::mul, "mul", a, b);
  }

  void add(const onnx::NodeProto& n) {
    // A constant bias after MatMul: the linear's bias.
    for (int k = 0; k < 2; ++k) {
      const onnx::TensorProto* c = constant(n, k);
      auto it = vals_.find(n.input(1 - k));
      if (!c || it == vals_.end() || it->second.node < 0) continue;
      Node& lin = nodes_[it->second.node];
      if (lin.op != Op::linear || lin.bias || consumers_[n.input(1 - k)] != 1) continue;
      const int64_t f = lin.out_channels;
      Shape cs = onnxio::dims(*c, where(n));
      if (numel(cs) != f) continue;
      lin.bias = true;
      param(lin.name + ".bias", c, n.input(k), {f});
      notes_.push_back(
          fmt::format("MatMul + Add '{}' imported as linear '{}' with bias", n.name(), lin.name));
      vals_[n.output(0)] = it->second;
      return;
    }
    const Val& a = act(n, 0);
    const Val& b = act(n, 1);
    Shape sa = sample_shape(n, n.input(0)), sb = sample_shape(n, n.input(1));
    if (sa != sb)
      fail(n, fmt::format("Add of {} and {}: eatsim adds equal shapes", shape_str(sa), shape_str(sb)));
    binary(n, Op::add, "add", a, b);
  }

  // A functional two-input node (Add, Mul) named after the ONNX node.
  void binary(const onnx::NodeProto& n, Op op, const char* fallback, const Val& a, const Val& b) {
    Node m;
    m.op = op;
    m.name = unique(sanitise(n.name(), fallback));
    m.module = false;
    m.inputs = {in_name(a), in_name(b)};
    add_node(m, n, n.output(0));
  }

  void concat(const onnx::NodeProto& n) {
    const Shape s0 = sample_shape(n, n.input(0));
    int64_t axis = attr_i(n, "axis", 1);
    const int64_t rank = static_cast<int64_t>(s0.size()) + 1;
    if (axis < 0) axis += rank;
    if (axis != 1) fail(n, fmt::format("Concat on axis {}; eatsim concatenates channels (axis 1)", axis));
    Node c;
    c.op = Op::concat;
    c.name = unique(sanitise(n.name(), "concat"));
    c.module = false;
    for (int i = 0; i < n.input_size(); ++i) c.inputs.push_back(in_name(act(n, i)));
    if (c.inputs.size() == 1) {
      vals_[n.output(0)] = act(n, 0);
      return;
    }
    add_node(c, n, n.output(0));
  }

  void pool(const onnx::NodeProto& n, bool max) {
    if (max && n.output_size() > 1 && !n.output(1).empty() && consumers_[n.output(1)] > 0)
      fail(n, "its Indices output is used");
    const PadFold* fold = fold_of(n);
    const Val& x = data_in(n, fold);
    const Shape in = sample_shape(n, fold ? fold->src : n.input(0));
    if (in.size() != 3) fail(n, fmt::format("pooling of a {} tensor", shape_str(in)));
    auto ks = attr_ints(n, "kernel_shape");
    if (ks.size() != 2) fail(n, "kernel_shape must give 2 sizes (2-D pooling)");
    for (int64_t d : attr_ints(n, "dilations"))
      if (d != 1) fail(n, "dilated pooling is not in the graph format");
    Node p;
    p.op = max ? Op::maxpool2d : Op::avgpool2d;
    p.name = module_name(n, max ? "maxpool" : "avgpool");
    p.module = true;
    p.inputs = {in_name(x)};
    p.kh = static_cast<int>(ks[0]), p.kw = static_cast<int>(ks[1]);
    auto st = attr_ints(n, "strides");
    p.sh = st.empty() ? 1 : static_cast<int>(st[0]), p.sw = st.size() > 1 ? static_cast<int>(st[1]) : 1;
    p.ceil_mode = attr_i(n, "ceil_mode", 0) != 0;
    spatial_pads(n, in, p.kh, p.kw, p.sh, p.sw, 1, 1, fold, p.ph, p.pw);
    if (fold && max && !nonnegative(fold->src))
      fail(n, fmt::format(
                  "Pad '{}' pads with zeros values that may be negative; MaxPool's own padding never wins "
                  "a max, so the two differ",
                  fold->node));
    if (!max && (p.ph || p.pw) && !fold && attr_i(n, "count_include_pad", 0) == 0)
      fail(n,
           "count_include_pad=0 with padding: eatsim's avgpool2d counts padded taps (PyTorch's default, "
           "count_include_pad=1)");
    if (!max && p.ceil_mode)
      fail(n,
           "ceil_mode average pooling: the divisor of a window past the edge differs between PyTorch and "
           "ONNX");
    add_node(p, n, n.output(0));
  }

  bool nonnegative(const std::string& value) {
    auto it = vals_.find(value);
    if (it == vals_.end() || it->second.node < 0) return false;
    const Node& s = nodes_[it->second.node];
    return s.op == Op::relu || s.op == Op::relu6 || s.op == Op::hardsigmoid ||
           (s.op == Op::hardtanh && s.min_val >= 0);
  }

  void flatten_to(const onnx::NodeProto& n, const Val& x, const Shape& in) {
    if (in.size() == 1) {  // already flat
      vals_[n.output(0)] = x;
      return;
    }
    Node f;
    f.op = Op::flatten;
    f.name = unique(sanitise(n.name(), "flatten"));
    f.module = false;
    f.inputs = {in_name(x)};
    add_node(f, n, n.output(0));
  }

  void flatten(const onnx::NodeProto& n) {
    const Val& x = act(n, 0);
    const Shape in = sample_shape(n, n.input(0));
    int64_t axis = attr_i(n, "axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(in.size()) + 1;
    if (axis != 1) fail(n, fmt::format("Flatten at axis {}; eatsim flattens each sample (axis 1)", axis));
    flatten_to(n, x, in);
  }

  // Reshape / Squeeze whose result is one flat vector per sample.
  void reshape(const onnx::NodeProto& n) {
    const Val& x = act(n, 0);
    const Shape in = sample_shape(n, n.input(0));
    const Shape out = sample_shape(n, n.output(0));
    if (out.size() != 1 || out[0] != numel(in))
      fail(n, fmt::format("{} of {} to {}: eatsim reshapes only to one flat vector per sample", n.op_type(),
                          shape_str(in), shape_str(out)));
    auto it = shapes_.find(n.output(0));
    auto it_in = shapes_.find(n.input(0));
    if (it->second[0] != it_in->second[0] && it->second[0] >= 0 && it_in->second[0] >= 0)
      fail(n, "the batch dimension changes");
    flatten_to(n, x, in);
  }

  void gemm(const onnx::NodeProto& n, bool matmul) {
    const Val& x = act(n, 0);
    const Shape in = sample_shape(n, n.input(0));
    if (in.size() != 1)
      fail(n, fmt::format("{} of a {} tensor; flatten it first", n.op_type(), shape_str(in)));
    const onnx::TensorProto* bt = constant(n, 1);
    if (!bt) fail(n, "the weight (input 1) must be an initializer");
    Shape bs = onnxio::dims(*bt, where(n));
    if (bs.size() != 2) fail(n, fmt::format("weight of shape {}; a 2-D matrix was expected", shape_str(bs)));
    const bool trans_a = !matmul && attr_i(n, "transA", 0);
    const bool trans_b = !matmul && attr_i(n, "transB", 0);
    if (trans_a) fail(n, "transA=1: eatsim's linear takes samples as rows");
    const int64_t f_in = trans_b ? bs[1] : bs[0], f_out = trans_b ? bs[0] : bs[1];
    if (f_in != in[0]) fail(n, fmt::format("weight {} does not take {} features", shape_str(bs), in[0]));
    const double alpha = matmul ? 1.0 : attr_f(n, "alpha", 1.0), beta = matmul ? 1.0 : attr_f(n, "beta", 1.0);
    Node l;
    l.op = Op::linear;
    l.name = param_node_name(n, 1);
    l.module = true;
    l.out_channels = f_out;
    l.inputs = {in_name(x)};
    std::vector<float> w;
    if (!o_.weights) onnxio::check_size(*bt, dir_, fmt::format("{}: tensor '{}'", path_, n.input(1)));
    if (o_.weights) {
      w = f32(*bt, n.input(1));
      if (!trans_b) {  // (in, out) -> PyTorch's (out, in)
        std::vector<float> t(w.size());
        for (int64_t i = 0; i < f_in; ++i)
          for (int64_t o = 0; o < f_out; ++o) t[o * f_in + i] = w[i * f_out + o];
        w.swap(t);
      }
      if (alpha != 1.0)
        for (float& v : w) v = static_cast<float>(v * alpha);
    }
    param(l.name + ".weight", nullptr, n.input(1), {f_out, f_in}, std::move(w));
    const onnx::TensorProto* c = matmul ? nullptr : constant(n, 2);
    if (!matmul && n.input_size() > 2 && !n.input(2).empty()) {
      if (!c) fail(n, "the bias (input C) must be an initializer");
      Shape cs = onnxio::dims(*c, where(n));
      const int64_t cn = numel(cs);
      if (cn != f_out && cn != 1)
        fail(n, fmt::format("bias C of shape {}: eatsim's linear adds one bias per output feature",
                            shape_str(cs)));
      if (!o_.weights) onnxio::check_size(*c, dir_, fmt::format("{}: tensor '{}'", path_, n.input(2)));
      l.bias = beta != 0.0;
      if (l.bias) {
        std::vector<float> bias;
        if (o_.weights) {
          auto v = f32(*c, n.input(2));
          bias.assign(static_cast<size_t>(f_out), 0.0f);
          for (int64_t i = 0; i < f_out; ++i) bias[i] = static_cast<float>(beta * v[cn == 1 ? 0 : i]);
        }
        param(l.name + ".bias", nullptr, n.input(2), {f_out}, std::move(bias));
      }
    }
    add_node(l, n, n.output(0));
  }

  void dropout(const onnx::NodeProto& n) {
    const Val& x = act(n, 0);
    if (n.output_size() > 1 && !n.output(1).empty() && consumers_[n.output(1)] > 0)
      fail(n, "its mask output is used");
    if (n.input_size() > 2 && !n.input(2).empty()) {
      const onnx::TensorProto* t = constant(n, 2);
      if (!t) fail(n, "training_mode must be a constant");
      auto v = onnxio::as_i64(*t, dir_, where(n));
      if (!v.empty() && v[0]) fail(n, "training_mode=1: an inference graph was expected");
    }
    double p = opset_ >= 12 ? tidy(scalar(n, 1, 0.5f)) : attr_f(n, "ratio", 0.5);
    if (!(p >= 0 && p < 1)) fail(n, fmt::format("ratio {} outside [0, 1)", p));
    int i = simple(n, Op::dropout, true, x);
    nodes_[i].p = p;
  }

  void pad(const onnx::NodeProto& n) {
    act(n, 0);
    const std::string mode = attr_s(n, "mode", "constant");
    if (mode != "constant")
      fail(n, fmt::format("mode '{}': only zero padding folds into a Conv or pool", mode));
    if (scalar(n, 2, 0.0f) != 0.0f) fail(n, "a non-zero constant_value does not fold into a Conv or pool");
    const onnx::TensorProto* pt = constant(n, 1);
    if (!pt) fail(n, "pads must be a constant");
    if (n.input_size() > 3 && !n.input(3).empty()) fail(n, "axes are not supported");
    auto p = onnxio::as_i64(*pt, dir_, where(n));
    if (p.size() != 8 || p[0] || p[1] || p[4] || p[5])
      fail(n, fmt::format("pads {}: only the two spatial dimensions of an N×C×H×W tensor may be padded",
                          fmt::join(p, ",")));
    for (int64_t v : p)
      if (v < 0) fail(n, "negative pads (cropping)");
    pads_[n.output(0)] = PadFold{n.input(0), p[2], p[3], p[6], p[7], n.name()};
    pad_nodes_[n.output(0)] = &n;
  }

  void build() {
    const auto& g = m_.graph();
    for (const auto& t : g.initializer()) vals_[t.name()] = Val{-2, &t, t.name()};
    vals_[input_name_] = Val{-1, nullptr, {}};
    for (const auto& n : g.node())
      for (const auto& i : n.input()) ++consumers_[i];
    for (const auto& o : g.output()) graph_outputs_.insert(o.name()), ++consumers_[o.name()];
    if (in_shape_.size() == 1) {  // a rank-2 input (N, F) is read as (F, 1, 1) and flattened first
      Node f;
      f.op = Op::flatten, f.name = unique("input_flatten"), f.module = false, f.inputs = {"input"};
      nodes_.push_back(f);
      vals_[input_name_] = Val{0, nullptr, {}};
    }
    for (const auto& n : g.node()) {
      const std::string& op = n.op_type();
      if (n.output_size() < 1) fail(n, "no output");
      if (op == "Constant") {
        const auto* a = attr(n, "value");
        if (!a || !a->has_t()) fail(n, "only a Constant with a tensor `value` is supported");
        vals_[n.output(0)] = Val{-2, &a->t(), n.output(0)};
      } else if (op == "Identity") {
        auto it = vals_.find(n.input(0));
        if (it == vals_.end()) fail(n, fmt::format("input '{}' is not defined before this node", n.input(0)));
        if (pads_.count(n.input(0))) pads_[n.output(0)] = pads_[n.input(0)];
        vals_[n.output(0)] = it->second;  // shared initializers keep one tensor (see param())
      } else if (op == "Conv") {
        conv(n);
      } else if (op == "BatchNormalization") {
        batchnorm(n);
      } else if (op == "Relu") {
        simple(n, Op::relu, true, act(n, 0));
      } else if (op == "Sigmoid") {
        simple(n, Op::sigmoid, true, act(n, 0));
      } else if (op == "HardSwish") {
        simple(n, Op::hardswish, true, act(n, 0));
      } else if (op == "HardSigmoid") {
        const double a = attr_f(n, "alpha", 0.2), b = attr_f(n, "beta", 0.5);
        if (std::abs(a - 1.0 / 6) > 1e-6 || std::abs(b - 0.5) > 1e-6)
          fail(n, fmt::format("alpha {} and beta {}: eatsim's hardsigmoid is PyTorch's (alpha 1/6, beta 1/2)",
                              a, b));
        simple(n, Op::hardsigmoid, true, act(n, 0));
      } else if (op == "LeakyRelu") {
        int i = simple(n, Op::leaky_relu, true, act(n, 0));
        nodes_[i].negative_slope = attr_f(n, "alpha", 0.01);
      } else if (op == "Clip") {
        clip(n);
      } else if (op == "Mul") {
        mul(n);
      } else if (op == "Add") {
        add(n);
      } else if (op == "Concat") {
        concat(n);
      } else if (op == "MaxPool" || op == "AveragePool") {
        pool(n, op == "MaxPool");
      } else if (op == "GlobalAveragePool") {
        const Shape in = sample_shape(n, n.input(0));
        if (in.size() != 3) fail(n, fmt::format("global pooling of a {} tensor", shape_str(in)));
        simple(n, Op::global_avgpool, true, act(n, 0));
      } else if (op == "Flatten") {
        flatten(n);
      } else if (op == "Reshape" || op == "Squeeze") {
        reshape(n);
      } else if (op == "Gemm" || op == "MatMul") {
        gemm(n, op == "MatMul");
      } else if (op == "Dropout") {
        dropout(n);
      } else if (op == "Pad") {
        pad(n);
      }
    }
    for (const auto& [out, node] : pad_nodes_)
      if (folded_.count(out) && consumers_[out] > 1)
        fail(*node, "its output feeds more than one node; a Pad folds into a single Conv or pool");
    for (const auto& [out, fold] : pads_)
      if (folded_.count(out))
        notes_.push_back(fmt::format("Pad '{}' folded into the next Conv/pool", fold.node));
  }

  ImportedModel finish() {
    const auto& g = m_.graph();
    if (g.output_size() != 1)
      throw ModelError(
          fmt::format("{}: the graph has {} outputs; eatsim graphs have one", path_, g.output_size()));
    const std::string& out = g.output(0).name();
    if (pads_.count(out))
      throw ModelError(
          fmt::format("{}: output '{}' comes from Pad '{}': a Pad folds only into the Conv or pool it "
                      "feeds",
                      path_, out, pads_[out].node));
    auto it = vals_.find(out);
    if (it == vals_.end() || it->second.init)
      throw ModelError(fmt::format("{}: output '{}' is not computed from the input", path_, out));
    int out_node = it->second.node;
    if (out_node < 0) {  // the input itself (an Identity-only graph)
      Node id;
      id.op = Op::identity, id.name = unique("identity"), id.module = true, id.inputs = {"input"};
      nodes_.push_back(id);
      out_node = static_cast<int>(nodes_.size()) - 1;
    }
    Graph gr;
    gr.name = sanitise(o_.name.empty() ? fs::path(path_).stem().string() : o_.name, "model");
    gr.params.in_channels = static_cast<int>(in_shape_[0]);
    gr.params.input_h = in_shape_.size() == 3 ? static_cast<int>(in_shape_[1]) : 1;
    gr.params.input_w = in_shape_.size() == 3 ? static_cast<int>(in_shape_[2]) : 1;
    Shape os = shapes_.count(out) ? Shape(shapes_[out].begin() + 1, shapes_[out].end()) : Shape{};
    gr.params.classes = os.size() == 1 && os[0] > 0 ? static_cast<int>(os[0]) : 1;
    gr.nodes = nodes_;
    gr.output = out_node;
    ImportedModel r;
    r.yaml = "# imported from " + fs::path(path_).filename().string() + " by eatsim model import\n" +
             graph_to_yaml(gr);
    try {
      r.graph = parse_graph(r.yaml, path_);
    } catch (const Error& e) {
      std::vector<std::string> lines;
      for (const auto& l : e.lines())
        lines.push_back(fmt::format("{}: the imported graph does not check: {}", path_,
                                    l.substr(std::min(l.size(), l.find(": ") + 2))));
      throw ModelError(lines);
    }
    r.graph.source = path_;
    // ONNX's shapes and eatsim's must agree on the output.
    const Shape& ours = r.graph.nodes[r.graph.output].out_shape;
    if (!os.empty() && numel(os) > 0 && numel(os) != numel(ours))
      throw ModelError(fmt::format("{}: output '{}' is {} per sample in ONNX but {} in the imported graph",
                                   path_, out, shape_str(os), shape_str(ours)));
    // Tensors in state_dict order, each checked against the graph's shape.
    std::map<std::string, ImportedTensor*> by_key;
    for (auto& t : tensors_) by_key[t.key] = &t;
    for (const auto& p : r.graph.parameters()) {
      auto t = by_key.find(p.key);
      if (t == by_key.end()) throw ModelError(fmt::format("{}: internal: no tensor for '{}'", path_, p.key));
      if (numel(t->second->shape) != numel(p.shape))
        throw ModelError(fmt::format("{}: tensor for '{}' is {}; the graph needs {}", path_, p.key,
                                     shape_str(t->second->shape), shape_str(p.shape)));
      t->second->shape = p.shape;
      if (o_.weights) r.tensors.push_back(std::move(*t->second));
    }
    r.file_opset = file_opset_, r.opset = opset_;
    r.notes = notes_;
    return r;
  }

  std::string path_, dir_;
  OnnxImportOptions o_;
  onnx::ModelProto m_;
  int file_opset_ = 0, opset_ = 0;
  std::string input_name_;
  Shape in_shape_;
  std::map<std::string, Shape> shapes_;
  std::map<std::string, Val> vals_;
  std::map<std::string, int> consumers_;
  std::set<std::string> graph_outputs_, used_, folded_;
  std::map<std::string, PadFold> pads_;
  std::map<std::string, const onnx::NodeProto*> pad_nodes_;
  std::vector<Node> nodes_;
  std::vector<ImportedTensor> tensors_;
  std::vector<std::string> notes_;
};

}  // namespace

ImportedModel import_onnx(const std::string& path, const OnnxImportOptions& o) {
  return Importer(path, o).run();
}

const std::vector<std::string>& onnx_supported_ops() {
  static const std::vector<std::string> ops{"Add",
                                            "AveragePool",
                                            "BatchNormalization",
                                            "Clip",
                                            "Concat",
                                            "Constant",
                                            "Conv",
                                            "Dropout",
                                            "Flatten",
                                            "Gemm",
                                            "GlobalAveragePool",
                                            "HardSigmoid",
                                            "HardSwish",
                                            "Identity",
                                            "LeakyRelu",
                                            "MatMul",
                                            "MaxPool",
                                            "Mul",
                                            "Pad",
                                            "Relu",
                                            "Reshape",
                                            "Sigmoid",
                                            "Squeeze"};
  return ops;
}

std::vector<float> read_onnx_tensor(const std::string& path, Shape* shape) {
  std::string bytes, why = read_regular_file(path, bytes, kMaxModelBytes);
  if (!why.empty()) throw ModelError(path + ": " + why);
  onnx::TensorProto t;
  if (!t.ParseFromString(bytes)) throw ModelError(path + ": not an ONNX TensorProto");
  const std::string dir = fs::path(path).parent_path().string();
  if (shape) *shape = onnxio::dims(t, path);
  return onnxio::as_f32(t, dir.empty() ? "." : dir, path);
}

}  // namespace eatsim
