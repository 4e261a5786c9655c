// Trace format v1: synthetic traces round-trip, densities and clustering hold, the Python example
// runs, and every malformed trace is refused with one clear line.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "base/errors.hpp"
#include "tests/helpers.hpp"
#include "traces/npy.hpp"
#include "traces/synth.hpp"
#include "traces/trace.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

Graph small_resnet() {
  ParamOverrides o;
  o.has_width = o.has_in_channels = o.has_input_size = true;
  o.p.width = 0.125, o.p.in_channels = 1, o.p.input_h = o.p.input_w = 16;
  return load_graph("resnet8", o);
}

double density_of(const std::vector<float>& v) {
  int64_t nz = 0;
  for (float x : v) nz += x != 0;
  return static_cast<double>(nz) / v.size();
}

TEST(TraceFormat, SyntheticTraceRoundTripsThroughTheReader) {
  test::TempDir d("trace");
  Graph g = small_resnet();
  SynthOptions o;
  o.samples = 3;
  o.density = "0.3";
  write_synthetic_trace(g, o, d / "t", false, "test");
  TraceReader r(d / "t");
  const Manifest& m = r.manifest();
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.num_samples(), 3);
  EXPECT_EQ(m.graph.nodes.size(), g.nodes.size());
  EXPECT_EQ(m.graph.total_macs(), g.total_macs());
  EXPECT_EQ(m.tensors.front().name, "input");
  // Every ReLU has the density asked for; relu(input) == output.
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op != Op::relu) continue;
    auto y = r.load(n.name);
    EXPECT_NEAR(density_of(y), 0.3, 0.03) << n.name;
    auto x = r.load(n.inputs[0]);
    for (size_t k = 0; k < y.size(); ++k) ASSERT_EQ(y[k], std::max(x[k], 0.f)) << n.name << " at " << k;
  }
  // Per-sample streaming returns the same values as the whole tensor.
  auto whole = r.load("layer2.0.relu1");
  auto s1 = r.load_sample("layer2.0.relu1", 1);
  ASSERT_EQ(s1.size() * 3, whole.size());
  EXPECT_TRUE(std::equal(s1.begin(), s1.end(), whole.begin() + s1.size()));
  // Pooling is computed exactly: the global average of a channel.
  auto pool = r.load_sample("pool", 0);
  auto last = r.load_sample(g.nodes[g.nodes[g.find("pool")].in[0]].name, 0);
  int64_t hw = last.size() / pool.size();
  double acc = 0;
  for (int64_t p = 0; p < hw; ++p) acc += last[p];
  EXPECT_NEAR(pool[0], acc / hw, 1e-5);
  // Parameters: PyTorch shapes, BN unfolded.
  EXPECT_EQ(r.load("layer1.0.bn1.running_var").size(),
            static_cast<size_t>(g.nodes[g.find("layer1.0.bn1")].out_shape[0]));
  EXPECT_EQ(npy_load_i64(r.path_of(*m.find("bn1.num_batches_tracked"))).size(), 1u);
}

TEST(TraceFormat, SameSeedSameBytesOtherSeedOtherBytes) {
  test::TempDir d("trace");
  Graph g = small_resnet();
  SynthOptions o;
  o.samples = 2;
  o.clustering = Clustering::blob;
  write_synthetic_trace(g, o, d / "a", false, "test");
  write_synthetic_trace(g, o, d / "b", false, "test");
  o.seed = 2;
  write_synthetic_trace(g, o, d / "c", false, "test");
  for (const char* f : {"trace.yaml", "act.layer1.0.relu1.npy", "param.conv1.weight.npy"}) {
    EXPECT_EQ(test::read_file(d / "a/" + f), test::read_file(d / "b/" + f)) << f;
  }
  EXPECT_NE(test::read_file(d / "a/act.layer1.0.relu1.npy"), test::read_file(d / "c/act.layer1.0.relu1.npy"));
}

TEST(TraceFormat, DensityProfilesRampListAndOverride) {
  Graph g = small_resnet();
  std::vector<int> relus;
  for (int i : g.order)
    if (g.nodes[i].op == Op::relu) relus.push_back(i);
  auto ramp = resolve_density(g, "0.8..0.2");
  EXPECT_DOUBLE_EQ(ramp[relus.front()], 0.8);
  EXPECT_DOUBLE_EQ(ramp[relus.back()], 0.2);
  auto over = resolve_density(g, "0.5,layer2.0.relu1=0.1");
  EXPECT_DOUBLE_EQ(over[g.find("layer2.0.relu1")], 0.1);
  EXPECT_DOUBLE_EQ(over[relus.front()], 0.5);
  EXPECT_EQ(over[g.find("conv1")], -1.0);
  EXPECT_THROW(resolve_density(g, "1.5"), UsageError);
  EXPECT_THROW(resolve_density(g, "0.5,0.4"), UsageError);  // 2 values for 7 ReLUs
  EXPECT_THROW(resolve_density(g, "conv1=0.3"), UsageError);
  EXPECT_THROW(resolve_density(g, "abc"), UsageError);
}

// Mean zero-run length along channels, over all pixels of one (C, H, W) sample.
double mean_channel_zero_run(const std::vector<float>& v, int64_t C, int64_t HW) {
  int64_t runs = 0, zeros = 0;
  for (int64_t p = 0; p < HW; ++p)
    for (int64_t c = 0; c < C; ++c) {
      bool z = v[c * HW + p] == 0;
      zeros += z;
      if (z && (c == 0 || v[(c - 1) * HW + p] != 0)) ++runs;
    }
  return runs ? static_cast<double>(zeros) / runs : 0;
}

// Fraction of horizontally adjacent pixel pairs that agree in being zero.
double spatial_agreement(const std::vector<float>& v, int64_t C, int64_t H, int64_t W) {
  int64_t same = 0, pairs = 0;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x + 1 < W; ++x) {
        same += (v[(c * H + y) * W + x] == 0) == (v[(c * H + y) * W + x + 1] == 0);
        ++pairs;
      }
  return static_cast<double>(same) / pairs;
}

TEST(TraceFormat, ClusteringShapesWhereTheZerosAre) {
  test::TempDir d("trace");
  ParamOverrides ov;
  ov.has_in_channels = ov.has_input_size = true;
  ov.p.in_channels = 1, ov.p.input_h = ov.p.input_w = 16;
  Graph g = load_graph("resnet8", ov);  // 64 channels in layer1
  const Shape& s = g.nodes[g.find("relu1")].out_shape;
  int64_t C = s[0], H = s[1], W = s[2];
  std::map<Clustering, std::vector<float>> got;
  for (Clustering c : {Clustering::independent, Clustering::channel, Clustering::blob}) {
    SynthOptions o;
    o.samples = 1;
    o.density = "0.4";
    o.clustering = c;
    o.run_length = 8;
    std::string dir = d / clustering_name(c);
    write_synthetic_trace(g, o, dir, false, "test");
    got[c] = TraceReader(dir).load("relu1");
    EXPECT_NEAR(density_of(got[c]), 0.4, 0.04) << clustering_name(c);
  }
  // Independent zeros: runs of mean 1/d = 2.5 (a zero is followed by a zero with p = 0.6); channel runs: ≈ L
  // = 8.
  EXPECT_NEAR(mean_channel_zero_run(got[Clustering::independent], C, H * W), 2.5, 0.4);
  EXPECT_NEAR(mean_channel_zero_run(got[Clustering::channel], C, H * W), 8.0, 2.0);
  // Blobs: neighbours agree far more often than chance (0.4² + 0.6² = 0.52).
  EXPECT_LT(spatial_agreement(got[Clustering::independent], C, H, W), 0.58);
  EXPECT_GT(spatial_agreement(got[Clustering::blob], C, H, W), 0.75);
}

TEST(TraceFormat, ChannelRunsGiveTheAskedDensityOrRefuse) {
  test::TempDir d("trace");
  ParamOverrides ov;
  ov.has_in_channels = ov.has_input_size = true;
  ov.p.in_channels = 1, ov.p.input_h = ov.p.input_w = 16;
  Graph g = load_graph("resnet8", ov);
  SynthOptions o;
  o.samples = 1;
  o.density = "0.05";
  o.clustering = Clustering::channel;
  o.run_length = 8;  // mean zero runs of 8 cannot be sparser than 1/9
  try {
    write_synthetic_trace(g, o, d / "t", false, "test");
    ADD_FAILURE() << "density 0.05 with zero runs of 8 was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("use --run-length 19 or more"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(d / "t"));
  o.run_length = 19;
  write_synthetic_trace(g, o, d / "t", false, "test");
  EXPECT_NEAR(density_of(TraceReader(d / "t").load("relu1")), 0.05, 0.01);
}

// Overwrites element `at` of a float32 .npy in place.
void poke(const std::string& path, int64_t at, float v) {
  NpyInfo info = npy_read_info(path);
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, static_cast<long>(info.data_offset + 4 * at), SEEK_SET);
  std::fwrite(&v, 4, 1, f);
  std::fclose(f);
}

TEST(TraceCli, NonFiniteValuesAreRefusedByEveryReader) {
  test::TempDir d("trace");
  ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 2 --out " + (d / "t")).code, 0);
  fs::copy(d / "t", d / "w", fs::copy_options::recursive);
  poke(d / "t/input.npy", 5, NAN);
  poke(d / "w/param.conv1.weight.npy", 3, INFINITY);
  const std::string sim = "sim --hw cnvlutin_ws16 --check --trace";
  for (const std::string& cmd :
       {sim, std::string("energy"), std::string("trace info"), std::string("firing")}) {
    auto r = test::run_cli(cmd + " " + (d / "t"));
    EXPECT_EQ(r.code, 2) << cmd << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("input.npy: element 5 is nan"), std::string::npos) << cmd << "\n" << r.err;
  }
  for (const std::string& cmd : {sim, std::string("energy"), std::string("trace info --params")}) {
    auto r = test::run_cli(cmd + " " + (d / "w"));
    EXPECT_EQ(r.code, 2) << cmd << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("param.conv1.weight.npy: element 3 is inf"), std::string::npos) << cmd << "\n"
                                                                                         << r.err;
  }
}

TEST(TraceCli, ScalesBelongToQuantisedTensorsOnly) {
  test::TempDir d("trace");
  ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 1 --dtype int8 --out " + (d / "q")).code, 0);
  std::string yaml = test::read_file(d / "q/trace.yaml");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string y = yaml;
    size_t p = y.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    if (p != std::string::npos) y.replace(p, from.size(), to);
    test::write_file(d / "q/trace.yaml", y);
    return test::run_cli("trace info " + (d / "q"));
  };
  std::regex scale(R"(, scale: [0-9.e+-]+)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(yaml, m, scale));
  auto r = with(m.str(), "");  // a uint8/int8 tensor without its scale
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("needs its scale"), std::string::npos) << r.err;
  r = with(m.str(), ", scale: -1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("finite positive"), std::string::npos) << r.err;
}

TEST(TraceFormat, QuantisedStorageRecordsScales) {
  test::TempDir d("trace");
  Graph g = small_resnet();
  SynthOptions o;
  o.samples = 2;
  o.dtype = DType::i8;
  write_synthetic_trace(g, o, d / "q", false, "test");
  TraceReader r(d / "q");
  const TensorEntry* relu = r.manifest().find("relu1");
  const TensorEntry* bn = r.manifest().find("bn1");
  EXPECT_EQ(relu->dtype, DType::u8);  // non-negative: unsigned range
  EXPECT_EQ(bn->dtype, DType::i8);
  EXPECT_GT(relu->scale, 0);
  auto v = r.load("relu1");
  float mx = *std::max_element(v.begin(), v.end());
  EXPECT_NEAR(mx, relu->scale * 255, 1e-5 * mx);
}

TEST(TraceFormat, ExistingDirectoryNeedsForceAndStagingIsCleanedUp) {
  test::TempDir d("trace");
  Graph g = small_resnet();
  SynthOptions o;
  o.samples = 1;
  write_synthetic_trace(g, o, d / "t", false, "test");
  EXPECT_THROW(write_synthetic_trace(g, o, d / "t", false, "test"), TraceError);
  o.seed = 7;
  write_synthetic_trace(g, o, d / "t", true, "test");
  EXPECT_EQ(TraceReader(d / "t").manifest().meta.extra.at("seed"), "7");
  int entries = 0;
  for (auto& e : fs::directory_iterator(d.path())) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "t");
  }
  EXPECT_EQ(entries, 1);
  // A writer abandoned before commit leaves nothing.
  { TraceWriter w(d / "never", false); }
  EXPECT_FALSE(fs::exists(d / "never"));
  entries = 0;
  for (auto& e : fs::directory_iterator(d.path())) (void)e, ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(TraceFormat, PythonReaderExampleRuns) {
  ASSERT_TRUE(test::python_has("numpy"))
      << test::python() << " needs python3-numpy (tools/setup.sh installs it)";
  std::string md = test::read_file(test::source_dir() + "/traces/FORMAT.md");
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(md, m, std::regex("<!-- python-reader-begin -->\\n```python\\n([\\s\\S]*?)```")));
  test::TempDir d("trace");
  test::write_file(d / "read_trace.py", m[1]);
  Graph g = small_resnet();
  for (DType dt : {DType::i8, DType::bf16}) {
    SynthOptions o;
    o.samples = 2;
    o.dtype = dt;
    const std::string t = d / dtype_name(dt);
    write_synthetic_trace(g, o, t, false, "test");
    std::string cmd = test::python() + " " + (d / "read_trace.py") + " " + t + " > " + (d / "out.txt");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << dtype_name(dt);
    std::string out = test::read_file(d / "out.txt");
    EXPECT_NE(out.find("2 samples, input (2, 1, 16, 16)"), std::string::npos) << out;
    EXPECT_NE(out.find("layer3.0.relu2"), std::string::npos) << out;
  }
  // The bfloat16 values numpy reads are eatsim's, exactly: the sum over one activation agrees.
  const std::string t = d / "bfloat16";
  test::write_file(d / "sum.py",
                   "import sys\nsys.path.insert(0, sys.argv[1])\nfrom read_trace import read_trace\n"
                   "_, _, load = read_trace(sys.argv[2])\na = load('layer3.0.relu2')\n"
                   "print(a.dtype, repr(float(a.astype('float64').sum())))\n");
  std::string cmd =
      test::python() + " " + (d / "sum.py") + " " + d.path() + " " + t + " > " + (d / "sum.txt");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  TraceReader r(t);
  const TensorEntry* e = r.manifest().find("layer3.0.relu2");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->dtype, DType::bf16);
  std::vector<float> v = npy_load_f32(t + "/" + e->file);
  double sum = 0;
  for (float x : v) sum += x;
  EXPECT_EQ(test::read_file(d / "sum.txt"), fmt::format("float32 {}\n", sum));
}

// --- bad traces: each refused with exit code 2 and a line naming the file ---

struct Corrupt {
  const char* what;
  void (*mutate)(const std::string& dir);
  const char* expect;
};
// Test names in listings (and so in ctest) show the case, not the object's bytes.
void PrintTo(const Corrupt& c, std::ostream* os) { *os << c.what; }

void replace_in(const std::string& path, const std::string& from, const std::string& to) {
  std::string s = test::read_file(path);
  size_t p = s.find(from);
  ASSERT_NE(p, std::string::npos) << from;
  s.replace(p, from.size(), to);
  test::write_file(path, s);
}

class CorruptTrace : public ::testing::TestWithParam<Corrupt> {};

TEST_P(CorruptTrace, RefusedWithOneClearLine) {
  test::TempDir d("trace");
  SynthOptions o;
  o.samples = 2;
  write_synthetic_trace(small_resnet(), o, d / "t", false, "test");
  GetParam().mutate(d / "t");
  try {
    TraceReader r(d / "t");
    FAIL() << GetParam().what << ": accepted";
  } catch (const TraceError& e) {
    EXPECT_TRUE(std::regex_search(e.what(), std::regex(GetParam().expect)))
        << GetParam().what << ": " << e.what();
  }
  auto r = test::run_cli("trace info " + (d / "t"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("error: "), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CorruptTrace,
    ::testing::Values(
        Corrupt{
            "dotdot path",
            [](const std::string& d) { replace_in(d + "/trace.yaml", "\"act.conv1.npy\"", "\"../x.npy\""); },
            R"(trace\.yaml:\d+:\d+: tensors\[\d+\]\.file: '\.\./x\.npy' is not a plain file name)"},
        Corrupt{"absolute path",
                [](const std::string& d) {
                  replace_in(d + "/trace.yaml", "\"act.conv1.npy\"", "\"/etc/passwd\"");
                },
                R"('/etc/passwd' is not a plain file name)"},
        Corrupt{"symlink out",
                [](const std::string& d) {
                  fs::rename(d + "/act.conv1.npy", d + "/../outside.npy");
                  fs::create_symlink(d + "/../outside.npy", d + "/act.conv1.npy");
                },
                R"(symbolic link out of the trace directory)"},
        Corrupt{"missing tensor file",
                [](const std::string& d) { fs::remove(d + "/act.layer1.0.relu1.npy"); },
                R"(tensors \(layer1\.0\.relu1\): file 'act\.layer1\.0\.relu1\.npy' is missing)"},
        Corrupt{"missing manifest entry",
                [](const std::string& d) {
                  std::string s = test::read_file(d + "/trace.yaml");
                  s = std::regex_replace(s, std::regex(".*name: \"layer2.0.bn1\",.*\\n"), "");
                  test::write_file(d + "/trace.yaml", s);
                },
                R"(missing tensor 'layer2\.0\.bn1')"},
        Corrupt{"shape disagrees with graph",
                [](const std::string& d) {
                  replace_in(d + "/trace.yaml", "shape: [2, 8, 16, 16]}", "shape: [2, 8, 16, 15]}");
                },
                R"(shape \[2, 8, 16, 15\] disagrees with the graph)"},
        Corrupt{"future version",
                [](const std::string& d) { replace_in(d + "/trace.yaml", "version: 1", "version: 2"); },
                R"(trace\.yaml:\d+:\d+: version: trace format 2 is newer)"},
        Corrupt{"unknown key",
                [](const std::string& d) {
                  replace_in(d + "/trace.yaml", "producer:", "colour: red\nproducer:");
                },
                R"(colour: unknown key)"},
        Corrupt{"truncated tensor",
                [](const std::string& d) { fs::resize_file(d + "/act.layer1.0.conv1.npy", 1000); },
                R"(act\.layer1\.0\.conv1\.npy: truncated)"},
        Corrupt{"wrong dtype in header",
                [](const std::string& d) { replace_in(d + "/act.conv1.npy", "'<f4'", "'<i4'"); },
                R"(act\.conv1\.npy: dtype int32 disagrees with the manifest)"},
        Corrupt{"no manifest", [](const std::string& d) { fs::remove(d + "/trace.yaml"); },
                R"(no trace\.yaml)"},
        Corrupt{"yaml syntax",
                [](const std::string& d) { replace_in(d + "/trace.yaml", "samples:", "samples: [\n"); },
                R"(trace\.yaml:\d+:\d+: yaml: )"}),
    [](const ::testing::TestParamInfo<Corrupt>& i) {
      std::string s = i.param.what;
      for (auto& c : s)
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      return s;
    });

TEST(TraceCli, SynthAndInfo) {
  test::TempDir d("trace");
  auto r =
      test::run_cli("trace synth smallcnn --samples 2 --density 0.25 --cluster channel --out " + (d / "t"));
  ASSERT_EQ(r.code, 0) << r.err;
  auto info = test::run_cli("trace info " + (d / "t") + " --csv " + (d / "t.csv"));
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("relu1"), std::string::npos);
  std::string csv = test::read_file(d / "t.csv");
  EXPECT_NE(csv.find("name,kind,op,dtype,shape,numel,nnz,density,min,max,scale"), std::string::npos);
  EXPECT_NE(csv.find("fc.weight,param"), std::string::npos);
  auto again = test::run_cli("trace synth smallcnn --out " + (d / "t"));
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find("--force"), std::string::npos);
  EXPECT_EQ(test::run_cli("trace synth smallcnn --density 2 --out " + (d / "u")).code, 2);
  EXPECT_EQ(test::run_cli("trace synth smallcnn --cluster stripes --out " + (d / "u")).code, 2);
  EXPECT_EQ(test::run_cli("trace info " + (d / "nothere")).code, 2);
  // A reader that has gone before the first line (`| head` after its lines): the CSV is complete
  // and the exit status is 0.
  fs::remove(d / "t.csv");
  std::string cmd = std::string("set -o pipefail; ") + EATSIM_BIN + " trace info " + (d / "t") + " --csv " +
                    (d / "t.csv") + " | true";
  EXPECT_EQ(std::system(("bash -c '" + cmd + "'").c_str()), 0);
  EXPECT_EQ(test::read_file(d / "t.csv"), csv);
}

}  // namespace
}  // namespace eatsim
