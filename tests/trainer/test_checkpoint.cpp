// Checkpoint round trips and the bad-input cases (other model, missing or mis-shaped tensor),
// the inference API that trace export uses, and the SGD step.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>

#include "base/errors.hpp"
#include "tests/helpers.hpp"
#include "traces/npy.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/sgd.hpp"

namespace eatsim {
namespace {

namespace fs = std::filesystem;

Graph small(double width = 0.25) {
  ParamOverrides o;
  o.has_width = o.has_input_size = true;
  o.p.width = width;
  o.p.input_h = o.p.input_w = 8;
  return load_graph("smallcnn", o);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "no DataError";
}

TEST(Checkpoint, RoundTripKeepsEveryTensorMetadataAndExtras) {
  test::TempDir tmp("ckpt");
  Graph g = small();
  Net a(g, 1);
  std::vector<float> x = test::normal_inputs(g, 3, 2);
  std::vector<int64_t> y{1, 2, 3};
  a.train_step(x.data(), y.data(), 3);  // running statistics and num_batches_tracked move
  Sgd opt({0.1, 0.9, 5e-4, false});
  opt.step(a);
  CheckpointMeta m;
  m.epoch = 7;
  m.info["lr"] = "0.1";
  save_checkpoint(tmp / "c", a, m, {{"momentum.conv1.weight", opt.state()["conv1.weight"]}});
  EXPECT_TRUE(fs::exists(tmp / "c/conv1.weight.npy"));
  EXPECT_TRUE(fs::exists(tmp / "c/bn1.num_batches_tracked.npy"));
  EXPECT_EQ(npy_read_info(tmp / "c/bn1.num_batches_tracked.npy").dtype, DType::i64);

  Net b(g, 99);
  std::map<std::string, Tensor> extra;
  CheckpointMeta got = load_checkpoint(tmp / "c", b, &extra);
  EXPECT_EQ(got.model, "smallcnn");
  EXPECT_EQ(got.epoch, 7);
  EXPECT_EQ(got.info["lr"], "0.1");
  EXPECT_EQ(got.params.width, 0.25);
  auto sa = a.state(), sb = b.state();
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [k, t] : sa) EXPECT_EQ(t.data, sb[k].data) << k;
  EXPECT_EQ(sb["bn1.num_batches_tracked"].data[0], 1.0f);
  ASSERT_EQ(extra.count("momentum.conv1.weight"), 1u);
  EXPECT_EQ(extra["momentum.conv1.weight"].data, opt.state()["conv1.weight"].data);
  // Same outputs from the loaded copy.
  a.forward(x.data(), 3, false);
  b.forward(x.data(), 3, false);
  EXPECT_EQ(a.output().data, b.output().data);
  // Saving again replaces the directory atomically; no staging directory is left behind.
  save_checkpoint(tmp / "c", a, m);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) entries += 1, (void)e;
  EXPECT_EQ(entries, 1u);
  EXPECT_FALSE(fs::exists(tmp / "c/optimizer/momentum.conv1.weight.npy"));
}

TEST(Checkpoint, BadCheckpointsNameTheProblem) {
  test::TempDir tmp("ckpt");
  Graph g = small();
  Net a(g, 1);
  save_checkpoint(tmp / "c", a, {});
  // Another model.
  Graph other = load_graph("resnet8");
  Net r(other, 1);
  EXPECT_NE(error_of([&] {
              load_checkpoint(tmp / "c", r);
            }).find("checkpoint is of model 'smallcnn', not 'resnet8'"),
            std::string::npos);
  // Same model, other width: the first tensor that differs is named with both shapes.
  Net wide(small(0.5), 1);
  std::string e = error_of([&] { load_checkpoint(tmp / "c", wide); });
  EXPECT_NE(e.find("tensor 'conv1.weight' has shape [4, 1, 3, 3]"), std::string::npos) << e;
  EXPECT_NE(e.find("expects [8, 1, 3, 3]"), std::string::npos) << e;
  // A mis-shaped tensor.
  std::vector<float> bad(5, 0.f);
  npy_save_f32(tmp / "c/bn2.weight.npy", {5}, bad.data());
  e = error_of([&] { load_checkpoint(tmp / "c", a); });
  EXPECT_NE(e.find("tensor 'bn2.weight' has shape [5]"), std::string::npos) << e;
  // A missing tensor.
  save_checkpoint(tmp / "c", a, {});
  fs::remove(tmp / "c/bn1.running_var.npy");
  e = error_of([&] { load_checkpoint(tmp / "c", a); });
  EXPECT_NE(e.find("tensor 'bn1.running_var' is missing"), std::string::npos) << e;
  // Not a checkpoint at all.
  e = error_of([&] { load_checkpoint(tmp.path(), a); });
  EXPECT_NE(e.find("not a checkpoint"), std::string::npos) << e;
  // One line each.
  EXPECT_EQ(e.find('\n'), std::string::npos);
}

TEST(Checkpoint, LoadStateRejectsUnknownAndMissingKeys) {
  Net a(small(), 1);
  auto s = a.state();
  s["nosuch.weight"] = Tensor({1});
  EXPECT_NE(error_of([&] { a.load_state(s); }).find("'nosuch.weight' is not part of model 'smallcnn'"),
            std::string::npos);
  s.erase("nosuch.weight");
  s.erase("fc.bias");
  EXPECT_NE(error_of([&] { a.load_state(s); }).find("'fc.bias' is missing"), std::string::npos);
}

TEST(Inference, HandsBackEveryEdgeInEvalMode) {
  Graph g = small();
  Net net(g, 1);
  std::vector<float> x = test::normal_inputs(g, 5, 3);
  std::vector<Tensor> edges = net.infer_edges(x.data(), 5);
  ASSERT_EQ(edges.size(), g.nodes.size() + 1);
  EXPECT_EQ(edges[0].data, x);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Shape want{5};
    want.insert(want.end(), g.nodes[i].out_shape.begin(), g.nodes[i].out_shape.end());
    EXPECT_EQ(edges[i + 1].shape, want) << g.nodes[i].name;
  }
  // Eval mode: running statistics (fresh: mean 0, var 1) and nothing updated.
  EXPECT_EQ(net.get("bn1.num_batches_tracked").data[0], 0.0f);
  const Tensor &conv = edges[1], &bn = edges[2];
  for (size_t i = 0; i < conv.data.size(); i += 17)
    EXPECT_NEAR(bn.data[i], conv.data[i] / std::sqrt(1 + 1e-5), 1e-5);
  // relu1's output is max(bn1, 0).
  for (size_t i = 0; i < bn.data.size(); ++i) ASSERT_EQ(edges[3].data[i], std::max(bn.data[i], 0.0f));
  EXPECT_EQ(edges.back().data, net.output().data);
  // Non-zero counts agree with the edges (relu1 about half, conv1 dense), layout padding excluded.
  std::vector<int64_t> nnz = net.nonzero_counts();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    int64_t c = 0;
    for (float v : edges[i + 1].data) c += v != 0;
    EXPECT_EQ(nnz[i], c) << g.nodes[i].name;
    EXPECT_EQ(net.edge_numel(static_cast<int>(i)), edges[i + 1].numel());
  }
  EXPECT_LT(nnz[2], edges[3].numel() * 3 / 4);
  EXPECT_GT(nnz[2], edges[3].numel() / 4);
}

TEST(Sgd, StepFollowsTorchOptimSgd) {
  Graph g = small();
  Net net(g, 1);
  std::vector<float> x = test::normal_inputs(g, 2, 4);
  std::vector<int64_t> y{0, 1};
  for (bool nesterov : {false, true}) {
    Sgd opt({0.1, 0.9, 5e-4, nesterov});
    float w0 = net.param("fc.weight")[3];
    net.train_step(x.data(), y.data(), 2);
    float g1 = net.grad("fc.weight")[3];
    opt.step(net);
    float d1 = g1 + 5e-4f * w0, b1 = d1;
    float w1 = w0 - 0.1f * (nesterov ? d1 + 0.9f * b1 : b1);
    EXPECT_FLOAT_EQ(net.param("fc.weight")[3], w1);
    net.train_step(x.data(), y.data(), 2);
    float g2 = net.grad("fc.weight")[3];
    opt.step(net);
    float d2 = g2 + 5e-4f * w1, b2 = 0.9f * b1 + d2;
    EXPECT_FLOAT_EQ(net.param("fc.weight")[3], w1 - 0.1f * (nesterov ? d2 + 0.9f * b2 : b2));
  }
}

TEST(Sgd, FewStepsFitAFixedBatchAndEatLowersThePenalty) {
  Graph g = small(0.5);
  std::vector<float> x = test::normal_inputs(g, 16, 8);
  std::vector<int64_t> y(16);
  for (int i = 0; i < 16; ++i) y[i] = i % 10;
  for (double lambda : {0.0, 1.0}) {
    Net net(g, 2);
    net.set_penalty(PenaltyConfig{lambda, 1e-4, "relu", PenaltyNorm::layer_mean});
    Sgd opt({0.05, 0.9, 5e-4, false});
    LossParts first = net.train_step(x.data(), y.data(), 16), last;
    for (int step = 0; step < 40; ++step) {
      opt.step(net);
      last = net.train_step(x.data(), y.data(), 16);
    }
    EXPECT_LT(last.ce, 0.5 * first.ce) << "λ = " << lambda;
    if (lambda > 0) {
      EXPECT_LT(last.penalty, 0.8 * first.penalty);
    }
  }
}

TEST(Net, BatchSizesCanChangeBetweenCalls) {
  Graph g = small();
  Net net(g, 1);
  std::vector<float> x = test::normal_inputs(g, 7, 5);
  std::vector<int64_t> y{0, 1, 2, 3, 4, 5, 6};
  net.forward(x.data(), 7, false);
  Tensor full = net.output();
  net.train_step(x.data(), y.data(), 4);  // another plan
  net.forward(x.data(), 1, false);        // eval-only plans of other sizes
  net.forward(x.data(), 3, false);
  net.forward(x.data(), 2, false);  // the least recently used eval plan is dropped
  net.forward(x.data(), 7, false);
  // Eval results per sample do not depend on the batch; the train step changed only BN stats.
  Net ref(g, 1);
  ref.load_state(net.state());
  ref.forward(x.data(), 1, false);
  Tensor one = ref.output();
  Tensor again = net.output();
  for (int k = 0; k < 10; ++k) EXPECT_NEAR(again.data[k], one.data[k], 1e-5);
  EXPECT_EQ(full.shape, again.shape);
  // An eval-only plan (no gradient buffers) is replaced when the same size is trained.
  Net fresh(g, 1);
  fresh.forward(x.data(), 7, false);
  EXPECT_THROW(fresh.backward(y.data()), std::logic_error);
  LossParts lp = fresh.train_step(x.data(), y.data(), 7);
  EXPECT_GT(lp.ce, 0);
  EXPECT_NE(fresh.grad("conv1.weight")[0], 0.0f);
  fresh.forward(x.data(), 7, false);
  EXPECT_EQ(fresh.output().shape, full.shape);
}

TEST(Net, GradientBuffersAreSharedUnlessDebugging) {
  ParamOverrides o;
  o.has_width = true;
  o.p.width = 0.125;
  Graph g = load_graph("resnet18", o);
  std::vector<float> x = test::normal_inputs(g, 2, 1);
  std::vector<int64_t> y{1, 2};
  Net shared(g, 1), debug(g, 1);
  debug.set_debug_grads(true);
  LossParts a = shared.train_step(x.data(), y.data(), 2), b = debug.train_step(x.data(), y.data(), 2);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(std::vector<float>(shared.grad("conv1.weight"), shared.grad("conv1.weight") + 8 * 27),
            std::vector<float>(debug.grad("conv1.weight"), debug.grad("conv1.weight") + 8 * 27));
  EXPECT_LT(shared.gradient_bytes() * 4, shared.activation_bytes());
  EXPECT_GT(debug.gradient_bytes() * 2, debug.activation_bytes());
  EXPECT_THROW(shared.edge_grad(0), std::logic_error);
  shared.forward(x.data(), 2, false);  // eval reuses the training plan
  EXPECT_GT(shared.gradient_bytes(), 0);
}

}  // namespace
}  // namespace eatsim

namespace eatsim {
namespace {

// An `output:` that is not the last node: the loss gradient must survive its consumers' backward,
// and unconsumed side nodes must not leak gradient from one step into the next.
TEST(Net, OutputWithConsumersAndSideBranchesKeepsTheLossGradient) {
  const char* head = "name: t\nparams: {width: 1, in_channels: 2, input_size: 3, classes: 4}\n";
  Graph a = parse_graph(std::string(head) +
                            "output: fc\nnodes:\n"
                            "  - {name: flat, op: flatten, inputs: [input]}\n"
                            "  - {name: fc, op: linear, inputs: [flat], out_features: 4}\n"
                            "  - {name: extra, op: relu, inputs: [fc]}\n"
                            "  - {name: side, op: identity, inputs: [fc]}\n",
                        "a.yaml");
  Graph b = parse_graph(std::string(head) +
                            "nodes:\n"
                            "  - {name: flat, op: flatten, inputs: [input]}\n"
                            "  - {name: fc, op: linear, inputs: [flat], out_features: 4}\n",
                        "b.yaml");
  Net na(a, 1), nb(b, 1);
  PenaltyConfig pc{0.7, 1e-2, "fc", PenaltyNorm::layer_mean};
  na.set_penalty(pc);
  nb.set_penalty(pc);
  std::vector<float> x = test::normal_inputs(b, 5, 9);
  x.resize(5 * 18);
  std::vector<int64_t> y{0, 1, 2, 3, 0};
  for (int step = 0; step < 2; ++step) {
    LossParts la = na.train_step(x.data(), y.data(), 5), lb = nb.train_step(x.data(), y.data(), 5);
    EXPECT_DOUBLE_EQ(la.loss, lb.loss);
    for (const char* k : {"fc.weight", "fc.bias"}) {
      std::vector<float> ga(na.grad(k), na.grad(k) + (k[3] == 'w' ? 72 : 4)),
          gb(nb.grad(k), nb.grad(k) + (k[3] == 'w' ? 72 : 4));
      EXPECT_EQ(ga, gb) << k << " at step " << step;
    }
  }
}

}  // namespace
}  // namespace eatsim

namespace eatsim {
namespace {

TEST(Net, FastConvolutionsAgreeWithDirectOnes) {
  // Shapes where oneDNN picks Winograd (64 channels, batch 16); logits and loss agree to 1e-3.
  Graph g = parse_graph(
      "name: t\nparams: {width: 1, in_channels: 64, input_size: 16, classes: 10}\nnodes:\n"
      "  - {name: c1, op: conv2d, inputs: [input], out_channels: 64, kernel: 3, pad: 1}\n"
      "  - {name: b1, op: batchnorm2d, inputs: [c1]}\n"
      "  - {name: r1, op: relu, inputs: [b1]}\n"
      "  - {name: c2, op: conv2d, inputs: [r1], out_channels: 64, kernel: 3, pad: 1}\n"
      "  - {name: gap, op: global_avgpool, inputs: [c2]}\n"
      "  - {name: flat, op: flatten, inputs: [gap]}\n"
      "  - {name: fc, op: linear, inputs: [flat], out_features: 10}\n",
      "t.yaml");
  std::vector<float> x = test::normal_inputs(g, 16, 3);
  std::vector<int64_t> y(16, 3);
  Net direct(g, 1), fast(g, 1);
  fast.set_fast_conv(true);
  for (bool train : {false, true}) {
    direct.forward(x.data(), 16, train);
    fast.forward(x.data(), 16, train);
    Tensor a = direct.edge(3), b = fast.edge(3);  // c2's output
    double err = 0, mx = 0;
    for (size_t i = 0; i < a.data.size(); ++i)
      err = std::max(err, double(std::fabs(a.data[i] - b.data[i]))),
      mx = std::max(mx, double(std::fabs(a.data[i])));
    EXPECT_LT(err, 1e-3 * mx);
    EXPECT_GT(err, 0.0) << "the fast path should use another algorithm";
  }
  LossParts la = direct.backward(y.data()), lb = fast.backward(y.data());
  EXPECT_NEAR(la.loss, lb.loss, 1e-4 * la.loss);
  // Winograd's backward-data and backward-weights: every weight gradient within 1e-4 of its largest
  // entry (a wrong layout or transform is off by O(1)).
  for (const char* key : {"c1.weight", "c2.weight", "fc.weight"}) {
    const float *ga = direct.grad(key), *gb = fast.grad(key);
    int64_t n = std::string(key) == "fc.weight" ? 640 : 64 * 64 * 9;
    double err = 0, mx = 0;
    for (int64_t i = 0; i < n; ++i)
      err = std::max(err, double(std::fabs(ga[i] - gb[i]))), mx = std::max(mx, double(std::fabs(ga[i])));
    EXPECT_LT(err, 1e-4 * mx) << key;
    EXPECT_GT(mx, 0.0) << key;
  }
}

}  // namespace
}  // namespace eatsim
