// Co-design sweeps: spec parsing, grid expansion, the parallel resumable runner, CSV, merge.
#include "sim/sweep/sweep.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/json.hpp"
#include "base/yaml_util.hpp"

namespace eatsim::sweep {
namespace fs = std::filesystem;

std::vector<std::string> Spec::keys() const {
  std::vector<std::string> k;
  for (const auto& g : groups)
    for (const auto& p : g) k.push_back(p.key);
  return k;
}

namespace {

std::string fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

std::string fmt_num(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
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
          out.push_back(fmt_num(from + i * step));
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

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

std::string point_file(int64_t id, size_t trace) { return fmt::format("p{:06d}.t{:02d}.json", id, trace); }

struct Result {
  int64_t point = 0;
  size_t trace = 0;
  std::string trace_name;
  Assignment params, trace_cols;
  std::vector<std::pair<std::string, double>> metrics;
};

std::string result_json(const Result& r) {
  Json j{{"point", r.point}, {"trace_index", r.trace}, {"trace", r.trace_name}};
  Json& params = j["params"] = Json::object();
  for (const auto& [k, v] : r.params) params[k] = v;
  Json& cols = j["trace_columns"] = Json::object();
  for (const auto& [k, v] : r.trace_cols) cols[k] = v;
  Json& metrics = j["metrics"] = Json::object();
  for (const auto& [k, v] : r.metrics) metrics[k] = v;
  return write_json(j);
}

// Reads a result file (atomic renames mean a present file is complete; a damaged one is refused).
Result read_result(const std::string& path) {
  const Json n = parse_json<ConfigError>(read_text<ConfigError>(path), path);
  Result r;
  r.point = json_get<int64_t, ConfigError>(n, "point", path);
  r.trace = size_t(json_get<int64_t, ConfigError>(n, "trace_index", path));
  r.trace_name = json_get<std::string, ConfigError>(n, "trace", path);
  for (const char* key : {"params", "trace_columns", "metrics"})
    if (!n.contains(key) || !n[key].is_object())
      throw ConfigError(fmt::format("{}: not a sweep result file (no '{}')", path, key));
  for (auto it = n["params"].begin(); it != n["params"].end(); ++it)
    r.params.emplace_back(it.key(), json_get<std::string, ConfigError>(n["params"], it.key().c_str(), path));
  for (auto it = n["trace_columns"].begin(); it != n["trace_columns"].end(); ++it)
    r.trace_cols.emplace_back(it.key(),
                              json_get<std::string, ConfigError>(n["trace_columns"], it.key().c_str(), path));
  for (auto it = n["metrics"].begin(); it != n["metrics"].end(); ++it)
    r.metrics.emplace_back(it.key(), json_get<double, ConfigError>(n["metrics"], it.key().c_str(), path));
  return r;
}

std::string meta_yaml(const Spec& s, const Shard& sh, int64_t grid) {
  return fmt::format(
      "# eatsim sweep output; sweep.yaml beside this file is the sweep that made it.\n"
      "sweep: {}\nsweep_hash: \"{}\"\nshard: \"{}/{}\"\ngrid_points: {}\ntraces: {}\n",
      json_quote(s.name), s.hash, sh.k, sh.n, grid, s.traces.size());
}

}  // namespace

Spec parse_spec(const std::string& text, const std::string& file) {
  YAML::Node root = yamlu::parse<ConfigError>(text, file);
  yamlu::Diag d{file, {}};
  Spec s;
  s.file = file, s.text = text, s.hash = fnv1a(text);
  yamlu::Map top(root, "", d);
  d.throw_if_any<ConfigError>();
  fs::path dir = fs::path(file).parent_path();
  auto resolve = [&](const std::string& p) {
    if (p.empty() || fs::path(p).is_absolute() ||
        (p.find('/') == std::string::npos && p.find(".yaml") == std::string::npos))
      return p;  // absolute, or a preset name
    return (dir / p).lexically_normal().string();
  };
  s.name = top.get<std::string>("name", fs::path(file).stem().string());
  s.base = resolve(top.req<std::string>("base"));
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
  s.max_points = top.get<int64_t>("max_points", s.max_points);
  if (s.max_points < 1) d.error(top.node("max_points"), "max_points", "must be positive");
  // Count the crossed grid before anything is built (and without overflowing).
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
  if (YAML::Node c = top.node("constraints")) {
    if (!c.IsSequence())
      d.error(c, "constraints", "expected a list of expressions");
    else
      for (size_t i = 0; i < c.size(); ++i) {
        try {
          s.constraints.push_back(
              Expr::parse(c[i].Scalar(), fmt::format("{}:{}", file, c[i].Mark().line + 1)));
        } catch (const ConfigError& e) {
          d.errors.push_back(e.what());
        }
      }
  }
  YAML::Node t = top.node("traces");
  if (!t || !t.IsSequence() || t.size() == 0) {
    d.error(t ? t : root, "traces", "expected a non-empty list of {name, path} entries");
  } else {
    for (size_t i = 0; i < t.size(); ++i) {
      yamlu::Map m(t[i], fmt::format("traces[{}]", i), d);
      TraceRef r;
      r.path = resolve(m.req<std::string>("path"));
      if (r.path.find('/') == std::string::npos && !fs::path(file).parent_path().empty())
        r.path = (dir / r.path).string();
      r.name = m.get<std::string>("name", fs::path(r.path).filename().string());
      m.done();
      s.traces.push_back(r);
    }
  }
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

void write_csv(const Spec& s, const std::string& dir, const Evaluator*) {
  std::vector<Result> rows;
  std::error_code ec;
  if (fs::is_directory(dir + "/points", ec))
    for (auto& e : fs::directory_iterator(dir + "/points")) {
      std::string f = e.path().filename().string();
      if (f.size() > 5 && f.compare(f.size() - 5, 5, ".json") == 0 && f[0] == 'p')
        rows.push_back(read_result(e.path().string()));
    }
  std::sort(rows.begin(), rows.end(), [](const Result& a, const Result& b) {
    return std::tie(a.point, a.trace) < std::tie(b.point, b.trace);
  });
  std::string csv = "point,trace";
  for (const auto& k : s.keys()) csv += "," + csv_field(k);
  if (!rows.empty()) {
    for (const auto& [k, v] : rows.front().trace_cols) csv += ",trace_" + csv_field(k);
    for (const auto& [k, v] : rows.front().metrics) csv += "," + csv_field(k);
  }
  csv += "\n";
  for (const auto& r : rows) {
    csv += fmt::format("{},{}", r.point, csv_field(r.trace_name));
    for (const auto& [k, v] : r.params) csv += "," + csv_field(v);
    for (const auto& [k, v] : r.trace_cols) csv += "," + csv_field(v);
    for (const auto& [k, v] : r.metrics) csv += "," + fmt_num(v);
    csv += "\n";
  }
  atomic_write(dir + "/results.csv", csv);
}

RunSummary run(const Spec& s, const Evaluator& ev, const RunOptions& o) {
  RunSummary sum;
  std::vector<Point> pts = expand(s, &sum.grid);
  sum.points = static_cast<int64_t>(pts.size());
  std::vector<Point> mine;
  for (auto& p : pts)
    if (p.id % o.shard.n == o.shard.k - 1) mine.push_back(p);
  sum.in_shard = static_cast<int64_t>(mine.size());

  std::error_code ec_out;
  if (fs::exists(o.out_dir, ec_out) && !fs::is_directory(o.out_dir, ec_out))
    throw UsageError(
        fmt::format("--out {}: exists and is not a directory (give a directory for the results)", o.out_dir));
  fs::create_directories(o.out_dir + "/points", ec_out);
  if (ec_out)
    throw UsageError(
        fmt::format("--out {}: cannot create the results directory ({})", o.out_dir, ec_out.message()));
  std::string meta = meta_yaml(s, o.shard, sum.grid), meta_path = o.out_dir + "/sweep-output.yaml";
  std::error_code ec;
  if (fs::exists(meta_path, ec)) {
    std::string old = read_text<ConfigError>(meta_path);
    if (old != meta)
      throw ConfigError(
          fmt::format("{}: holds results of another sweep or shard (its sweep-output.yaml differs); "
                      "use another --out or remove it",
                      o.out_dir));
  } else {
    atomic_write(o.out_dir + "/sweep.yaml", s.text);
    atomic_write(meta_path, meta);
  }

  // Temporary files of a run that was killed mid-write are debris: results are renamed into place
  // only when complete. (One run per output directory at a time.)
  for (auto& e : fs::directory_iterator(o.out_dir + "/points"))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(e.path(), ec);
  // What is already done (a present file is complete: results are renamed into place).
  struct Job {
    const Point* p;
    size_t t;
  };
  std::vector<Job> todo;
  for (const auto& p : mine)
    for (size_t t = 0; t < s.traces.size(); ++t) {
      if (fs::exists(o.out_dir + "/points/" + point_file(p.id, t), ec))
        ++sum.reused;
      else
        todo.push_back({&p, t});
    }
  sum.results = sum.in_shard * static_cast<int64_t>(s.traces.size());

  std::atomic<size_t> next{0}, done{0};
  std::mutex err_mu;
  std::string first_error;
  auto worker = [&]() {
    for (;;) {
      size_t i = next++;
      if (i >= todo.size()) return;
      {
        std::lock_guard<std::mutex> l(err_mu);
        if (!first_error.empty()) return;
      }
      try {
        Result r;
        r.point = todo[i].p->id, r.trace = todo[i].t, r.trace_name = s.traces[todo[i].t].name;
        r.params = todo[i].p->assign;
        r.trace_cols = ev.trace_columns(todo[i].t);
        r.metrics = ev.evaluate(*todo[i].p, todo[i].t);
        atomic_write(o.out_dir + "/points/" + point_file(r.point, r.trace), result_json(r));
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> l(err_mu);
        if (first_error.empty())
          first_error = fmt::format(
              "point {} ({}), trace {}: {}", todo[i].p->id,
              [&] {
                std::string a;
                for (const auto& [k, v] : todo[i].p->assign) a += (a.empty() ? "" : ", ") + k + "=" + v;
                return a;
              }(),
              s.traces[todo[i].t].name, e.what());
      }
      ++done;
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  int jobs = std::max(1, std::min<int>(o.jobs, static_cast<int>(todo.size())));
  for (int j = 0; j < jobs; ++j) threads.emplace_back(worker);
  while (o.progress && done < todo.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    size_t d = done;
    double rate = el > 0 ? d / el : 0;
    int bar = todo.empty() ? 30 : static_cast<int>(30.0 * d / todo.size());
    std::cerr << fmt::format("\r[{}{}] {}/{} results  {:.1f}/s  ETA {:.0f} s   ", std::string(bar, '='),
                             std::string(30 - bar, ' '), d, todo.size(), rate,
                             rate > 0 ? (todo.size() - d) / rate : 0.0)
              << std::flush;
    std::lock_guard<std::mutex> l(err_mu);
    if (!first_error.empty()) break;
  }
  for (auto& t : threads) t.join();
  if (o.progress && !todo.empty()) std::cerr << "\n";
  sum.computed = static_cast<int64_t>(done.load());
  write_csv(s, o.out_dir, &ev);
  if (!first_error.empty())
    throw ConfigError(first_error + " (finished results are kept; rerun to continue)");
  return sum;
}

MergeReport merge(const std::vector<std::string>& dirs, const std::string& out) {
  if (dirs.empty()) throw UsageError("sweep merge: give the shard output directories");
  MergeReport rep;
  std::string hash, spec_text, spec_dir;
  for (const auto& d : dirs) {
    std::string meta_path = d + "/sweep-output.yaml";
    std::error_code ec;
    if (!fs::exists(meta_path, ec))
      throw ConfigError(fmt::format("{}: not a sweep output directory (no sweep-output.yaml)", d));
    YAML::Node m = yamlu::parse<ConfigError>(read_text<ConfigError>(meta_path), meta_path);
    std::string h = m["sweep_hash"].as<std::string>("");
    if (hash.empty()) {
      hash = h, spec_text = read_text<ConfigError>(d + "/sweep.yaml"), spec_dir = d;
    } else if (h != hash) {
      throw ConfigError(
          fmt::format("{}: comes from another sweep file (hash {}, {} has {}); merge shards of one sweep", d,
                      h, spec_dir, hash));
    }
  }
  Spec s = parse_spec(spec_text, spec_dir + "/sweep.yaml");
  fs::create_directories(out + "/points");
  std::map<std::string, std::string> seen;  // file -> shard dir
  for (const auto& d : dirs) {
    for (auto& e : fs::directory_iterator(d + "/points")) {
      std::string f = e.path().filename().string();
      if (f.size() < 5 || f.compare(f.size() - 5, 5, ".json") != 0 || f[0] != 'p') continue;
      auto [it, fresh] = seen.emplace(f, d);
      if (!fresh) {
        rep.duplicated.push_back(fmt::format("{} (in {} and {})", f, it->second, d));
        if (read_text<ConfigError>(e.path().string()) != read_text<ConfigError>(it->second + "/points/" + f))
          throw ConfigError(fmt::format("{}: result {} differs from the one in {}", d, f, it->second));
        continue;
      }
      atomic_write(out + "/points/" + f, read_text<ConfigError>(e.path().string()));
    }
  }
  int64_t grid = 0;
  for (const auto& p : expand(s, &grid))
    for (size_t t = 0; t < s.traces.size(); ++t) {
      ++rep.expected;
      if (seen.count(point_file(p.id, t)))
        ++rep.found;
      else
        rep.missing.push_back(fmt::format("point {} trace {}", p.id, s.traces[t].name));
    }
  atomic_write(out + "/sweep.yaml", spec_text);
  atomic_write(out + "/sweep-output.yaml", meta_yaml(s, Shard{1, 1}, grid));
  write_csv(s, out, nullptr);
  return rep;
}

std::vector<size_t> pareto_front(const std::vector<std::vector<double>>& m) {
  std::vector<size_t> out;
  for (size_t i = 0; i < m.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < m.size() && !dominated; ++j) {
      if (i == j) continue;
      bool all_le = true, one_lt = false;
      for (size_t k = 0; k < m[i].size(); ++k) {
        all_le = all_le && m[j][k] <= m[i][k];
        one_lt = one_lt || m[j][k] < m[i][k];
      }
      dominated = all_le && one_lt;
    }
    if (!dominated) out.push_back(i);
  }
  return out;
}

}  // namespace eatsim::sweep
