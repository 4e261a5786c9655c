// The gradient-memory planner on its own (no oneDNN): first writers of each edge's gradient, and
// slabs shared by buffers whose backward lifetimes do not overlap.
#include <gtest/gtest.h>

#include "models/graph.hpp"
#include "trainer/grad_memory.hpp"

namespace eatsim::trainer {
namespace {

TEST(GradMemory, TheLastConsumerInForwardWritesFirstInBackward) {
  Graph g = parse_graph(
      "name: t\nparams: {width: 1, in_channels: 3, input_size: 8, classes: 10}\nnodes:\n"
      "  - {name: conv, op: conv2d, inputs: [input], out_channels: 4, kernel: 1}\n"
      "  - {name: r, op: relu, inputs: [conv]}\n"
      "  - {name: add, op: add, inputs: [r, conv]}\n"
      "  - {name: pool, op: global_avgpool, inputs: [add]}\n"
      "  - {name: flatten, op: flatten, inputs: [pool]}\n"
      "  - {name: linear, op: linear, inputs: [flatten], out_features: classes}\n",
      "test.yaml");
  GradWriters w = grad_writers(g);
  int conv = g.find("conv"), r = g.find("r"), add = g.find("add"), linear = g.find("linear");
  EXPECT_TRUE(w.first_writer(conv + 1, add, 1));  // the add runs after the ReLU
  EXPECT_FALSE(w.first_writer(conv + 1, r, 0));
  EXPECT_TRUE(w.first_writer(0, conv, 0));  // the graph input
  EXPECT_EQ(w.first_step(linear + 1), -1);  // nothing reads the output
  EXPECT_EQ(w.step(linear), 0);             // backward starts at the last node
  EXPECT_EQ(w.step(conv), static_cast<int>(g.nodes.size()) - 1);
  EXPECT_EQ(w.first_step(conv + 1), w.step(add));
}

TEST(GradMemory, BuffersShareASlabOnlyWhenTheirLifetimesDoNotOverlap) {
  // steps:   0 1 2 3 4
  // a (100)  x x
  // b (64)     x x
  // c (80)         x x   a's slab is free from step 2 and large enough; b's is too small
  // d (200)        x     nothing free is large enough: a new slab
  SlabPlan p = share_slabs({{100, 0, 1}, {64, 1, 2}, {80, 3, 4}, {200, 3, 3}});
  EXPECT_EQ(p.slab_of, (std::vector<int>{0, 1, 0, 2}));
  EXPECT_EQ(p.slab_bytes, (std::vector<size_t>{128, 64, 256}));  // rounded up to 64 bytes
}

TEST(GradMemory, TheSmallestFreeSlabLargeEnoughIsChosen) {
  SlabPlan p = share_slabs({{1000, 0, 0}, {100, 0, 0}, {90, 1, 1}});
  EXPECT_EQ(p.slab_of[2], 1);  // 128 bytes, not 1024
  EXPECT_EQ(p.slab_bytes.size(), 2u);
}

TEST(GradMemory, ABufferEndingAtAStepBlocksItsSlabForThatStep) {
  SlabPlan p = share_slabs({{64, 0, 2}, {64, 2, 3}, {64, 3, 3}});
  EXPECT_EQ(p.slab_of[0], 0);
  EXPECT_EQ(p.slab_of[1], 1);  // step 2 is still a's
  EXPECT_EQ(p.slab_of[2], 0);  // a is free after step 2
}

}  // namespace
}  // namespace eatsim::trainer
