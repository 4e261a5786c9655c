// A small expression language for sweep constraints: numbers, "strings", dotted names,
// + - * / %, comparisons, and/or/not (also && || !), parentheses. Example:
//   "sparsity.skip.group <= array.rows and array.dataflow != \"is\""
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace eatsim::sweep {

struct Value {
  bool is_num = true;
  double num = 0;
  std::string str;
};

class Expr {
 public:
  // Parses; throws ConfigError with `where` and the column on a syntax error.
  static Expr parse(const std::string& text, const std::string& where);
  // Evaluates with names looked up through `lookup` (nullopt: unknown name → ConfigError).
  Value eval(const std::function<std::optional<Value>(const std::string&)>& lookup) const;
  bool truthy(const std::function<std::optional<Value>(const std::string&)>& lookup) const;
  const std::string& text() const { return text_; }
  struct Node;

 private:
  std::string text_, where_;
  std::shared_ptr<const Node> root_;
};

}  // namespace eatsim::sweep
