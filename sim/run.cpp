// The network driver and its worker pools: see run.hpp.
#include "sim/run.hpp"

#include "sim/dram_trace.hpp"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "base/errors.hpp"
#include "sim/dataflow.hpp"
#include "sim/layer_policy.hpp"
#include "sim/trace_data.hpp"
#include "traces/trace.hpp"

namespace eatsim::sim {

std::vector<Counters> SimResult::totals() const {
  std::vector<Counters> t(static_cast<size_t>(num_samples));
  for (const auto& l : layers)
    for (size_t s = 0; s < t.size(); ++s) t[s] += l.samples[s];
  return t;
}

namespace {

// What one row of one sample produced: its counters, the same hardware's dense counters (sparse
// features on) and the verification's figures (when it ran). Plain bytes, for pipes.
struct RowOut {
  Counters c, dense;
  VerifyStats check;
  bool checked = false;
};
static_assert(std::is_trivially_copyable_v<RowOut>, "rows travel through pipes as bytes");
using Rows = std::vector<RowOut>;

// One run's fixed inputs, shared read-only by every worker.
struct Job {
  const SimResult& r;
  const HwConfig dense;  // the dense twin (sparse features on only)
  Fidelity f;
  const DataSource* data;
  bool verify;
  ScanOptions scan;
  WeightCache* weights;  // shared by the workers (entries never change once made)
  DramTraceWriter* trace = nullptr;
  int64_t* trace_clock = nullptr;  // the trace's cycle where the next row starts
};

// Every row of one sample: independent of every other sample (batch residency depends on the
// sample's index only), which is what lets samples run in any order, on any worker. The dense
// twin always runs fast: it is the same numbers in every fidelity.
Rows simulate_sample(const Job& j, int64_t s, WeightCache& cache, std::mutex* data_mu) {
  Rows out;
  const bool sparse = j.r.hw.sparsity.any();
  CompressedSizes sizes;
  for (const auto& rec : j.r.layers) {
    const LayerGroup& grp = rec.group;
    LayerData d;
    if (j.data && grp.gemm >= 0) {
      std::unique_lock<std::mutex> lock;
      if (data_mu) lock = std::unique_lock<std::mutex>(*data_mu);
      d = (*j.data)(grp.gemm, s);
    }
    RowOut o;
    o.checked = j.verify && grp.gemm >= 0 && d.ifmap && d.weights;
    if (j.trace) j.trace->begin_row(grp, *j.trace_clock), set_dram_observer(j.trace);
    try {
      o.c = simulate_group(j.r.hw, grp, s, j.f,
                           {j.data ? &d : nullptr, o.checked ? &o.check : nullptr, &cache, &j.scan, &sizes});
    } catch (...) {
      set_dram_observer(nullptr);
      throw;
    }
    if (j.trace) set_dram_observer(nullptr), *j.trace_clock += reported_cycles(j.r.hw, grp, o.c);
    if (sparse) o.dense = simulate_group(j.dense, grp, s, Fidelity::fast);
    out.push_back(o);
  }
  return out;
}

// Threads: each takes the next sample.
void run_threads(const Job& j, int jobs, std::vector<Rows>& per_sample) {
  const int64_t n = j.r.num_samples;
  std::atomic<int64_t> next{0};
  std::mutex data_mu, err_mu;
  std::exception_ptr err;
  auto work = [&] {
    for (int64_t s; (s = next++) < n;) {
      try {
        per_sample[s] = simulate_sample(j, s, *j.weights, &data_mu);
      } catch (...) {
        std::lock_guard<std::mutex> l(err_mu);
        if (!err) err = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < jobs; ++w) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (err) std::rethrow_exception(err);
}

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t k = ::write(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k, n -= size_t(k);
  }
  return true;
}
bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t k = ::read(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k, n -= size_t(k);
  }
  return true;
}

// The pipe protocol: (sample >= 0, every row's RowOut) per sample; an error is (-1, its kind, its
// length, its text), so the parent throws it again as the same error type (exit code and hint).
constexpr int64_t kErrorTag = -1;

// Worker w simulates samples w, w + jobs, ... and writes them to `fd`; returns its exit code.
int worker_main(const Job& j, int w, int jobs, int fd) {
  const size_t rows = j.r.layers.size();
  try {
    for (int64_t s = w; s < j.r.num_samples; s += jobs) {
      Rows c = simulate_sample(j, s, *j.weights, nullptr);
      if (!write_all(fd, &s, sizeof s) || !write_all(fd, c.data(), rows * sizeof(RowOut))) return 3;
    }
  } catch (const std::exception& e) {
    const auto* err = dynamic_cast<const Error*>(&e);
    int32_t kind = static_cast<int32_t>(err ? err->kind() : ErrorKind::general);
    std::string m = e.what();
    uint64_t n = m.size();
    int64_t tag = kErrorTag;
    write_all(fd, &tag, sizeof tag), write_all(fd, &kind, sizeof kind), write_all(fd, &n, sizeof n);
    write_all(fd, m.data(), n);
    return 2;
  }
  return 0;
}

struct WorkerError {
  bool set = false;
  bool typed = false;  // an eatsim::Error (else a plain runtime error)
  ErrorKind kind = ErrorKind::general;
  std::string text;
};

// Reads one worker's samples until its pipe closes; the first error seen is kept in `err`.
void collect(int fd, const Job& j, std::vector<Rows>& per_sample, WorkerError& err) {
  const size_t rows = j.r.layers.size();
  for (int64_t s; read_all(fd, &s, sizeof s);) {
    if (s == kErrorTag) {
      int32_t kind = 0;
      uint64_t n = 0;
      if (read_all(fd, &kind, sizeof kind) && read_all(fd, &n, sizeof n)) {
        std::string m(n, '\0');
        if (read_all(fd, m.data(), n) && !err.set)
          err = {true, kind != int32_t(ErrorKind::general), static_cast<ErrorKind>(kind), m};
      }
      return;
    }
    Rows c(rows);
    if (s < 0 || s >= j.r.num_samples || !read_all(fd, c.data(), rows * sizeof(RowOut))) return;
    per_sample[s] = std::move(c);
  }
}

// Worker processes (the SystemC kernel is one per process).
void run_processes(const Job& j, int jobs, std::vector<Rows>& per_sample) {
  std::fflush(stdout), std::fflush(stderr);
  std::vector<std::pair<pid_t, int>> workers;
  for (int w = 0; w < jobs; ++w) {
    int p[2];
    if (::pipe(p) != 0) throw std::runtime_error("simulate_network: pipe failed");
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("simulate_network: fork failed");
    if (pid == 0) {
      ::close(p[0]);
      int code = worker_main(j, w, jobs, p[1]);
      ::close(p[1]);
      ::_exit(code);
    }
    ::close(p[1]);
    workers.push_back({pid, p[0]});
  }
  WorkerError err;
  for (const auto& [pid, fd] : workers) {
    collect(fd, j, per_sample, err);
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!err.set && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      err = {true, false, ErrorKind::general,
             fmt::format("simulate_network: worker {} died (status {})", pid, status)};
  }
  if (err.set && err.typed) throw_error(err.kind, err.text);
  if (err.set) throw std::runtime_error(err.text);
  for (const auto& c : per_sample)
    if (c.size() != j.r.layers.size()) throw std::runtime_error("simulate_network: a worker lost a sample");
}

// The report rows of `g` with their tiling (sample 0's plan), before any sample runs.
void lay_out(SimResult& r, const Graph& g) {
  for (auto& grp : group_layers(g)) {
    LayerRecord rec;
    rec.fused = grp.fused_names(g);
    if (grp.gemm >= 0) {
      LayerIo io;
      io.ifmap_bytes = grp.in_elems * r.hw.elem_bytes();
      const int64_t G = grp.shape.groups;
      io.ifmap_bytes /= G;
      rec.tiling = make_plan(r.hw, grp.shape.one_group(), io)->tiling();
      if (G > 1) rec.tiling = fmt::format("{} groups, each: {}", G, rec.tiling);
    }
    rec.group = std::move(grp);
    r.layers.push_back(std::move(rec));
  }
}

}  // namespace

SimResult simulate_network(const HwConfig& hw, const Graph& g, const SimOptions& o, const DataSource* data) {
  check_supported(hw);
  const int64_t samples = std::max<int64_t>(o.samples, 1);
  const bool sparse = hw.sparsity.any();
  SimResult r;
  r.hw = hw, r.model = g.name, r.num_samples = samples;
  r.energy = EnergyTable::from(hw);
  r.energy_dense = EnergyTable::from(dense_twin(hw));
  lay_out(r, g);
  WeightCache run_cache;
  int64_t trace_clock = 0;
  const Job job{r,      sparse ? dense_twin(hw) : HwConfig{}, o.fidelity,   data,        o.verify,
                o.scan, o.weights ? o.weights : &run_cache,   o.dram_trace, &trace_clock};
  if (o.dram_trace && o.fidelity == Fidelity::cycle)
    throw UsageError("--dram-trace: the fast and step fidelities give the same transfers; use one of them");
  const int jobs = o.dram_trace ? 1 : static_cast<int>(std::clamp<int64_t>(o.jobs, 1, samples));
  std::vector<Rows> per_sample(static_cast<size_t>(samples));
  if (jobs == 1) {
    for (int64_t s = 0; s < samples; ++s) per_sample[s] = simulate_sample(job, s, *job.weights, nullptr);
  } else if (o.fidelity == Fidelity::cycle) {
    run_processes(job, jobs, per_sample);
  } else {
    run_threads(job, jobs, per_sample);
  }
  for (size_t l = 0; l < r.layers.size(); ++l) {
    LayerRecord& rec = r.layers[l];
    for (int64_t s = 0; s < samples; ++s) {
      const RowOut& out = per_sample[s][l];
      rec.samples.push_back(out.c);
      if (sparse) rec.dense.push_back(out.dense);
      if (out.checked) rec.verified.push_back(out.check);
    }
  }
  if (sparse && hw.sparsity.policy == SparsityPolicy::per_layer) {
    const SimResult cal = simulate(calibration_hw(hw), TraceReader(hw.sparsity.calibration));
    apply_layer_policy(r, calibrate_layers(r, cal));
  }
  return r;
}

SimResult simulate(const HwConfig& hw, const TraceReader& tr, const SimOptions& o, const TraceData* given) {
  SimOptions run = o;
  run.samples = tr.manifest().num_samples();
  if (o.samples > 0) run.samples = std::min(run.samples, o.samples);
  // Inputs, weights, biases and outputs of every conv2d/linear node, with each tensor's max|x|
  // over all samples of the trace for quantisation; dense runs without verification skip the load.
  std::unique_ptr<TraceData> loaded;
  DataSource src;
  if (hw.sparsity.any() || o.verify) {
    if (!given) loaded = std::make_unique<TraceData>(tr, run.samples);
    src = (given ? given : loaded.get())->source();
  }
  if (given || loaded) run.weights = (given ? given : loaded.get())->weight_cache();
  SimResult r = simulate_network(hw, tr.graph(), run, src ? &src : nullptr);
  r.source = tr.dir();
  r.trace_hash = tr.hash();
  return r;
}

}  // namespace eatsim::sim
