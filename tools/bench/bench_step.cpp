// One process, one configuration: times SGD training steps of a built-in model and prints one JSON
// line (wall and CPU seconds per step, the per-layer-type breakdown of one extra profiled step,
// peak RSS). Driven by trainer_vs_pytorch.py; threads from OMP_NUM_THREADS.
//   bench_step resnet18 WIDTH BATCH LAMBDA SELECT WARMUP STEPS [fast|bf16]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "tools/bench/random_batch.hpp"
#include "trainer/net.hpp"
#include "trainer/sgd.hpp"

namespace {

using namespace eatsim;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s MODEL WIDTH BATCH LAMBDA SELECT WARMUP STEPS [fast|bf16]\n", argv[0]);
    return 2;
  }
  std::string name = argv[1];
  double width = std::atof(argv[2]), lambda = std::atof(argv[4]);
  int batch = std::atoi(argv[3]), warmup = std::atoi(argv[6]), steps = std::atoi(argv[7]);
  std::string mode = argc > 8 ? argv[8] : "";
  bool fast = mode == "fast";
  ParamOverrides o;
  o.has_width = true;
  o.p.width = width;
  Graph g = load_graph(name, o);
  Net net(g, 1);
  net.set_fast_conv(fast);
  if (mode == "bf16") net.set_precision(Precision::bf16);
  net.set_penalty(PenaltyConfig{lambda, 1e-4, argv[5], PenaltyNorm::layer_mean});
  Sgd opt({0.1, 0.9, 5e-4, false});
  bench::RandomBatch data(g, batch);
  std::vector<float>& x = data.x;
  std::vector<int64_t>& y = data.y;
  auto step = [&] {
    net.train_step(x.data(), y.data(), batch);
    opt.step(net);
  };
  for (int i = 0; i < warmup; ++i) step();
  std::string walls;
  double c0 = cpu_seconds(), t0 = now();
  for (int i = 0; i < steps; ++i) {
    double ts = now();
    step();
    walls += (i ? "," : "") + std::to_string(now() - ts);
  }
  double wall = (now() - t0) / steps, cpu = (cpu_seconds() - c0) / steps;
  net.set_profile(true);
  double tp = now();
  net.train_step(x.data(), y.data(), batch);
  double ts = now();
  opt.step(net);
  double sgd = now() - ts, prof_total = now() - tp;
  std::string prof;
  for (const auto& [k, v] : net.profile()) prof += "\"" + k + "\":" + std::to_string(v) + ",";
  prof += "\"sgd\":" + std::to_string(sgd);
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf(
      "{\"wall_s\":%.6f,\"cpu_s\":%.6f,\"steps_wall_s\":[%s],\"profile_step_s\":%.6f,\"profile\":{%s},"
      "\"peak_rss_mb\":%.1f,\"activation_mb\":%.1f,\"gradient_mb\":%.1f}\n",
      wall, cpu, walls.c_str(), prof_total, prof.c_str(), u.ru_maxrss / 1024.0,
      net.activation_bytes() / 1048576.0, net.gradient_bytes() / 1048576.0);
  return 0;
}
