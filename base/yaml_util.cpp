// Strict YAML reading: see yaml_util.hpp.
#include "base/yaml_util.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

namespace eatsim::yamlu {

void Diag::error(const YAML::Node& n, const std::string& key, const std::string& msg) {
  error(n.IsDefined() ? n.Mark() : YAML::Mark::null_mark(), key, msg);
}

void Diag::error(const YAML::Mark& m, const std::string& key, const std::string& msg) {
  if (m.is_null())
    errors.push_back(fmt::format("{}: {}: {}", file, key, msg));
  else
    errors.push_back(fmt::format("{}:{}:{}: {}: {}", file, m.line + 1, m.column + 1, key, msg));
}

std::string yaml_error_line(const YAML::Exception& e, const std::string& file) {
  if (e.mark.is_null()) return fmt::format("{}: yaml: {}", file, e.msg);
  return fmt::format("{}:{}:{}: yaml: {} (check indentation and quoting)", file, e.mark.line + 1,
                     e.mark.column + 1, e.msg);
}

namespace {
// Records where documents start and ignores the rest.
struct DocumentStarts : YAML::EventHandler {
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& m) override { starts.push_back(m); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}
};
}  // namespace

YAML::Node load_one(const std::string& text, int& second_line) {
  YAML::Node root = YAML::Load(text);
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts h;
  second_line = 0;
  if (parser.HandleNextDocument(h) && parser.HandleNextDocument(h) && h.starts.size() > 1)
    second_line = h.starts[1].line + 1;
  return root;
}

std::string check_tree(const YAML::Node& root, const std::string& file) {
  std::vector<YAML::Node> stack{root};
  int64_t visited = 0;
  while (!stack.empty()) {
    YAML::Node n = stack.back();
    stack.pop_back();
    if (++visited > kMaxNodes)
      return fmt::format(
          "{}: more than {} YAML nodes counting every use of an alias (an alias expanding without "
          "bound?); eatsim's files are far smaller",
          file, kMaxNodes);
    if (n.IsMap()) {
      std::set<std::string> keys;
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (it->first.IsScalar() && !keys.insert(it->first.Scalar()).second)
          return fmt::format("{}:{}:{}: duplicate key '{}' (each key once)", file, it->first.Mark().line + 1,
                             it->first.Mark().column + 1, it->first.Scalar());
        stack.push_back(it->second);
      }
    } else if (n.IsSequence()) {
      for (auto it = n.begin(); it != n.end(); ++it) stack.push_back(*it);
    }
  }
  return "";
}

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined()) return "nothing";
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "an undefined value";
  }
}

template <>
std::optional<std::string> convert<std::string>(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;
  return n.Scalar();
}
template <>
std::optional<int64_t> convert<int64_t>(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;
  const std::string& s = n.Scalar();
  try {
    size_t pos = 0;
    long long v = std::stoll(s, &pos, 10);
    if (pos != s.size()) return std::nullopt;
    return static_cast<int64_t>(v);
  } catch (...) {
    return std::nullopt;
  }
}
template <>
std::optional<int> convert<int>(const YAML::Node& n) {
  auto v = convert<int64_t>(n);
  if (!v || *v < INT32_MIN || *v > INT32_MAX) return std::nullopt;
  return static_cast<int>(*v);
}
template <>
std::optional<double> convert<double>(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;
  const std::string& s = n.Scalar();
  try {
    size_t pos = 0;
    double v = std::stod(s, &pos);
    if (pos != s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
  } catch (...) {
    return std::nullopt;
  }
}
template <>
std::optional<bool> convert<bool>(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "False" || s == "no" || s == "off") return false;
  return std::nullopt;
}

template <>
const char* type_name<std::string>() {
  return "a string";
}
template <>
const char* type_name<int64_t>() {
  return "an integer";
}
template <>
const char* type_name<int>() {
  return "an integer";
}
template <>
const char* type_name<double>() {
  return "a number";
}
template <>
const char* type_name<bool>() {
  return "true or false";
}

Map::Map(const YAML::Node& node, std::string path, Diag& diag)
    : node_(node), path_(std::move(path)), diag_(diag) {
  if (!node_.IsDefined() || !node_.IsMap()) {
    diag_.error(node_, path_.empty() ? "(top level)" : path_, "expected a mapping, got " + describe(node_));
    ok_ = false;
  }
}

bool Map::has(const std::string& key) const { return ok_ && node_[key].IsDefined(); }

YAML::Node Map::node(const std::string& key) {
  if (!ok_) return YAML::Node(YAML::NodeType::Undefined);
  used_.insert(key);
  const YAML::Node& cn = node_;
  return cn[key];
}

void Map::done() {
  if (!ok_) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string k = it->first.Scalar();
    if (!used_.count(k)) {
      std::string known;
      for (const auto& u : used_) known += (known.empty() ? "" : ", ") + u;
      diag_.error(it->first, key_path(k), "unknown key (known here: " + known + ")");
    }
  }
}

}  // namespace eatsim::yamlu
