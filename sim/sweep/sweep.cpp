// Co-design sweeps, the results: the parallel resumable runner, result files, the CSV, merge,
// and the Pareto front. The sweep file is read in spec.cpp.
#include "sim/sweep/sweep.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/json.hpp"
#include "base/yaml_util.hpp"

namespace eatsim::sweep {
namespace fs = std::filesystem;

namespace {

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
    for (const auto& [k, v] : r.metrics) csv += "," + format_number(v);
    csv += "\n";
  }
  atomic_write(dir + "/results.csv", csv);
}

namespace {

// Creates the output directory, or checks that it holds results of this very sweep and shard.
void prepare_out_dir(const Spec& s, const RunOptions& o, int64_t grid) {
  std::error_code ec_out;
  if (fs::exists(o.out_dir, ec_out) && !fs::is_directory(o.out_dir, ec_out))
    throw UsageError(
        fmt::format("--out {}: exists and is not a directory (give a directory for the results)", o.out_dir));
  fs::create_directories(o.out_dir + "/points", ec_out);
  if (ec_out)
    throw UsageError(
        fmt::format("--out {}: cannot create the results directory ({})", o.out_dir, ec_out.message()));
  std::string meta = meta_yaml(s, o.shard, grid), meta_path = o.out_dir + "/sweep-output.yaml";
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
}

struct Job {
  const Point* p;
  size_t t;
};

// The (point, trace) results not yet in the output directory; `reused` counts those that are.
std::vector<Job> jobs_to_do(const Spec& s, const std::vector<Point>& mine, const std::string& out_dir,
                            int64_t& reused) {
  std::error_code ec;
  // Temporary files of a run that was killed mid-write are debris: results are renamed into place
  // only when complete. (One run per output directory at a time.)
  for (auto& e : fs::directory_iterator(out_dir + "/points"))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(e.path(), ec);
  // What is already done (a present file is complete: results are renamed into place).
  std::vector<Job> todo;
  for (const auto& p : mine)
    for (size_t t = 0; t < s.traces.size(); ++t) {
      if (fs::exists(out_dir + "/points/" + point_file(p.id, t), ec))
        ++reused;
      else
        todo.push_back({&p, t});
    }
  return todo;
}

void evaluate_job(const Spec& s, const Evaluator& ev, const std::string& out_dir, const Job& job) {
  Result r;
  r.point = job.p->id, r.trace = job.t, r.trace_name = s.traces[job.t].name;
  r.params = job.p->assign;
  r.trace_cols = ev.trace_columns(job.t);
  r.metrics = ev.evaluate(*job.p, job.t);
  atomic_write(out_dir + "/points/" + point_file(r.point, r.trace), result_json(r));
}

std::string failure(const Spec& s, const Job& job, const std::exception& e) {
  std::string a;
  for (const auto& [k, v] : job.p->assign) a += (a.empty() ? "" : ", ") + k + "=" + v;
  return fmt::format("point {} ({}), trace {}: {}", job.p->id, a, s.traces[job.t].name, e.what());
}

void show_progress(size_t done, size_t total, double elapsed) {
  double rate = elapsed > 0 ? done / elapsed : 0;
  int bar = total == 0 ? 30 : static_cast<int>(30.0 * done / total);
  std::cerr << fmt::format("\r[{}{}] {}/{} results  {:.1f}/s  ETA {:.0f} s   ", std::string(bar, '='),
                           std::string(30 - bar, ' '), done, total, rate,
                           rate > 0 ? (total - done) / rate : 0.0)
            << std::flush;
}

// Evaluates the jobs on o.jobs threads; after the first failure no new job starts. Returns that
// failure's message ("" when none); `computed` counts the jobs finished.
std::string evaluate_all(const Spec& s, const Evaluator& ev, const RunOptions& o,
                         const std::vector<Job>& todo, int64_t& computed) {
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
        evaluate_job(s, ev, o.out_dir, todo[i]);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> l(err_mu);
        if (first_error.empty()) first_error = failure(s, todo[i], e);
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
    show_progress(done, todo.size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::lock_guard<std::mutex> l(err_mu);
    if (!first_error.empty()) break;
  }
  for (auto& t : threads) t.join();
  if (o.progress && !todo.empty()) std::cerr << "\n";
  computed = static_cast<int64_t>(done.load());
  return first_error;
}

}  // namespace

RunSummary run(const Spec& s, const Evaluator& ev, const RunOptions& o) {
  RunSummary sum;
  std::vector<Point> pts = expand(s, &sum.grid);
  sum.points = static_cast<int64_t>(pts.size());
  std::vector<Point> mine;
  for (auto& p : pts)
    if (p.id % o.shard.n == o.shard.k - 1) mine.push_back(p);
  sum.in_shard = static_cast<int64_t>(mine.size());
  prepare_out_dir(s, o, sum.grid);
  std::vector<Job> todo = jobs_to_do(s, mine, o.out_dir, sum.reused);
  sum.results = sum.in_shard * static_cast<int64_t>(s.traces.size());
  std::string first_error = evaluate_all(s, ev, o, todo, sum.computed);
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
