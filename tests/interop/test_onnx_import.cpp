// `eatsim model import` and the commands that take its output, on ONNX models built here with
// libonnx's protobuf classes: hostile files (truncated, not ONNX, opset 18, unsupported ops, dynamic
// shapes, external data missing or escaping, tensors claiming more than they hold, names that try to
// leave the output directory) exit 2 with one line each and write nothing; Pad folding, SiLU fusion,
// Gemm layouts, shared initializers and external data import with the values they mean; and the
// torchvision round trip (tests/interop/onnx_roundtrip.py) matches PyTorch's logits and counts.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "base/errors.hpp"
#include "interop/onnx_import.hpp"
#include "tests/helpers.hpp"
#include "traces/npy.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;
using test::run_cli;

// A small CNN as an ONNX model: x [N, C, H, W] -> Conv(3x3, pad 1) -> Relu -> GlobalAveragePool ->
// Flatten -> Gemm(transB) -> y. Tensors get seeded random values.
struct Builder {
  onnx::ModelProto m;
  std::mt19937 rng{7};

  Builder(int opset = 13, int c = 3, int hw = 8, int classes = 10) {
    m.set_ir_version(8);
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    auto* g = m.mutable_graph();
    g->set_name("small");
    input("x", {-1, c, hw, hw});
    init("conv1.weight", {4, c, 3, 3});
    init("conv1.bias", {4});
    node("Conv", "conv1", {"x", "conv1.weight", "conv1.bias"}, {"c1"}, {{"pads", {1, 1, 1, 1}}});
    node("Relu", "/relu/Relu", {"c1"}, {"r1"});
    node("GlobalAveragePool", "/gap/GlobalAveragePool", {"r1"}, {"g1"});
    node("Flatten", "/Flatten", {"g1"}, {"f1"}, {{"axis", {1}}});
    init("fc.weight", {classes, 4});
    init("fc.bias", {classes});
    node("Gemm", "/fc/Gemm", {"f1", "fc.weight", "fc.bias"}, {"y"}, {{"transB", {1}}});
    auto* y = g->add_output();
    y->set_name("y");
    y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    y->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("N");
    y->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(classes);
  }

  void input(const std::string& name, std::vector<int64_t> dims) {
    auto* v = m.mutable_graph()->add_input();
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) {
      auto* dim = t->mutable_shape()->add_dim();
      if (d < 0)
        dim->set_dim_param("N");
      else if (d == 0)
        dim->set_dim_param("S");
      else
        dim->set_dim_value(d);
    }
  }

  onnx::TensorProto* init(const std::string& name, std::vector<int64_t> dims) {
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) t->add_dims(d), n *= d;
    std::normal_distribution<float> nd(0.0f, 0.5f);
    for (int64_t i = 0; i < n; ++i) t->add_float_data(nd(rng));
    return t;
  }

  onnx::NodeProto* node(const std::string& op, const std::string& name, std::vector<std::string> in,
                        std::vector<std::string> out,
                        std::vector<std::pair<std::string, std::vector<int64_t>>> ints = {}) {
    auto* n = m.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    for (auto& [k, v] : ints) {
      auto* a = n->add_attribute();
      a->set_name(k);
      if (v.size() == 1 && k != "pads" && k != "kernel_shape" && k != "strides") {
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(v[0]);
      } else {
        a->set_type(onnx::AttributeProto::INTS);
        for (int64_t x : v) a->add_ints(x);
      }
    }
    return n;
  }

  onnx::NodeProto* find(const std::string& name) {
    for (auto& n : *m.mutable_graph()->mutable_node())
      if (n.name() == name) return &n;
    return nullptr;
  }

  std::string save(const std::string& path) const {
    std::ofstream o(path, std::ios::binary);
    m.SerializeToOstream(&o);
    return path;
  }
};

std::string q(const std::string& s) { return "'" + s + "'"; }

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// Runs `model import` on a file that must be refused: exit 2, `want` in the message, one line per
// problem (at most `max_lines`), nothing written.
void refused(const std::string& file, const std::string& want, const std::string& extra = "",
             int max_lines = 1) {
  test::TempDir d("onnx_refused");
  auto r = run_cli("model import " + q(file) + " --out " + q(d / "out") + " " + extra);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(want), std::string::npos) << "want '" << want << "' in:\n" << r.err;
  EXPECT_LE(lines(r.err), max_lines) << r.err;
  EXPECT_FALSE(fs::exists(d / "out"));
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path()), fs::directory_iterator{}), 0);
}

TEST(OnnxImport, ASmallCnnImportsWithItsNamesShapesAndWeights) {
  test::TempDir d("onnx_small");
  Builder b;
  std::string f = b.save(d / "small.onnx");
  auto r = run_cli("model import " + q(f) + " --out " + q(d / "ck"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("imported"), std::string::npos) << r.out;
  std::string yaml = test::read_file(d / "ck/model.yaml");
  for (const char* s :
       {"{name: conv1, op: conv2d, inputs: [input]", "{name: relu, op: relu",
        "{name: gap, op: global_avgpool", "{name: Flatten, op: flatten", "{name: fc, op: linear"})
    EXPECT_NE(yaml.find(s), std::string::npos) << s << "\n" << yaml;
  // The weights are the initializers, value for value, in PyTorch's layouts.
  Shape s;
  auto w = npy_load_f32(d / "ck/conv1.weight.npy", &s);
  EXPECT_EQ(s, (Shape{4, 3, 3, 3}));
  const auto& src = b.m.graph().initializer(0);
  ASSERT_EQ(w.size(), static_cast<size_t>(src.float_data_size()));
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w[i], src.float_data(static_cast<int>(i)));
  // model show and sim --model read the .onnx itself (shapes only).
  r = run_cli("model show " + q(f));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("total: 5 nodes, 162 trainable parameters, 6,952 MACs"), std::string::npos) << r.out;
  r = run_cli("sim --hw tpu_ws32 --model " + q(f));
  EXPECT_EQ(r.code, 0) << r.err;
  r = run_cli("sim --hw tpu_ws32 --model " + q(d / "ck/model.yaml"));
  EXPECT_EQ(r.code, 0) << r.err;
  // An existing output directory is kept unless --force.
  r = run_cli("model import " + q(f) + " --out " + q(d / "ck"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
}

TEST(OnnxImport, TheImportedCheckpointFeedsTraceExportEnergyAndFineTuning) {
  test::TempDir d("onnx_flow");
  Builder b(13, 1, 28, 10);
  std::string f = b.save(d / "fm.onnx");
  ASSERT_EQ(run_cli("model import " + q(f) + " --out " + q(d / "ck") + " -q").code, 0);
  std::vector<float> x(3 * 28 * 28);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& v : x) v = u(rng);
  npy_save_f32(d / "x.npy", {3, 1, 28, 28}, x.data());
  auto r = run_cli("trace export " + q(d / "ck") + " --inputs " + q(d / "x.npy") + " --samples 3 --out " +
                   q(d / "tr"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_cli("energy " + q(d / "tr"));
  EXPECT_EQ(r.code, 0) << r.err;
  r = run_cli("sim --hw cnvlutin_ws16 --trace " + q(d / "tr"));
  EXPECT_EQ(r.code, 0) << r.err;
  // Fine-tuning starts from the imported weights: at a learning rate of 1e-9 they stay put.
  r = run_cli(
      "train --init " + q(d / "ck") + " --out " + q(d / "run") +
      " --epochs 1 --train-limit 256 --test-limit 128 --batch 128 --lr 1e-9 --momentum 0 --weight-decay 0 "
      "--ratio-samples 0 -q");
  ASSERT_EQ(r.code, 0) << r.err;
  auto before = npy_load_f32(d / "ck/fc.weight.npy"),
       after = npy_load_f32(d / "run/checkpoint/fc.weight.npy");
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_NEAR(before[i], after[i], 1e-6);
}

TEST(OnnxImport, HostileFilesExitTwoWithOneLineAndWriteNothing) {
  test::TempDir d("onnx_hostile");
  Builder b;
  std::string good = b.save(d / "good.onnx");
  // Truncated, empty, and not ONNX at all.
  std::string bytes = test::read_file(good);
  test::write_file(d / "trunc.onnx", bytes.substr(0, bytes.size() / 2));
  refused(d / "trunc.onnx", "not an ONNX model");
  test::write_file(d / "empty.onnx", "");
  refused(d / "empty.onnx", "not an ONNX model");
  test::write_file(d / "text.onnx", "name: resnet18\nnodes: []\n");
  refused(d / "text.onnx", "not an ONNX model");
  refused(d / "missing.onnx", "cannot open");
  // An opset newer than this build reads.
  Builder b18(18);
  refused(b18.save(d / "o18.onnx"), "opset 18");
  // Every unsupported op, each on its own line with its node's name, then one summary line.
  Builder u;
  u.find("/relu/Relu")->set_op_type("Tanh");
  u.find("/gap/GlobalAveragePool")->set_op_type("GlobalMaxPool");
  u.find("/Flatten")->set_domain("com.microsoft");
  test::TempDir e("onnx_unsup");
  auto r = run_cli("model import " + q(u.save(d / "unsup.onnx")) + " --out " + q(e / "out"));
  EXPECT_EQ(r.code, 2);
  for (const char* s : {"'/relu/Relu' (Tanh): op Tanh is not supported",
                        "'/gap/GlobalAveragePool' (GlobalMaxPool): op GlobalMaxPool",
                        "'/Flatten' (Flatten): op com.microsoft.Flatten", "3 unsupported node(s)"})
    EXPECT_NE(r.err.find(s), std::string::npos) << s << "\n" << r.err;
  EXPECT_EQ(lines(r.err), 4) << r.err;
  EXPECT_FALSE(fs::exists(e / "out"));
  // Dynamic spatial dimensions need --input-shape, which must agree with the fixed ones.
  Builder dyn;
  auto* shape =
      dyn.m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->mutable_dim(2)->set_dim_param("H");
  shape->mutable_dim(3)->set_dim_param("W");
  std::string fd = dyn.save(d / "dyn.onnx");
  refused(fd, "dynamic dimensions (H, W); give --input-shape N,C,H,W");
  refused(fd, "dimension 1 of input 'x' is 3", "--input-shape 1,4,16,16");
  r = run_cli("model import " + q(fd) + " --out " + q(d / "dyn") + " --input-shape 1,3,16,16 -q");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(test::read_file(d / "dyn/model.yaml").find("input_size: 16"), std::string::npos);
  // A tensor whose shape claims far more than its data holds: refused before anything is allocated.
  Builder big;
  auto* w = big.m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  for (int64_t v : {int64_t(1) << 20, int64_t(1) << 20, int64_t(3), int64_t(3)}) w->add_dims(v);
  refused(big.save(d / "big.onnx"), "does not fit an input of [3, 8, 8]");
  Builder big2;
  auto* w2 = big2.m.mutable_graph()->mutable_initializer(0);
  w2->clear_float_data();
  w2->set_raw_data(std::string(16, '\0'));
  refused(big2.save(d / "big2.onnx"), "tensor data holds 16 bytes; its shape and type need 432");
  r = run_cli("model show " + q(d / "big2.onnx"));  // shapes only: the data is not read, but checked
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("holds 16 bytes"), std::string::npos) << r.err;
  Builder big3;
  auto* w3 = big3.m.mutable_graph()->mutable_initializer(0);
  w3->clear_dims();
  for (int i = 0; i < 6; ++i) w3->add_dims(int64_t(1) << 40);
  refused(big3.save(d / "big3.onnx"), "overflow");
}

TEST(OnnxImport, ExternalDataIsReadBesideTheModelAndNeverOutsideIt) {
  test::TempDir d("onnx_external");
  Builder b;
  auto* w = b.m.mutable_graph()->mutable_initializer(0);  // conv1.weight, 108 floats
  std::vector<float> vals(w->float_data().begin(), w->float_data().end());
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto kv = [&](const std::string& k, const std::string& v) {
    auto* e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  kv("location", "weights.bin");
  kv("offset", "16");
  kv("length", std::to_string(vals.size() * 4));
  std::string model = b.save(d / "ext.onnx");
  refused(model, "weights.bin is missing");
  std::string blob(16, 'x');
  blob.append(reinterpret_cast<const char*>(vals.data()), vals.size() * 4);
  test::write_file(d / "weights.bin", blob);
  auto r = run_cli("model import " + q(model) + " --out " + q(d / "ck") + " -q");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(npy_load_f32(d / "ck/conv1.weight.npy"), vals);
  test::write_file(d / "weights.bin", blob.substr(0, 100));
  refused(model, "holds 84 bytes from offset 16; the tensor needs 432");
  // A location outside the model's directory is refused, whether or not the file exists.
  for (const char* loc : {"../weights.bin", "/etc/passwd", "sub/../../weights.bin"}) {
    w->mutable_external_data(0)->set_value(loc);
    refused(b.save(d / "esc.onnx"), "leaves the model's directory");
  }
}

TEST(OnnxImport, NamesNeverLeaveTheOutputDirectory) {
  test::TempDir d("onnx_names");
  Builder b;
  auto* g = b.m.mutable_graph();
  // The weight and the node carry path-like names; both must stay file names inside --out.
  for (auto& t : *g->mutable_initializer())
    if (t.name() == "conv1.weight") t.set_name("../../evil.weight");
  b.find("conv1")->set_input(1, "../../evil.weight");
  b.find("/relu/Relu")->set_name("../../../tmp/x");
  std::string f = b.save(d / "names.onnx");
  auto r = run_cli("model import " + q(f) + " --out " + q(d / "sub/ck") + " -q");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const auto& e : fs::recursive_directory_iterator(d.path()))
    EXPECT_EQ(e.path().string().rfind(d.path(), 0), 0u) << e.path();
  EXPECT_FALSE(fs::exists(d / "evil.weight.npy"));
  EXPECT_TRUE(fs::exists(d / "sub/ck/evil.weight.npy"));
  std::string yaml = test::read_file(d / "sub/ck/model.yaml");
  EXPECT_EQ(yaml.find(".."), std::string::npos) << yaml;
}

TEST(OnnxImport, PadFoldsIntoTheNextConvAndPoolWhereTheValuesAgree) {
  test::TempDir d("onnx_pad");
  Builder b;
  auto* g = b.m.mutable_graph();
  // x -> Pad(1 on H and W) -> conv1 (pads 0): the same as conv1 with pad 1.
  auto* pads = b.init("pads", {8});
  pads->set_data_type(onnx::TensorProto::INT64);
  pads->clear_float_data();
  for (int64_t v : {0, 0, 1, 1, 0, 0, 1, 1}) pads->add_int64_data(v);
  auto* conv = b.find("conv1");
  conv->set_input(0, "xp");
  conv->mutable_attribute(0)->clear_ints();
  for (int i = 0; i < 4; ++i) conv->mutable_attribute(0)->add_ints(0);
  auto* pad = g->add_node();
  pad->set_op_type("Pad"), pad->set_name("pad0"), pad->add_input("x"), pad->add_input("pads"),
      pad->add_output("xp");
  // Nodes must stay topologically sorted: move the Pad first.
  for (int i = g->node_size() - 1; i > 0; --i) g->mutable_node()->SwapElements(i, i - 1);
  ImportedModel m = import_onnx(b.save(d / "pad.onnx"));
  const Node& c = m.graph.nodes[m.graph.find("conv1")];
  EXPECT_EQ(c.ph, 1);
  EXPECT_EQ(c.pw, 1);
  EXPECT_EQ(c.inputs[0], "input");
  ASSERT_FALSE(m.notes.empty());
  EXPECT_NE(m.notes.back().find("Pad 'pad0' folded"), std::string::npos);
  // Zero padding in front of a MaxPool on values that may be negative is not the pool's padding.
  Builder mp;
  auto* g2 = mp.m.mutable_graph();
  auto* pads2 = mp.init("pads", {8});
  pads2->set_data_type(onnx::TensorProto::INT64);
  pads2->clear_float_data();
  for (int64_t v : {0, 0, 1, 1, 0, 0, 1, 1}) pads2->add_int64_data(v);
  mp.find("/relu/Relu")->set_op_type("Sigmoid");
  auto* gap = mp.find("/gap/GlobalAveragePool");
  gap->set_op_type("MaxPool");
  gap->set_input(0, "r1p");
  auto* a = gap->add_attribute();
  a->set_name("kernel_shape"), a->set_type(onnx::AttributeProto::INTS), a->add_ints(3), a->add_ints(3);
  auto* p2 = g2->add_node();
  p2->set_op_type("Pad"), p2->set_name("pad1"), p2->add_input("r1"), p2->add_input("pads"),
      p2->add_output("r1p");
  // order: Conv, Sigmoid, Pad, MaxPool, Flatten, Gemm
  g2->mutable_node()->SwapElements(5, 2), g2->mutable_node()->SwapElements(5, 3),
      g2->mutable_node()->SwapElements(5, 4);
  try {
    import_onnx(mp.save(d / "mp.onnx"));
    ADD_FAILURE() << "a zero Pad before MaxPool on sigmoid outputs was folded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("may be negative"), std::string::npos) << e.what();
  }
}

TEST(OnnxImport, SigmoidTimesItsInputIsSiluAndMatMulPlusBiasIsOneLinear) {
  test::TempDir d("onnx_fuse");
  Builder b;
  auto* g = b.m.mutable_graph();
  // Relu -> x·sigmoid(x)
  b.find("/relu/Relu")->set_op_type("Sigmoid");
  b.find("/relu/Relu")->set_output(0, "s1");
  b.find("/relu/Relu")->set_name("/act/Sigmoid");
  auto* mul = g->add_node();
  mul->set_op_type("Mul"), mul->set_name("/act/Mul"), mul->add_input("c1"), mul->add_input("s1"),
      mul->add_output("r1");
  for (int i = g->node_size() - 1; i > 2; --i) g->mutable_node()->SwapElements(i, i - 1);
  // Gemm -> MatMul(f1, W^T) + bias
  auto* gemm = b.find("/fc/Gemm");
  gemm->set_op_type("MatMul");
  gemm->clear_attribute();
  gemm->mutable_input()->RemoveLast();
  gemm->set_output(0, "mm");
  onnx::TensorProto* w = nullptr;
  for (auto& t : *g->mutable_initializer())
    if (t.name() == "fc.weight") w = &t;
  std::vector<float> wv(w->float_data().begin(), w->float_data().end());  // (10, 4)
  w->clear_dims(), w->add_dims(4), w->add_dims(10), w->clear_float_data();
  for (int i = 0; i < 4; ++i)
    for (int o = 0; o < 10; ++o) w->add_float_data(wv[o * 4 + i]);
  auto* add = g->add_node();
  add->set_op_type("Add"), add->set_name("/fc/Add"), add->add_input("mm"), add->add_input("fc.bias"),
      add->add_output("y");
  ImportedModel m = import_onnx(b.save(d / "fuse.onnx"));
  ASSERT_GE(m.graph.find("act"), 0) << m.yaml;
  EXPECT_EQ(m.graph.nodes[m.graph.find("act")].op, Op::silu);
  EXPECT_EQ(m.graph.find("/act/Mul"), -1);
  const Node& fc = m.graph.nodes[m.graph.output];
  EXPECT_EQ(fc.op, Op::linear);
  EXPECT_TRUE(fc.bias);
  for (const auto& t : m.tensors) {
    if (t.key == fc.name + ".weight") {
      EXPECT_EQ(t.f32, wv);  // back in PyTorch's (out, in) layout
    }
  }
}

TEST(OnnxImport, OlderOpsetsAreUpgradedAndSharedInitializersImportOncePerNode) {
  test::TempDir d("onnx_old");
  Builder b(9);
  ImportedModel m = import_onnx(b.save(d / "o9.onnx"));
  EXPECT_EQ(m.file_opset, 9);
  EXPECT_EQ(m.opset, kOnnxMinOpset);
  // An initializer reached through Identity (PyTorch's export shares equal tensors so) belongs
  // to the node that uses it, under that node's state_dict key.
  // conv1.bias (4 values) is also the bias of a 4-class head.
  Builder s4(13, 3, 8, 4);
  auto* g4 = s4.m.mutable_graph();
  auto* id4 = g4->add_node();
  id4->set_op_type("Identity"), id4->add_input("conv1.bias"), id4->add_output("shared");
  for (int i = g4->node_size() - 1; i > 0; --i) g4->mutable_node()->SwapElements(i, i - 1);
  s4.find("/fc/Gemm")->set_input(2, "shared");
  ImportedModel m4 = import_onnx(s4.save(d / "shared.onnx"));
  std::vector<float> conv_b, fc_b;
  for (const auto& t : m4.tensors) {
    if (t.key == "conv1.bias") conv_b = t.f32;
    if (t.key == "fc.bias") fc_b = t.f32;
  }
  EXPECT_EQ(conv_b.size(), 4u);
  EXPECT_EQ(conv_b, fc_b);
  EXPECT_EQ(m4.graph.trainable_count(), 4 * 3 * 9 + 4 + 4 * 4 + 4);
}

TEST(OnnxImport, TorchvisionModelsRoundTripThroughTorchOnnxWithPyTorchsLogitsAndCounts) {
  ASSERT_TRUE(test::python_has("torchvision"))
      << test::python() << " lacks torchvision (python3-torchvision)";
  test::TempDir d("onnx_roundtrip");
  std::string log = d / "log.txt";
  int st =
      std::system((test::python() + " " + test::source_dir() + "/tests/interop/onnx_roundtrip.py --eatsim " +
                   std::string(EATSIM_BIN) + " --out " + d.path() + " > " + log + " 2>&1")
                      .c_str());
  std::string out = test::read_file(log);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
  EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
  for (const char* m : {"resnet18:", "mobilenet_v2:", "mobilenet_v3_small:", "efficientnet_b0:",
                        "squeezenet1_1:", "densenet121:", "googlenet:", "resnet18-folded:",
                        "mobilenet_v3_small-opset11:", "mobilenet_v3_small-opset17:"})
    EXPECT_NE(out.find(m), std::string::npos) << m << "\n" << out;
}

}  // namespace
}  // namespace eatsim
