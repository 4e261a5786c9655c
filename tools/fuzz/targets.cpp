// The fuzz targets' bodies; see targets.hpp.
#include "tools/fuzz/targets.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/errors.hpp"
#include "interop/onnx_import.hpp"
#include "models/graph.hpp"
#include "sim/accelergy.hpp"
#include "sim/hwconfig.hpp"
#include "sim/regression.hpp"
#include "sim/scalesim_files.hpp"
#include "sim/sweep/sweep.hpp"
#include "traces/npy.hpp"
#include "traces/synth.hpp"
#include "traces/trace.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/data/dataset.hpp"

namespace eatsim::fuzz {
namespace fs = std::filesystem;
namespace {

// Readers take paths: each input goes to a file in a directory of this process first.
const std::string& workdir() {
  struct Dir {  // removed when the process ends
    std::string path = (fs::temp_directory_path() / ("eatsim-fuzz-" + std::to_string(::getpid()))).string();
    Dir() { fs::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir d;
  return d.path;
}

std::string put(const std::string& name, const char* data, size_t size) {
  std::string p = workdir() + "/" + name;
  fs::create_directories(fs::path(p).parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(data, static_cast<std::streamsize>(size));
  return p;
}
std::string put(const std::string& name, const std::string& s) { return put(name, s.data(), s.size()); }

// A clean eatsim error is what bad input must get.
template <class F>
void expect_clean(F f) {
  try {
    f();
  } catch (const Error&) {
  }
}

// The input split at the first "\n%%\n" (b empty when there is none).
void split(const uint8_t* data, size_t size, std::string& a, std::string& b) {
  std::string s(reinterpret_cast<const char*>(data), size);
  size_t k = s.find("\n%%\n");
  a = s.substr(0, k);
  b = k == std::string::npos ? "" : s.substr(k + 4);
}

}  // namespace

void npy(const uint8_t* data, size_t size) {
  std::string p = put("in.npy", reinterpret_cast<const char*>(data), size);
  expect_clean([&] {
    NpyReader r(p);
    std::vector<float> buf(4096);
    while (r.remaining() > 0) {
      int64_t k = std::min<int64_t>(r.remaining(), 4096);
      r.read_f32(buf.data(), k);
    }
  });
}

void trace(const uint8_t* data, size_t size) {
  static const bool ready = [] {  // real tensor files for the manifest to describe
    SynthOptions o;
    o.samples = 1;
    write_synthetic_trace(load_graph("smallcnn"), o, workdir() + "/t", true, "fuzz");
    return true;
  }();
  (void)ready;
  put("t/trace.yaml", reinterpret_cast<const char*>(data), size);
  expect_clean([&] {
    TraceReader tr(workdir() + "/t");
    for (const auto& e : tr.manifest().tensors) tr.load(e.name);
  });
}

void graph(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  expect_clean([&] {
    Graph g = parse_graph(text, "fuzz.yaml");
    (void)g.parameters();
    (void)graph_to_yaml(g);
  });
}

void hwconfig(const uint8_t* data, size_t size) {
  std::string top, inc;
  split(data, size, top, inc);
  put("inc.yaml", inc);
  std::string path = put("top.yaml", top);
  std::vector<std::string> sets;
  std::istringstream lines(top);
  for (std::string l; std::getline(lines, l);)
    if (l.rfind("#set ", 0) == 0) sets.push_back(l.substr(5));
  expect_clean([&] { (void)sim::hwconfig_to_yaml(sim::load_hwconfig(path, sets)); });
}

void sweep(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  expect_clean([&] {
    sweep::Spec s = sweep::parse_spec(text, workdir() + "/sweep.yaml");
    int64_t total = 0;
    (void)sweep::expand(s, &total);
  });
}

void regression(const uint8_t* data, size_t size) {
  std::string report, tol;
  split(data, size, report, tol);
  std::string rp = put("report.json", report), tp = put("tol.yaml", tol);
  expect_clean([&] {
    sim::Report r = sim::read_report(rp);
    sim::Tolerances t = sim::load_tolerances(tp, r.metrics);
    (void)sim::format_outcome(sim::compare(r, r, t));
  });
}

void checkpoint(const uint8_t* data, size_t size) {
  put("ckpt/checkpoint.yaml", reinterpret_cast<const char*>(data), size);
  expect_clean([&] { (void)read_checkpoint_meta(workdir() + "/ckpt"); });
}

void datasets(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const std::string d = workdir();
  std::string a, b;
  split(data + 1, size - 1, a, b);
  switch (data[0] % 3) {
    case 0:
      put("idx/test-images-idx3-ubyte", a);
      put("idx/test-labels-idx1-ubyte", b);
      expect_clean([&] { (void)load_idx(d + "/idx", "test", "mnist"); });
      break;
    case 1:
      put("cifar/test_batch.bin", reinterpret_cast<const char*>(data + 1), size - 1);
      expect_clean([&] { (void)load_cifar10(d + "/cifar", "test"); });
      break;
    default:
      put("gtsrb/GT-final_test.csv", a);
      put("gtsrb/Final_Test/Images/00000.ppm", b);
      expect_clean([&] { (void)load_gtsrb(d + "/gtsrb", "test", 8); });
      break;
  }
}

void scalesim(const uint8_t* data, size_t size) {
  std::string cfg, topo;
  split(data, size, cfg, topo);
  const std::string c = put("scalesim/scale.cfg", cfg), t = put("scalesim/topology.csv", topo);
  expect_clean([&] {
    sim::HwConfig hw = scalesim::hwconfig_of(scalesim::read_config(c));
    std::vector<scalesim::Layer> layers = scalesim::read_topology(t);
    if (layers.size() > 64) layers.resize(64);  // bounded work per input
    sim::SimResult r = scalesim::simulate(hw, layers, {});
    (void)scalesim::compute_report(r), (void)scalesim::bandwidth_report(r),
        (void)scalesim::detailed_access_report(r);
  });
}

void ert(const uint8_t* data, size_t size) {
  std::string text, map;
  split(data, size, text, map);
  const std::string f = put("ert/ert.yaml", text);
  expect_clean([&] {
    std::map<std::string, std::string> overrides;
    std::istringstream in(map);
    std::string line;
    while (std::getline(in, line))
      if (auto eq = line.find('='); eq != std::string::npos)
        overrides[line.substr(0, eq)] = line.substr(eq + 1);
    (void)sim::read_ert(f, sim::accelergy_names(overrides, "fuzz"), true);
  });
}

void onnx(const uint8_t* data, size_t size) {
  std::string p = put("onnx/model.onnx", reinterpret_cast<const char*>(data), size);
  expect_clean([&] {
    ImportedModel m = import_onnx(p);
    (void)graph_to_yaml(m.graph);
  });
}

namespace {
const std::map<std::string, void (*)(const uint8_t*, size_t)>& table() {
  static const std::map<std::string, void (*)(const uint8_t*, size_t)> t = {{"npy", npy},
                                                                            {"trace", trace},
                                                                            {"graph", graph},
                                                                            {"hwconfig", hwconfig},
                                                                            {"sweep", sweep},
                                                                            {"regression", regression},
                                                                            {"checkpoint", checkpoint},
                                                                            {"datasets", datasets},
                                                                            {"onnx", onnx},
                                                                            {"scalesim", scalesim},
                                                                            {"ert", ert}};
  return t;
}
}  // namespace

bool run(const std::string& target, const uint8_t* data, size_t size) {
  auto it = table().find(target);
  if (it == table().end()) return false;
  it->second(data, size);
  return true;
}

std::vector<std::string> names() {
  std::vector<std::string> n;
  for (const auto& [k, f] : table()) n.push_back(k);
  return n;
}

}  // namespace eatsim::fuzz
