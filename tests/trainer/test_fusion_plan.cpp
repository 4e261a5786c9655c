// The fusion and in-place plan on its own (no oneDNN): which BN computes its ReLU, which ReLU runs
// in place over which input, which add applies its ReLU, which convolutions may run Winograd, and
// who sums each penalty, for small graphs and the options that switch these off.
#include <gtest/gtest.h>

#include "models/graph.hpp"
#include "trainer/fusion_plan.hpp"

namespace eatsim::trainer {
namespace {

Graph graph_of(const std::string& nodes, int C = 16) {
  return parse_graph("name: t\nparams: {width: 1, in_channels: " + std::to_string(C) +
                         ", input_size: 8, classes: 10}\nnodes:\n" + nodes,
                     "test.yaml");
}

// global_avgpool → flatten → linear over `from`: the classifier every test graph ends with.
std::string classifier(const std::string& from) {
  return "  - {name: pool, op: global_avgpool, inputs: [" + from +
         "]}\n"
         "  - {name: flatten, op: flatten, inputs: [pool]}\n"
         "  - {name: linear, op: linear, inputs: [flatten], out_features: classes}\n";
}

// conv → bn → relu → conv → add(·, relu) → relu → pool → flatten → linear
Graph block() {
  return graph_of(
      "  - {name: conv, op: conv2d, inputs: [input], out_channels: 16, kernel: 3, pad: 1}\n"
      "  - {name: bn, op: batchnorm2d, inputs: [conv]}\n"
      "  - {name: r1, op: relu, inputs: [bn]}\n"
      "  - {name: conv2, op: conv2d, inputs: [r1], out_channels: 16, kernel: 3, stride: 2, pad: 1}\n"
      "  - {name: down, op: conv2d, inputs: [r1], out_channels: 16, kernel: 1, stride: 2}\n"
      "  - {name: add, op: add, inputs: [conv2, down]}\n"
      "  - {name: r2, op: relu, inputs: [add]}\n" +
      classifier("r2"));
}

PlanOptions training() {
  PlanOptions o;
  o.backward = true;
  return o;
}

TEST(FusionPlan, GraphUsesCountConsumersAndNameThePenaltySummer) {
  Graph g = block();
  GraphUses u = graph_uses(g);
  int conv = g.find("conv"), bn = g.find("bn"), r1 = g.find("r1"), add = g.find("add"), r2 = g.find("r2");
  EXPECT_EQ(u.consumers[r1], 2);
  EXPECT_EQ(u.consumers[bn], 1);
  EXPECT_EQ(u.penalty_by[r1], r1);
  EXPECT_EQ(u.penalty_by[bn], r1);  // the ReLU is bn's only consumer
  EXPECT_EQ(u.penalty_by[add], r2);
  EXPECT_EQ(u.penalty_by[conv], -1);  // read by the BN, not a ReLU
  EXPECT_EQ(u.penalty_by[g.find("linear")], -1);
}

TEST(FusionPlan, BatchNormComputesItsOnlyReluConsumer) {
  Graph g = block();
  int bn = g.find("bn"), r1 = g.find("r1");
  for (bool backward : {true, false}) {
    PlanOptions o;
    o.backward = backward;  // eval plans fuse too, for the same bits in both
    FusionPlan p = plan_fusion(g, o);
    EXPECT_TRUE(p.layers[bn].fuse_relu);
    EXPECT_EQ(p.layers[bn].pen_self, bn);
    EXPECT_EQ(p.layers[bn].pen_relu, r1);
    EXPECT_TRUE(p.layers[r1].relu_done);
    EXPECT_FALSE(p.layers[r1].inplace);
    EXPECT_TRUE(p.clobbered[bn]);
    EXPECT_TRUE(p.inplace);
  }
}

TEST(FusionPlan, ABatchNormThatCannotFuseLeavesItsReluToRunInPlace) {
  Graph g = block();
  int bn = g.find("bn"), r1 = g.find("r1");
  PlanOptions o = training();
  o.cannot_fuse.assign(g.nodes.size(), 0);
  o.cannot_fuse[bn] = 1;
  FusionPlan p = plan_fusion(g, o);
  EXPECT_FALSE(p.layers[bn].fuse_relu);
  EXPECT_FALSE(p.layers[r1].relu_done);
  EXPECT_EQ(p.layers[r1].pen_self, r1);
  EXPECT_EQ(p.layers[r1].pen_in, bn);
  EXPECT_TRUE(p.layers[r1].inplace);
  EXPECT_FALSE(p.layers[r1].input_relued);
  EXPECT_TRUE(p.clobbered[bn]);
}

TEST(FusionPlan, AddAppliesTheReluRunningInPlaceOverIt) {
  Graph g = block();
  int add = g.find("add"), r2 = g.find("r2");
  FusionPlan p = plan_fusion(g, training());
  EXPECT_TRUE(p.layers[add].relu_after);
  EXPECT_TRUE(p.layers[r2].inplace);
  EXPECT_TRUE(p.layers[r2].input_relued);
  EXPECT_EQ(p.layers[r2].pen_in, add);
  EXPECT_TRUE(p.clobbered[add]);
  // Eval plans keep the add's output: no post-op, no in-place ReLU.
  PlanOptions eval;
  FusionPlan q = plan_fusion(g, eval);
  EXPECT_FALSE(q.layers[add].relu_after);
  EXPECT_FALSE(q.layers[r2].inplace);
  EXPECT_FALSE(q.clobbered[add]);
}

TEST(FusionPlan, NoInPlaceReluOverAPenalisedInput) {
  Graph g = block();
  int add = g.find("add"), r2 = g.find("r2"), bn = g.find("bn");
  PlanOptions o = training();
  o.penalised = {add};
  FusionPlan p = plan_fusion(g, o);
  EXPECT_FALSE(p.layers[add].relu_after);
  EXPECT_FALSE(p.layers[r2].inplace);
  EXPECT_EQ(p.layers[r2].pen_in, add);  // the ReLU still sums the add's penalty
  EXPECT_FALSE(p.clobbered[add]);
  EXPECT_TRUE(p.layers[bn].fuse_relu);  // the BN fuses whatever is penalised
}

TEST(FusionPlan, NoInPlaceReluOverAnInputWithSeveralConsumers) {
  Graph g = graph_of(
      "  - {name: conv, op: conv2d, inputs: [input], out_channels: 16, kernel: 1}\n"
      "  - {name: r, op: relu, inputs: [conv]}\n"
      "  - {name: add, op: add, inputs: [r, conv]}\n" +
      classifier("add"));
  int conv = g.find("conv"), r = g.find("r");
  FusionPlan p = plan_fusion(g, training());
  EXPECT_FALSE(p.layers[r].inplace);
  EXPECT_EQ(p.layers[r].pen_in, -1);
  EXPECT_FALSE(p.clobbered[conv]);
  EXPECT_FALSE(p.inplace);
}

TEST(FusionPlan, ReluInPlaceOverAConvolutionItsOnlyConsumer) {
  Graph g = graph_of(
      "  - {name: conv, op: conv2d, inputs: [input], out_channels: 16, kernel: 1}\n"
      "  - {name: r, op: relu, inputs: [conv]}\n" +
      classifier("r"));
  int conv = g.find("conv"), r = g.find("r");
  FusionPlan p = plan_fusion(g, training());
  EXPECT_TRUE(p.layers[r].inplace);
  EXPECT_FALSE(p.layers[r].input_relued);
  EXPECT_TRUE(p.clobbered[conv]);
}

TEST(FusionPlan, KeepingEveryEdgeOrGradientSwitchesFusionAndInPlaceOff) {
  Graph g = block();
  PlanOptions all;
  all.all_edges = true;
  PlanOptions debug = training();
  debug.debug_grads = true;
  for (const PlanOptions& o : {all, debug}) {
    FusionPlan p = plan_fusion(g, o);
    EXPECT_FALSE(p.inplace);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      EXPECT_FALSE(p.clobbered[i]) << g.nodes[i].name;
      EXPECT_FALSE(p.layers[i].fuse_relu || p.layers[i].relu_done || p.layers[i].inplace ||
                   p.layers[i].relu_after)
          << g.nodes[i].name;
    }
    EXPECT_EQ(p.layers[g.find("r1")].pen_in, g.find("bn"));  // the ReLU sums the BN's penalty
  }
}

TEST(FusionPlan, TheGraphOutputKeepsItsValue) {
  Graph g = graph_of(
      "  - {name: conv, op: conv2d, inputs: [input], out_channels: 16, kernel: 1}\n"
      "  - {name: bn, op: batchnorm2d, inputs: [conv]}\n"
      "  - {name: r, op: relu, inputs: [bn]}\n" +
      classifier("r") + "output: bn\n");
  int bn = g.find("bn");
  ASSERT_EQ(g.output, bn);
  EXPECT_EQ(graph_uses(g).penalty_by[bn], -1);
  FusionPlan p = plan_fusion(g, training());
  EXPECT_FALSE(p.layers[bn].fuse_relu);
  EXPECT_FALSE(p.clobbered[bn]);
}

TEST(FusionPlan, WinogradOnlyWhereItSuitsAndFastConvolutionsAreOn) {
  Graph g = block();
  PlanOptions o = training();
  EXPECT_FALSE(plan_fusion(g, o).layers[g.find("conv")].winograd);
  o.fast_conv = true;
  FusionPlan p = plan_fusion(g, o);
  EXPECT_TRUE(p.layers[g.find("conv")].winograd);    // 3x3, stride 1, 16 input channels
  EXPECT_FALSE(p.layers[g.find("conv2")].winograd);  // stride 2
  EXPECT_FALSE(p.layers[g.find("down")].winograd);   // 1x1
  Graph narrow =
      graph_of("  - {name: conv, op: conv2d, inputs: [input], out_channels: 16, kernel: 3, pad: 1}\n" +
                   classifier("conv"),
               3);
  EXPECT_FALSE(plan_fusion(narrow, o).layers[narrow.find("conv")].winograd);  // 3 input channels
}

}  // namespace
}  // namespace eatsim::trainer
