// Trainer speed: one SGD training step (forward, CE + EAT penalty, backward, update) of a built-in
// model, and the one-time cost of building a batch size's primitives. Threads: OMP_NUM_THREADS.
//   OMP_NUM_THREADS=2 bench_trainer --benchmark_filter='train_step/resnet18_w1'
// (width 1, batch 128: standard, EAT λ = 1 with the reference selection, fast convolutions)
#include <benchmark/benchmark.h>

#include <random>

#include "tools/bench/random_batch.hpp"
#include "trainer/net.hpp"
#include "trainer/sgd.hpp"

namespace {

using namespace eatsim;

Graph model(const char* name, double width) {
  ParamOverrides o;
  o.has_width = true;
  o.p.width = width;
  return load_graph(name, o);
}

void train_step(benchmark::State& st, const char* name, double width, int batch, double lambda,
                bool fast = false) {
  Graph g = model(name, width);
  Net net(g, 1);
  net.set_fast_conv(fast);
  net.set_penalty(PenaltyConfig{lambda, 1e-4, "reference", PenaltyNorm::layer_mean});
  Sgd opt({0.1, 0.9, 5e-4, false});
  bench::RandomBatch data(g, batch);
  std::vector<float>& x = data.x;
  std::vector<int64_t>& y = data.y;
  net.train_step(x.data(), y.data(), batch);  // builds the plan
  for (auto _ : st) {
    net.train_step(x.data(), y.data(), batch);
    opt.step(net);
  }
  st.counters["images/s"] =
      benchmark::Counter(static_cast<double>(batch) * st.iterations(), benchmark::Counter::kIsRate);
}

void build(benchmark::State& st, const char* name, double width, int batch) {
  Graph g = model(name, width);
  std::vector<float> x(batch * numel(g.input_shape), 0.5f);
  for (auto _ : st) {
    Net net(g, 1);
    net.forward(x.data(), batch, true);
  }
}

BENCHMARK_CAPTURE(train_step, resnet18_w1_b128_std, "resnet18", 1.0, 128, 0.0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(train_step, resnet18_w1_b128_eat, "resnet18", 1.0, 128, 1.0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(train_step, resnet18_w1_b128_std_fastconv, "resnet18", 1.0, 128, 0.0, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(train_step, resnet18_w025_b128_eat, "resnet18", 0.25, 128, 1.0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(train_step, vgg16_w1_b128_std, "vgg16", 1.0, 128, 0.0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(build, resnet18_w0125_b8, "resnet18", 0.125, 8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
