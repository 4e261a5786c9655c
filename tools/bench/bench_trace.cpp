// Trace I/O throughput on a full-width ResNet18 trace: write (TraceWriter, f32 and f16), open
// (manifest + header validation), and per-sample streaming reads of every activation.
//   build/bench_trace [--samples N] [--dir DIR]   (plus Google Benchmark flags)
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "traces/synth.hpp"
#include "traces/trace.hpp"

namespace {
namespace fs = std::filesystem;
using namespace eatsim;

int64_t g_samples = 8;
std::string g_dir = (fs::temp_directory_path() / "eatsim-bench-trace").string();

const Graph& graph() {
  static Graph g = load_graph("resnet18");
  return g;
}

// Random tensors of the right shapes, generated once so only I/O is timed.
struct Tensors {
  std::vector<std::pair<std::string, std::vector<float>>> act, par;
  int64_t bytes_f32 = 0;
};
const Tensors& tensors() {
  static Tensors t = [] {
    Tensors t;
    Rng rng(1);
    auto make = [&](int64_t n) {
      std::vector<float> v(static_cast<size_t>(n));
      for (auto& x : v) x = rng.uniform() < 0.5 ? 0.f : static_cast<float>(rng.uniform());
      return v;
    };
    const Graph& g = graph();
    t.act.emplace_back("input", make(g_samples * numel(g.input_shape)));
    for (const auto& n : g.nodes) t.act.emplace_back(n.name, make(g_samples * numel(n.out_shape)));
    for (const auto& p : g.parameters())
      if (!p.is_int64) t.par.emplace_back(p.key, make(numel(p.shape)));
    for (auto& a : t.act) t.bytes_f32 += 4 * static_cast<int64_t>(a.second.size());
    for (auto& a : t.par) t.bytes_f32 += 4 * static_cast<int64_t>(a.second.size());
    return t;
  }();
  return t;
}

void write_trace(const std::string& dir, DType dt) {
  const Graph& g = graph();
  const Tensors& t = tensors();
  TraceWriter w(dir, true);
  w.manifest().producer = "bench_trace";
  w.manifest().graph = g;
  for (int64_t s = 0; s < g_samples; ++s)
    w.manifest().sample_ids.push_back(s), w.manifest().labels.push_back(0);
  auto batched = [&](const Shape& s) {
    Shape b{g_samples};
    b.insert(b.end(), s.begin(), s.end());
    return b;
  };
  w.add("input", TensorKind::input, batched(g.input_shape), t.act[0].second.data(), dt);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    w.add(g.nodes[i].name, TensorKind::activation, batched(g.nodes[i].out_shape), t.act[i + 1].second.data(),
          dt);
  size_t k = 0;
  for (const auto& p : g.parameters()) {
    if (p.is_int64) {
      int64_t z = 0;
      w.add_i64(p.key, p.shape, &z);
    } else {
      w.add(p.key, TensorKind::param, p.shape, t.par[k++].second.data(), dt);
    }
  }
  w.commit();
}

int64_t dir_bytes(const std::string& dir) {
  int64_t b = 0;
  for (auto& e : fs::directory_iterator(dir)) b += static_cast<int64_t>(e.file_size());
  return b;
}

void BM_TraceWrite(benchmark::State& st, DType dt) {
  tensors();
  for (auto _ : st) write_trace(g_dir + "/w", dt);
  int64_t bytes = dir_bytes(g_dir + "/w");
  st.SetBytesProcessed(st.iterations() * bytes);
  st.counters["MB_on_disk"] = bytes / 1e6;
  st.counters["MB_per_sample_act"] =
      (bytes - 4.0 * 11.2e6 * (dt == DType::f16 ? 0.5 : 1.0)) / 1e6 / g_samples;
}

void BM_TraceOpen(benchmark::State& st) {
  write_trace(g_dir + "/r", DType::f32);
  for (auto _ : st) benchmark::DoNotOptimize(TraceReader(g_dir + "/r").manifest().tensors.size());
}

void BM_TraceReadAllSamples(benchmark::State& st) {
  write_trace(g_dir + "/r", DType::f32);
  TraceReader r(g_dir + "/r");
  int64_t bytes = 0;
  for (auto _ : st) {
    bytes = 0;
    for (int64_t s = 0; s < g_samples; ++s)
      for (int i = -1; i < static_cast<int>(graph().nodes.size()); ++i) {
        auto v = r.load_node_sample(i, s);
        bytes += 4 * static_cast<int64_t>(v.size());
        benchmark::DoNotOptimize(v.data());
      }
  }
  st.SetBytesProcessed(st.iterations() * bytes);
}

BENCHMARK_CAPTURE(BM_TraceWrite, f32, DType::f32)->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_TraceWrite, f16, DType::f16)->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
BENCHMARK(BM_TraceOpen)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TraceReadAllSamples)->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--samples" && i + 1 < argc)
      g_samples = std::stoll(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      g_dir = argv[++i];
    else
      rest.push_back(argv[i]);
  }
  fs::create_directories(g_dir);
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  std::cout << fmt::format("full-width ResNet18 (3x32x32), {} samples, trace in {}\n", g_samples, g_dir);
  benchmark::RunSpecifiedBenchmarks();
  fs::remove_all(g_dir);
  return 0;
}
