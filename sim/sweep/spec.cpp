// Co-design sweeps, the sweep file: spec parsing, grid expansion with constraints, shards.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/yaml_util.hpp"
#include "sim/sweep/sweep.hpp"

namespace eatsim::sweep {
namespace fs = std::filesystem;

std::vector<std::string> Spec::keys() const {
  std::vector<std::string> k;
  for (const auto& g : groups)
    for (const auto& p : g) k.push_back(p.key);
  return k;
}

std::string format_number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

namespace {

std::string fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

// Values of one parameter: a list, {from, to, step}, or {log2: [lo, hi]} (powers of two).
constexpr double kMaxValues = 100000;  // per parameter
std::vector<std::string> read_values(const YAML::Node& n, const std::string& key, yamlu::Diag& d) {
  std::vector<std::string> out;
  if (n.IsSequence()) {
    for (const auto& v : n) {
      if (!v.IsScalar())
        d.error(v, "params." + key, "expected scalar values, got " + yamlu::describe(v));
      else
        out.push_back(v.Scalar());
    }
  } else if (n.IsMap()) {
    yamlu::Map m(n, "params." + key, d);
    if (m.has("log2")) {
      YAML::Node r = m.node("log2");
      int64_t lo = 0, hi = -1;
      if (r.IsSequence() && r.size() == 2) {
        lo = yamlu::convert<int64_t>(r[0]).value_or(0);
        hi = yamlu::convert<int64_t>(r[1]).value_or(-1);
      }
      if (lo <= 0 || hi < lo)
        d.error(r, "params." + key + ".log2", "expected [low, high] with 0 < low <= high");
      else
        for (int64_t v = 1;; v *= 2) {  // stops before v * 2 could overflow
          if (v >= lo) out.push_back(std::to_string(v));
          if (v > hi / 2) break;
        }
    } else {
      double from = m.req<double>("from"), to = m.req<double>("to"), step = m.get<double>("step", 1.0);
      if (!(step > 0))
        d.error(m.node("step"), "params." + key + ".step", "step must be positive");
      else if (to < from)
        d.error(m.node("to"), "params." + key + ".to", "the range is empty (to < from)");
      else if (!std::isfinite(from) || !std::isfinite(to) || (to - from) / step + 1 > kMaxValues)
        d.error(n, "params." + key,
                fmt::format("{{from: {:g}, to: {:g}, step: {:g}}} has more than {} values (a larger step?)",
                            from, to, step, kMaxValues));
      else
        for (int64_t i = 0; from + i * step <= to + 1e-9 * std::fabs(step); ++i)
          out.push_back(format_number(from + i * step));
    }
    m.done();
  } else {
    d.error(n, "params." + key, "expected a list of values, {from, to, step} or {log2: [low, high]}");
  }
  if (out.empty() && d.errors.empty()) d.error(n, "params." + key, "no values (an empty list or range)");
  return out;
}

std::vector<Param> read_group(const YAML::Node& n, const std::string& where, yamlu::Diag& d, bool zipped) {
  std::vector<Param> g;
  if (!n.IsMap()) {
    d.error(n, where, "expected a mapping of hwconfig keys to values");
    return g;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    Param p{it->first.Scalar(), read_values(it->second, it->first.Scalar(), d)};
    if (zipped && !g.empty() && p.values.size() != g.front().values.size())
      d.error(it->second, where + "." + p.key,
              fmt::format("{} values, but {} has {} (zipped parameters need equal lengths)", p.values.size(),
                          g.front().key, g.front().values.size()));
    g.push_back(std::move(p));
  }
  return g;
}

// A path in the sweep file is relative to the file; a preset name or an absolute path is kept.
std::string resolve_path(const fs::path& dir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute() ||
      (p.find('/') == std::string::npos && p.find(".yaml") == std::string::npos &&
       p.find(".cfg") == std::string::npos && p.find(".csv") == std::string::npos))
    return p;
  return (dir / p).lexically_normal().string();
}

// params: (each key its own group, crossed) and zip: (groups of equally long lists).
void read_groups(yamlu::Map& top, const YAML::Node& root, yamlu::Diag& d, Spec& s) {
  if (YAML::Node p = top.node("params")) {
    auto g = read_group(p, "params", d, false);
    for (auto& one : g) s.groups.push_back({std::move(one)});
  }
  if (YAML::Node z = top.node("zip")) {
    if (!z.IsSequence())
      d.error(z, "zip", "expected a list of groups of equally long value lists");
    else
      for (size_t i = 0; i < z.size(); ++i)
        s.groups.push_back(read_group(z[i], fmt::format("zip[{}]", i), d, true));
  }
  if (s.groups.empty())
    d.error(root, "params", "a sweep needs at least one parameter to vary (params: or zip:)");
}

// Counts the crossed grid before anything is built (and without overflowing); a key varies once.
void check_grid(const Spec& s, const YAML::Node& root, yamlu::Diag& d) {
  double grid = 1;
  std::string dims;
  for (const auto& g : s.groups) {
    if (g.empty()) continue;
    grid *= static_cast<double>(g.front().values.size());
    dims += fmt::format("{}{} ({})", dims.empty() ? "" : " × ", g.front().values.size(), g.front().key);
  }
  if (d.errors.empty() && grid > static_cast<double>(s.max_points))
    d.error(
        root, "params",
        fmt::format("the grid has {:.4g} points ({}), more than max_points {}; shrink the ranges, or raise "
                    "max_points: in the sweep file",
                    grid, dims, s.max_points));
  std::set<std::string> seen;
  for (const auto& k : s.keys())
    if (!seen.insert(k).second) d.error(root, "params", "parameter '" + k + "' is varied twice");
}

void read_constraints(yamlu::Map& top, yamlu::Diag& d, Spec& s) {
  YAML::Node c = top.node("constraints");
  if (!c) return;
  if (!c.IsSequence()) {
    d.error(c, "constraints", "expected a list of expressions");
    return;
  }
  for (size_t i = 0; i < c.size(); ++i) {
    try {
      s.constraints.push_back(Expr::parse(c[i].Scalar(), fmt::format("{}:{}", s.file, c[i].Mark().line + 1)));
    } catch (const ConfigError& e) {
      d.errors.push_back(e.what());
    }
  }
}

void read_traces(yamlu::Map& top, const YAML::Node& root, yamlu::Diag& d, Spec& s) {
  YAML::Node t = top.node("traces");
  if (!t || !t.IsSequence() || t.size() == 0) {
    d.error(t ? t : root, "traces",
            "expected a non-empty list of {name, path} (or {name, topology}) entries");
    return;
  }
  fs::path dir = fs::path(s.file).parent_path();
  for (size_t i = 0; i < t.size(); ++i) {
    yamlu::Map m(t[i], fmt::format("traces[{}]", i), d);
    TraceRef r;
    r.topology = m.has("topology");
    if (r.topology && m.has("path"))
      d.error(m.node("topology"), fmt::format("traces[{}]", i),
              "give path (a trace) or topology (a SCALE-Sim CSV)");
    r.gemm = m.get<bool>("gemm", false);
    r.path = resolve_path(dir, m.req<std::string>(r.topology ? "topology" : "path"));
    if (r.path.find('/') == std::string::npos && !dir.empty()) r.path = (dir / r.path).string();
    r.name = m.get<std::string>("name", fs::path(r.path).filename().string());
    m.done();
    s.traces.push_back(r);
  }
}

}  // namespace

Spec parse_spec(const std::string& text, const std::string& file) {
  YAML::Node root = yamlu::parse<ConfigError>(text, file);
  yamlu::Diag d{file, {}};
  Spec s;
  s.file = file, s.text = text, s.hash = fnv1a(text);
  yamlu::Map top(root, "", d);
  d.throw_if_any<ConfigError>();
  s.name = top.get<std::string>("name", fs::path(file).stem().string());
  s.base = resolve_path(fs::path(file).parent_path(), top.req<std::string>("base"));
  read_groups(top, root, d, s);
  s.max_points = top.get<int64_t>("max_points", s.max_points);
  if (s.max_points < 1) d.error(top.node("max_points"), "max_points", "must be positive");
  check_grid(s, root, d);
  read_constraints(top, d, s);
  read_traces(top, root, d, s);
  top.done();
  d.throw_if_any<ConfigError>();
  return s;
}

Spec load_spec(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ConfigError(path + ": no such sweep file");
  return parse_spec(read_text<ConfigError>(path), path);
}

std::vector<Point> expand(const Spec& s, int64_t* total) {
  int64_t grid = 1;
  for (const auto& g : s.groups) grid *= static_cast<int64_t>(g.front().values.size());
  if (total) *total = grid;
  std::vector<Point> out;
  std::vector<size_t> idx(s.groups.size(), 0);
  for (int64_t id = 0; id < grid; ++id) {
    // Mixed-radix decode: the last group varies fastest.
    int64_t r = id;
    for (size_t gi = s.groups.size(); gi-- > 0;) {
      int64_t n = static_cast<int64_t>(s.groups[gi].front().values.size());
      idx[gi] = static_cast<size_t>(r % n), r /= n;
    }
    Point p;
    p.id = id;
    for (size_t gi = 0; gi < s.groups.size(); ++gi)
      for (const auto& prm : s.groups[gi]) p.assign.emplace_back(prm.key, prm.values[idx[gi]]);
    auto lookup = [&](const std::string& name) -> std::optional<Value> {
      for (const auto& [k, v] : p.assign) {
        if (k != name &&
            !(k.size() > name.size() && k.compare(k.size() - name.size(), name.size(), name) == 0 &&
              k[k.size() - name.size() - 1] == '.'))
          continue;
        try {
          size_t used;
          double x = std::stod(v, &used);
          if (used == v.size()) return Value{true, x, ""};
        } catch (...) {
        }
        return Value{false, 0, v};
      }
      return std::nullopt;
    };
    bool ok = true;
    for (const auto& c : s.constraints) ok = ok && c.truthy(lookup);
    if (ok) out.push_back(std::move(p));
  }
  if (out.empty())
    throw ConfigError(fmt::format("{}: the constraints remove every one of the {} grid points (loosen them)",
                                  s.file, grid));
  return out;
}

Shard parse_shard(const std::string& s) {
  Shard sh;
  size_t slash = s.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    size_t a, b;
    sh.k = std::stoi(s.substr(0, slash), &a);
    sh.n = std::stoi(s.substr(slash + 1), &b);
    if (a != slash || b != s.size() - slash - 1) throw std::invalid_argument("junk");
  } catch (const std::exception&) {
    throw UsageError(fmt::format("--shard '{}': expected K/N, e.g. 3/8", s));
  }
  if (sh.n < 1 || sh.k < 1 || sh.k > sh.n)
    throw UsageError(fmt::format("--shard {}: K must be between 1 and N (N >= 1)", s));
  return sh;
}

}  // namespace eatsim::sweep
