// Strict YAML reading shared by every config parser: typed getters that record errors with
// file:line:col instead of throwing at the first one, and detection of unknown keys.
#pragma once
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/errors.hpp"

namespace eatsim::yamlu {

struct Diag {
  std::string file;
  std::vector<std::string> errors;

  void error(const YAML::Mark& m, const std::string& key, const std::string& msg);
  void error(const YAML::Node& n, const std::string& key, const std::string& msg);  // absent: no place
  template <class E>
  void throw_if_any() const {
    if (!errors.empty()) throw E(errors);
  }
};

// Parses YAML text; a syntax error throws E with "file:line:col: yaml: message".
std::string yaml_error_line(const YAML::Exception& e, const std::string& file);
// "" when the tree is fit to read, else the message: a duplicate key in a mapping (file:line:col),
// or more than kMaxNodes nodes counting every use of an alias (an alias bomb of a few hundred bytes
// would otherwise expand into gigabytes). Walks at most kMaxNodes nodes.
constexpr int64_t kMaxNodes = 1000000;
std::string check_tree(const YAML::Node& root, const std::string& file);

// The first YAML document of `text` and, through `second_line`, the 1-based line where a second one
// starts (0: none). (yaml-cpp's LoadAll can loop forever on malformed text; this reads at most two.)
YAML::Node load_one(const std::string& text, int& second_line);

// One YAML document (a second one is an error), checked by check_tree.
template <class E>
YAML::Node parse(const std::string& text, const std::string& file) {
  YAML::Node root;
  int second = 0;
  try {
    root = load_one(text, second);
  } catch (const YAML::Exception& e) {
    throw E(yaml_error_line(e, file));
  }
  if (second > 0)
    throw E(fmt::format("{}:{}: a second YAML document ('---'); a file holds one", file, second));
  std::string why = check_tree(root, file);
  if (!why.empty()) throw E(why);
  return root;
}

std::string describe(const YAML::Node& n);  // short rendering of a value for messages

template <class T>
std::optional<T> convert(const YAML::Node& n);  // scalar conversion, nullopt when it does not fit
template <class T>
const char* type_name();

// A mapping being read: every key asked for is marked used; done() reports the rest as unknown.
class Map {
 public:
  Map(const YAML::Node& node, std::string path, Diag& diag);
  bool ok() const { return ok_; }
  bool has(const std::string& key) const;
  YAML::Node node(const std::string& key);  // undefined node when absent
  const YAML::Node& self() const { return node_; }
  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  Diag& diag() { return diag_; }

  // Optional value: nullopt when absent; a wrong type is recorded as an error.
  template <class T>
  std::optional<T> opt(const std::string& key) {
    YAML::Node n = node(key);
    if (!n) return std::nullopt;
    auto v = convert<T>(n);
    if (!v) diag_.error(n, key_path(key), std::string("expected ") + type_name<T>() + ", got " + describe(n));
    return v;
  }
  template <class T>
  T get(const std::string& key, T fallback) {
    auto v = opt<T>(key);
    return v ? *v : fallback;
  }
  // Required value: absence is an error; returns fallback so parsing can continue.
  template <class T>
  T req(const std::string& key, T fallback = T{}) {
    if (!has(key)) {
      diag_.error(node_, key_path(key), std::string("missing required key (") + type_name<T>() + ")");
      return fallback;
    }
    return get<T>(key, fallback);
  }
  void done();

 private:
  YAML::Node node_;
  std::string path_;
  Diag& diag_;
  bool ok_ = true;
  std::set<std::string> used_;
};

}  // namespace eatsim::yamlu
