// Constraint expressions: a recursive-descent parser over a tiny grammar; see expr.hpp.
#include "sim/sweep/expr.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <vector>

#include "base/errors.hpp"

namespace eatsim::sweep {

struct Expr::Node {
  enum Kind { num, str, name, unary, binary } kind;
  double v = 0;
  std::string s;  // string literal, name, or operator
  std::shared_ptr<const Node> a, b;
};

namespace {
using NodeP = std::shared_ptr<const Expr::Node>;

struct Parser {
  const std::string& t;
  const std::string& where;
  size_t i = 0;
  int depth = 0;
  static constexpr int kMaxDepth = 200;  // nesting: deeper would overflow the stack, and no sweep needs it

  [[noreturn]] void fail(const std::string& msg) {
    throw ConfigError(fmt::format("{}: constraint '{}' at column {}: {}", where, t, i + 1, msg));
  }
  void ws() {
    while (i < t.size() && isspace(static_cast<unsigned char>(t[i]))) ++i;
  }
  bool eat(const std::string& tok) {
    ws();
    if (t.compare(i, tok.size(), tok) != 0) return false;
    // Word operators must not run into a name.
    if (isalpha(static_cast<unsigned char>(tok[0])) && i + tok.size() < t.size() &&
        (isalnum(static_cast<unsigned char>(t[i + tok.size()])) || t[i + tok.size()] == '_'))
      return false;
    i += tok.size();
    return true;
  }
  NodeP bin(const std::string& op, NodeP a, NodeP b) {
    return std::make_shared<Expr::Node>(Expr::Node{Expr::Node::binary, 0, op, std::move(a), std::move(b)});
  }
  NodeP parse_or() {
    NodeP l = parse_and();
    while (eat("or") || eat("||")) l = bin("or", l, parse_and());
    return l;
  }
  NodeP parse_and() {
    NodeP l = parse_not();
    while (eat("and") || eat("&&")) l = bin("and", l, parse_not());
    return l;
  }
  NodeP parse_not() {
    if (eat("not") ||
        (ws(), i < t.size() && t[i] == '!' && (i + 1 >= t.size() || t[i + 1] != '=') && eat("!")))
      return std::make_shared<Expr::Node>(Expr::Node{Expr::Node::unary, 0, "not", parse_not(), nullptr});
    return parse_cmp();
  }
  NodeP parse_cmp() {
    NodeP l = parse_add();
    for (const char* op : {"<=", ">=", "==", "!=", "<", ">"})
      if (eat(op)) return bin(op, l, parse_add());
    return l;
  }
  NodeP parse_add() {
    NodeP l = parse_mul();
    for (;;) {
      if (eat("+"))
        l = bin("+", l, parse_mul());
      else if (eat("-"))
        l = bin("-", l, parse_mul());
      else
        return l;
    }
  }
  NodeP parse_mul() {
    NodeP l = parse_unary();
    for (;;) {
      if (eat("*"))
        l = bin("*", l, parse_unary());
      else if (eat("/"))
        l = bin("/", l, parse_unary());
      else if (eat("%"))
        l = bin("%", l, parse_unary());
      else
        return l;
    }
  }
  NodeP parse_unary() {
    struct Guard {
      Parser& p;
      explicit Guard(Parser& q) : p(q) {
        if (++p.depth > kMaxDepth) p.fail(fmt::format("nested more than {} deep", kMaxDepth));
      }
      ~Guard() { --p.depth; }
    } guard(*this);
    if (eat("-"))
      return std::make_shared<Expr::Node>(Expr::Node{Expr::Node::unary, 0, "-", parse_unary(), nullptr});
    return parse_atom();
  }
  NodeP parse_atom() {
    ws();
    if (i >= t.size()) fail("unexpected end");
    char c = t[i];
    if (c == '(') {
      ++i;
      NodeP e = parse_or();
      if (!eat(")")) fail("expected ')'");
      return e;
    }
    if (c == '"' || c == '\'') {
      size_t j = t.find(c, i + 1);
      if (j == std::string::npos) fail("unterminated string");
      auto n = std::make_shared<Expr::Node>(
          Expr::Node{Expr::Node::str, 0, t.substr(i + 1, j - i - 1), nullptr, nullptr});
      i = j + 1;
      return n;
    }
    if (isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t used = 0;
      double v;
      try {
        v = std::stod(t.substr(i), &used);
      } catch (...) {
        fail("bad number");
      }
      i += used;
      return std::make_shared<Expr::Node>(Expr::Node{Expr::Node::num, v, "", nullptr, nullptr});
    }
    if (isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < t.size() && (isalnum(static_cast<unsigned char>(t[j])) || t[j] == '_' || t[j] == '.')) ++j;
      auto n =
          std::make_shared<Expr::Node>(Expr::Node{Expr::Node::name, 0, t.substr(i, j - i), nullptr, nullptr});
      i = j;
      return n;
    }
    fail(fmt::format("unexpected '{}'", c));
  }
};

Value eval_node(const Expr::Node& n, const std::function<std::optional<Value>(const std::string&)>& lookup,
                const std::string& text, const std::string& where) {
  auto num = [&](const Value& v) {
    if (!v.is_num)
      throw ConfigError(fmt::format("{}: constraint '{}': \"{}\" is not a number", where, text, v.str));
    return v.num;
  };
  auto mk = [](double d) { return Value{true, d, ""}; };
  switch (n.kind) {
    case Expr::Node::num:
      return mk(n.v);
    case Expr::Node::str:
      return Value{false, 0, n.s};
    case Expr::Node::name: {
      auto v = lookup(n.s);
      if (!v) throw ConfigError(fmt::format("{}: constraint '{}': unknown name '{}'", where, text, n.s));
      return *v;
    }
    case Expr::Node::unary: {
      Value a = eval_node(*n.a, lookup, text, where);
      return n.s == "-" ? mk(-num(a)) : mk(num(a) == 0);
    }
    case Expr::Node::binary: {
      Value a = eval_node(*n.a, lookup, text, where);
      if (n.s == "and" && num(a) == 0) return mk(0);
      if (n.s == "or" && num(a) != 0) return mk(1);
      Value b = eval_node(*n.b, lookup, text, where);
      if (n.s == "and" || n.s == "or") return mk(num(b) != 0);
      if (n.s == "==" || n.s == "!=") {
        bool eq = a.is_num == b.is_num && (a.is_num ? a.num == b.num : a.str == b.str);
        if (a.is_num != b.is_num)
          throw ConfigError(
              fmt::format("{}: constraint '{}': comparing a number with a string", where, text));
        return mk(n.s == "==" ? eq : !eq);
      }
      double x = num(a), y = num(b);
      if (n.s == "<") return mk(x < y);
      if (n.s == "<=") return mk(x <= y);
      if (n.s == ">") return mk(x > y);
      if (n.s == ">=") return mk(x >= y);
      if (n.s == "+") return mk(x + y);
      if (n.s == "-") return mk(x - y);
      if (n.s == "*") return mk(x * y);
      if ((n.s == "/" || n.s == "%") && y == 0)
        throw ConfigError(
            fmt::format("{}: constraint '{}': division by zero (for the values of this point)", where, text));
      if (n.s == "/") return mk(x / y);
      if (n.s == "%") return mk(std::fmod(x, y));
    }
  }
  return mk(0);
}
}  // namespace

Expr Expr::parse(const std::string& text, const std::string& where) {
  Expr e;
  e.text_ = text, e.where_ = where;
  Parser p{e.text_, e.where_};
  e.root_ = p.parse_or();
  p.ws();
  if (p.i != text.size()) p.fail("unexpected trailing text");
  return e;
}

Value Expr::eval(const std::function<std::optional<Value>(const std::string&)>& lookup) const {
  return eval_node(*root_, lookup, text_, where_);
}

bool Expr::truthy(const std::function<std::optional<Value>(const std::string&)>& lookup) const {
  Value v = eval(lookup);
  return v.is_num ? v.num != 0 : !v.str.empty();
}

}  // namespace eatsim::sweep
