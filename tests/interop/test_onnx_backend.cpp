// ONNX import against data nobody here wrote: ONNX's own backend test data (Debian's
// libonnx-testdata: data/node, data/pytorch-converted, data/pytorch-operator, data/simple; each a
// model.onnx with input_N.pb / output_0.pb). Every test whose ops are all ONNX ops eatsim imports is
// taken: the first graph input is the data, the others (a weight, a Clip bound, a second operand) are
// bound as initializers from their .pb files; then the import either succeeds and eatsim's
// inference (the trainer's oneDNN forward, eval mode) must reproduce output_0 (float32: |Δ| <=
// 1e-5 + 1e-4·|expected|), or it refuses with an eatsim::Error whose first line is the reason (e.g.
// asymmetric padding, a second data input, a 3-D convolution). An import that succeeds on a test
// not listed as run fails here, so the list in docs/onnx.md cannot silently go stale.
// Element-wise tests whose data is 1-D or 3-D (the ONNX suite's usual 3×4×5) run with the data
// viewed as N×C×H×1 (for element-wise ops the view changes no value).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "base/errors.hpp"
#include "interop/onnx_import.hpp"
#include "tests/helpers.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

const char* kData = "/usr/share/libonnx-testdata/data";

// The tests that must import and match, by folder/name. Everything else with supported ops must be
// refused with a reason.
const std::set<std::string>& must_run() {
  static const std::set<std::string> s{"node/test_basic_conv_with_padding",
                                       "node/test_basic_conv_without_padding",
                                       "node/test_conv_with_autopad_same",
                                       "node/test_conv_with_strides_no_padding",
                                       "node/test_conv_with_strides_padding",
                                       "node/test_conv_with_strides_and_asymmetric_padding",
                                       "node/test_batchnorm_epsilon",
                                       "node/test_batchnorm_example",
                                       "node/test_averagepool_2d_default",
                                       "node/test_averagepool_2d_strides",
                                       "node/test_averagepool_2d_precomputed_pads_count_include_pad",
                                       "node/test_averagepool_2d_precomputed_strides",
                                       "node/test_maxpool_2d_default",
                                       "node/test_maxpool_2d_strides",
                                       "node/test_maxpool_2d_ceil",
                                       "node/test_maxpool_2d_precomputed_pads",
                                       "node/test_maxpool_2d_precomputed_strides",
                                       "node/test_maxpool_2d_precomputed_same_upper",
                                       "node/test_globalaveragepool",
                                       "node/test_globalaveragepool_precomputed",
                                       "node/test_relu",
                                       "node/test_sigmoid",
                                       "node/test_sigmoid_example",
                                       "node/test_leakyrelu",
                                       "node/test_leakyrelu_default",
                                       "node/test_leakyrelu_example",
                                       "node/test_hardswish",
                                       "node/test_hardswish_expanded",
                                       "node/test_clip",
                                       "node/test_clip_example",
                                       "node/test_clip_inbounds",
                                       "node/test_clip_outbounds",
                                       "node/test_clip_splitbounds",
                                       "node/test_clip_default_min",
                                       "node/test_clip_default_max",
                                       "node/test_clip_default_inbounds",
                                       "node/test_dropout_default",
                                       "node/test_dropout_default_ratio",
                                       "node/test_dropout_default_old",
                                       "node/test_dropout_random_old",
                                       "node/test_flatten_axis1",
                                       "node/test_flatten_default_axis",
                                       "node/test_flatten_negative_axis3",
                                       "node/test_identity",
                                       "node/test_gemm_alpha",
                                       "node/test_gemm_beta",
                                       "node/test_gemm_default_no_bias",
                                       "node/test_gemm_default_scalar_bias",
                                       "node/test_gemm_default_single_elem_vector_bias",
                                       "node/test_gemm_default_vector_bias",
                                       "node/test_gemm_default_zero_bias",
                                       "node/test_gemm_transposeB",
                                       "node/test_matmul_2d",
                                       "node/test_reshape_reduced_dims",
                                       "pytorch-converted/test_AvgPool2d",
                                       "pytorch-converted/test_AvgPool2d_stride",
                                       "pytorch-converted/test_BatchNorm2d_eval",
                                       "pytorch-converted/test_BatchNorm2d_momentum_eval",
                                       "pytorch-converted/test_Conv2d",
                                       "pytorch-converted/test_Conv2d_depthwise",
                                       "pytorch-converted/test_Conv2d_depthwise_padded",
                                       "pytorch-converted/test_Conv2d_depthwise_strided",
                                       "pytorch-converted/test_Conv2d_depthwise_with_multiplier",
                                       "pytorch-converted/test_Conv2d_dilated",
                                       "pytorch-converted/test_Conv2d_groups",
                                       "pytorch-converted/test_Conv2d_groups_thnn",
                                       "pytorch-converted/test_Conv2d_no_bias",
                                       "pytorch-converted/test_Conv2d_padding",
                                       "pytorch-converted/test_Conv2d_strided",
                                       "pytorch-converted/test_LeakyReLU",
                                       "pytorch-converted/test_LeakyReLU_with_negval",
                                       "pytorch-converted/test_Linear",
                                       "pytorch-converted/test_MaxPool2d",
                                       "pytorch-converted/test_ReLU",
                                       "pytorch-converted/test_Sigmoid",
                                       "pytorch-operator/test_operator_clip",
                                       "pytorch-operator/test_operator_conv",
                                       "pytorch-operator/test_operator_flatten",
                                       "pytorch-operator/test_operator_mm",
                                       "simple/test_single_relu_model"};
  return s;
}

bool elementwise_only(const onnx::ModelProto& m) {
  static const std::set<std::string> ew{"Relu",      "Clip",      "Sigmoid", "HardSigmoid",
                                        "HardSwish", "LeakyRelu", "Dropout", "Identity",
                                        "Mul",       "Add",       "Reshape"};
  for (const auto& n : m.graph().node())
    if (!ew.count(n.op_type())) return false;
  return true;
}

bool supported(const onnx::ModelProto& m) {
  const std::set<std::string> ops(onnx_supported_ops().begin(), onnx_supported_ops().end());
  for (const auto& n : m.graph().node())
    if (!ops.count(n.op_type()) || !(n.domain().empty() || n.domain() == "ai.onnx")) return false;
  return m.graph().node_size() > 0;
}

// model.onnx with every graph input after the first bound to its input_K.pb as an initializer, and
// 1-D/3-D element-wise data viewed as 4-D; written to `out`. Returns false when there is no test data.
bool prepare(const fs::path& dir, const std::string& out) {
  onnx::ModelProto m;
  {
    std::ifstream in(dir / "model.onnx", std::ios::binary);
    if (!m.ParseFromIstream(&in)) return false;
  }
  std::set<std::string> inits;
  for (const auto& t : m.graph().initializer()) inits.insert(t.name());
  std::vector<int> data;
  for (int i = 0; i < m.graph().input_size(); ++i)
    if (!inits.count(m.graph().input(i).name())) data.push_back(i);
  for (size_t j = 1; j < data.size(); ++j) {
    fs::path pb = dir / "test_data_set_0" / ("input_" + std::to_string(j) + ".pb");
    onnx::TensorProto t;
    std::ifstream in(pb, std::ios::binary);
    if (!t.ParseFromIstream(&in)) return false;
    t.set_name(m.graph().input(data[j]).name());
    *m.mutable_graph()->add_initializer() = t;
  }
  if (!data.empty() && elementwise_only(m) && m.graph().input(data[0]).type().has_tensor_type()) {
    auto* shape =
        m.mutable_graph()->mutable_input(data[0])->mutable_type()->mutable_tensor_type()->mutable_shape();
    const int rank = shape->dim_size();
    if (rank == 1 || rank == 3) {
      while (shape->dim_size() < 4) shape->add_dim()->set_dim_value(1);
      for (auto& o : *m.mutable_graph()->mutable_output()) {
        auto* os = o.mutable_type()->mutable_tensor_type()->mutable_shape();
        if (os->dim_size() == rank)
          while (os->dim_size() < 4) os->add_dim()->set_dim_value(1);
      }
      m.mutable_graph()->clear_value_info();
    }
  }
  std::ofstream o(out, std::ios::binary);
  return m.SerializeToOstream(&o);
}

struct Outcome {
  bool ran = false;
  std::string why;  // refusal's first line, or the mismatch
  double max_err = 0;
};

Outcome run_case(const fs::path& dir, const std::string& model) {
  Outcome r;
  ImportedModel im;
  try {
    im = import_onnx(model);
  } catch (const Error& e) {
    r.why = e.lines().front();
    return r;
  }
  r.ran = true;
  Shape xs, ys;
  std::vector<float> x = read_onnx_tensor((dir / "test_data_set_0" / "input_0.pb").string(), &xs);
  std::vector<float> want = read_onnx_tensor((dir / "test_data_set_0" / "output_0.pb").string(), &ys);
  const int n = xs.empty() ? 1 : static_cast<int>(xs[0]);
  Net net(im.graph);
  for (const auto& t : im.tensors) {
    Tensor v(t.shape);
    if (t.is_int64)
      v.data[0] = static_cast<float>(t.i64[0]);
    else
      v.data = t.f32;
    net.set(t.key, v);
  }
  if (static_cast<int64_t>(x.size()) != n * numel(im.graph.input_shape)) {
    r.why = "input size differs from the imported graph's";
    r.ran = false;
    return r;
  }
  net.forward(x.data(), n, false);
  Tensor got = net.output();
  if (got.data.size() != want.size()) {
    r.why =
        "output has " + std::to_string(got.data.size()) + " values, expected " + std::to_string(want.size());
    return r;
  }
  for (size_t i = 0; i < want.size(); ++i) {
    double e = std::abs(double(got.data[i]) - want[i]) / (1e-5 + 1e-4 * std::abs(double(want[i])));
    r.max_err = std::max(r.max_err, e);
  }
  if (r.max_err > 1) r.why = "values differ from ONNX's expected output";
  return r;
}

TEST(OnnxBackend, EveryTestWithSupportedOpsImportsAndMatchesOrIsRefusedWithAReason) {
  ASSERT_TRUE(fs::exists(kData)) << kData << " missing: install Debian's libonnx-testdata";
  test::TempDir tmp("onnx_backend");
  std::ofstream table(tmp / "table.md");
  std::set<std::string> seen;
  int ran = 0, refused = 0;
  for (const char* folder : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(fs::path(kData) / folder)) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& dir : dirs) {
      onnx::ModelProto m;
      std::ifstream in(dir / "model.onnx", std::ios::binary);
      if (!m.ParseFromIstream(&in) || !supported(m) || !fs::exists(dir / "test_data_set_0" / "output_0.pb"))
        continue;
      const std::string key = std::string(folder) + "/" + dir.filename().string();
      seen.insert(key);
      std::string model = tmp / (dir.filename().string() + ".onnx");
      ASSERT_TRUE(prepare(dir, model)) << key;
      Outcome o = run_case(dir, model);
      if (must_run().count(key)) {
        EXPECT_TRUE(o.ran && o.why.empty()) << key << ": " << o.why << " (max error " << o.max_err << ")";
      } else {
        EXPECT_FALSE(o.ran) << key << " imports (" << (o.why.empty() ? "and matches" : o.why)
                            << ") but is not in the run list: add it";
        EXPECT_FALSE(o.why.empty()) << key;
      }
      ran += o.ran, refused += !o.ran;
      std::string why = o.why;
      auto at = why.find(model);
      if (at != std::string::npos) why = why.substr(at + model.size() + 2);
      table << "| " << key << " | " << (o.ran ? "run" : "skipped") << " | " << (o.ran ? "" : why) << " |\n";
    }
  }
  for (const auto& k : must_run()) EXPECT_TRUE(seen.count(k)) << k << " is listed but was not found";
  EXPECT_EQ(ran, static_cast<int>(must_run().size()));
  table.close();
  if (const char* keep = std::getenv("EATSIM_ONNX_TABLE"))
    fs::copy_file(tmp / "table.md", keep, fs::copy_options::overwrite_existing);
  std::cout << ran << " ONNX backend tests run, " << refused << " refused with a reason\n";
}

}  // namespace
}  // namespace eatsim
