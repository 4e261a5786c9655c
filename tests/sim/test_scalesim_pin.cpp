// The SCALE-Sim v2 compatible setting: on ResNet18-CIFAR's 21 conv/linear layers, for OS, WS and
// IS on 16x16 and 32x32 arrays, reported cycles equal SCALE-Sim v2's closed forms (REFERENCES.md),
// (folds x per-fold cycles) - 1, which reproduce its COMPUTE_REPORT exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "models/graph.hpp"
#include "sim/network.hpp"

namespace eatsim::sim {
namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// SCALE-Sim v2 (2.0.2): P = output pixels, K = kh*kw*Cin, N = filters.
int64_t scalesim_cycles(const std::string& df, int64_t R, int64_t C, int64_t P, int64_t K, int64_t N) {
  if (df == "os") return cdiv(P, R) * cdiv(N, C) * (K + R + C - 2) - 1;
  if (df == "ws") return cdiv(K, R) * cdiv(N, C) * (2 * R + C + P - 2) - 1;
  return cdiv(K, R) * cdiv(P, C) * (2 * R + C + N - 2) - 1;  // is
}

TEST(ScaleSimCompat, ResNet18CyclesEqualScaleSimV2OnEveryLayer) {
  Graph g = load_graph("resnet18");
  int layers_checked = 0;
  for (const char* df : {"os", "ws", "is"})
    for (int size : {16, 32}) {
      HwConfig hw = load_hwconfig("scalesim32",
                                  {std::string("array.dataflow=") + df, "array.rows=" + std::to_string(size),
                                   "array.cols=" + std::to_string(size)});
      int n = 0;
      int64_t total = 0, expected_total = 0;
      for (const auto& grp : group_layers(g)) {
        if (grp.gemm < 0) continue;
        const Node& node = g.nodes[grp.gemm];
        // Shapes straight from the graph, independent of the simulator's GEMM mapping.
        const Shape& in = g.in_shape(node, 0);
        int64_t P = node.op == Op::linear ? 1 : node.out_shape[1] * node.out_shape[2];
        int64_t K = node.op == Op::linear ? in[0] : int64_t(node.kh) * node.kw * in[0];
        int64_t N = node.out_channels;
        Counters c = simulate_group(hw, grp, 0);
        int64_t want = scalesim_cycles(df, size, size, P, K, N);
        EXPECT_EQ(reported_cycles(hw, grp, c), want) << df << " " << size << " " << node.name;
        EXPECT_EQ(c.cycles_stall + c.cycles_writeback + c.cycles_ppu_tail, 0);
        total += reported_cycles(hw, grp, c), expected_total += want;
        ++n;
      }
      EXPECT_EQ(n, 21);
      EXPECT_EQ(total, expected_total);
      layers_checked += n;
    }
  EXPECT_EQ(layers_checked, 126);
}

TEST(ScaleSimCompat, TopologyExportGivesScaleSimTheSameOutputSize) {
  Graph g = load_graph("resnet18");
  std::string csv = scalesim_topology(g);
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(
      line,
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,");
  int rows = 0;
  while (std::getline(in, line)) {
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream f(line);
    std::string name;
    int64_t H, W, R, S, Cin, N, stride;
    f >> name >> H >> W >> R >> S >> Cin >> N >> stride;
    GemmShape s = gemm_of(g, g.find(name));
    // SCALE-Sim v2: ofmap = ceil((H - R + stride) / stride).
    int64_t ho = (H - R + stride + stride - 1) / stride, wo = (W - S + stride + stride - 1) / stride;
    EXPECT_EQ(ho * wo, s.M) << name;
    EXPECT_EQ(R * S * Cin, s.K) << name;
    EXPECT_EQ(N, s.N) << name;
    ++rows;
  }
  EXPECT_EQ(rows, 21);
}

}  // namespace
}  // namespace eatsim::sim
