// Trace export; see export.hpp. Tensors are streamed batch by batch into the trace, so the
// number of samples is bounded by disk, not memory (int8 storage runs inference twice: once for
// the per-tensor scales, once to write).
#include "trainer/export.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "traces/trace.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/data/batcher.hpp"
#include "trainer/data/dataset.hpp"
#include "trainer/net.hpp"

namespace eatsim {
namespace fs = std::filesystem;

std::string resolve_checkpoint_dir(const std::string& path) {
  std::error_code ec;
  if (fs::exists(path + "/checkpoint.yaml", ec)) return path;
  if (fs::exists(path + "/checkpoint/checkpoint.yaml", ec)) return path + "/checkpoint";
  throw DataError(fmt::format("{}: not a checkpoint (no checkpoint.yaml here or in checkpoint/)", path));
}

namespace {

// The graph a checkpoint was trained with: its model.yaml, or the named model at its parameters.
Graph checkpoint_graph(const std::string& dir, const CheckpointMeta& meta) {
  std::error_code ec;
  if (fs::exists(dir + "/model.yaml", ec))
    return parse_graph(read_text<DataError>(dir + "/model.yaml"), dir + "/model.yaml");
  ParamOverrides ov;
  ov.has_width = ov.has_in_channels = ov.has_input_size = ov.has_classes = true;
  ov.p = meta.params;
  return load_graph(meta.model, ov);
}

// The samples to export: a dataset split through the Batcher, or the user's arrays.
class Samples {
 public:
  Samples(const ExportOptions& o, const Graph& g, const CheckpointMeta& meta, const std::string& dir)
      : o_(o), sample_floats_(numel(g.input_shape)), data_(o.dataset), split_(o.split) {
    if (!o.inputs.empty())
      load_user(g);
    else
      load_dataset_split(g, meta, dir);
    x.resize(static_cast<size_t>(o.batch * sample_floats_));
    y.resize(static_cast<size_t>(o.batch));
  }

  int64_t available() const { return available_; }
  const std::string& data() const { return data_; }
  const std::string& split() const { return split_; }
  std::vector<float> x;
  std::vector<int32_t> y;

  // The next batch of at most `o.batch` samples starting at `at`, into x and y.
  int fetch(int64_t at) {
    if (b_) {
      b_->seek(at);
      return b_->next(x.data(), y.data());
    }
    int n = static_cast<int>(std::min<int64_t>(o_.batch, available_ - at));
    std::copy_n(user_x_.data() + at * sample_floats_, n * sample_floats_, x.data());
    for (int i = 0; i < n; ++i) y[i] = static_cast<int32_t>(user_y_[at + i]);
    return n;
  }

 private:
  void load_user(const Graph& g);
  void load_dataset_split(const Graph& g, const CheckpointMeta& meta, const std::string& dir) {
    if (!o_.labels.empty()) throw UsageError("--labels goes with --inputs");
    if (data_.empty()) {
      auto it = meta.info.find("dataset");
      if (it == meta.info.end())
        throw UsageError(fmt::format("{}: the checkpoint does not say its dataset; give --data", dir));
      data_ = it->second;
    }
    ds_ = std::make_unique<Dataset>(load_dataset(data_, split_));
    available_ = ds_->n;
    const int C = static_cast<int>(g.input_shape[0]), H = static_cast<int>(g.input_shape[1]),
              W = static_cast<int>(g.input_shape[2]);
    b_ = std::make_unique<Batcher>(*ds_, o_.batch, C, H, W, false, false, AugmentOptions{}, 0);
  }

  const ExportOptions& o_;
  int64_t sample_floats_;
  std::string data_, split_;
  std::unique_ptr<Dataset> ds_;
  std::unique_ptr<Batcher> b_;
  std::vector<float> user_x_;
  std::vector<int64_t> user_y_;
  int64_t available_ = 0;
};

void Samples::load_user(const Graph& g) {
  const ExportOptions& o = o_;
  if (!o.dataset.empty()) throw UsageError("--inputs and --data exclude each other: give one source");
  NpyInfo xi = npy_read_info(o.inputs);
  Shape want{-1};
  want.insert(want.end(), g.input_shape.begin(), g.input_shape.end());
  if (xi.dtype != DType::f32 || xi.shape.size() != want.size() ||
      !std::equal(want.begin() + 1, want.end(), xi.shape.begin() + 1) || xi.shape[0] < 1)
    throw DataError(
        fmt::format("{}: inputs must be float32 N×{} for model '{}', found {} {} (reshape or "
                    "convert with numpy: x.astype(np.float32).reshape(-1, {}))",
                    o.inputs, shape_str(g.input_shape), g.name, dtype_name(xi.dtype), shape_str(xi.shape),
                    fmt::join(g.input_shape, ", ")));
  user_x_ = npy_load_f32(o.inputs);
  available_ = xi.shape[0];
  if (!o.labels.empty()) {
    NpyInfo yi = npy_read_info(o.labels);
    if ((yi.dtype != DType::i64 && yi.dtype != DType::i32) || yi.shape != Shape{available_})
      throw DataError(fmt::format("{}: labels must be int64 or int32 of shape ({},) to match {}, found {} {}",
                                  o.labels, available_, o.inputs, dtype_name(yi.dtype), shape_str(yi.shape)));
    user_y_ = npy_load_i64(o.labels);
    for (size_t i = 0; i < user_y_.size(); ++i)
      if (user_y_[i] < 0 || user_y_[i] >= g.params.classes)
        throw DataError(fmt::format("{}: label {} at index {} is outside the model's {} classes", o.labels,
                                    user_y_[i], i, g.params.classes));
  } else {
    user_y_.assign(static_cast<size_t>(available_), -1);
  }
  data_ = "file:" + fs::absolute(o.inputs).lexically_normal().string(), split_ = "";
}

// How many samples to export from `first` on (UsageError when the source has too few).
int64_t sample_count(const ExportOptions& o, const Samples& src) {
  const std::string from =
      o.inputs.empty() ? fmt::format("the {} split of {}", src.split(), src.data()) : o.inputs;
  const int64_t available = src.available();
  if (o.first >= available)
    throw UsageError(fmt::format("--first {}: {} has only {} samples", o.first, from, available));
  const int64_t N = o.samples < 0 ? available - o.first : o.samples;
  if (N < 1) throw UsageError("--samples must be at least 1");
  if (N > available - o.first)
    throw UsageError(
        fmt::format("--samples {} from --first {}: {} has only {} samples", N, o.first, from, available));
  return N;
}

// The manifest's provenance: producer, graph, data and the checkpoint's training metadata.
void describe(Manifest& m, const ExportOptions& o, const Graph& g, const Samples& src, const std::string& dir,
              const CheckpointMeta& meta) {
  m.producer = o.producer;
  m.graph = g;
  m.meta.dataset = src.data();
  m.meta.split = src.split();
  m.meta.checkpoint = fs::absolute(dir).lexically_normal().string();
  auto num = [&](const char* k, double def) {
    auto it = meta.info.find(k);
    return it == meta.info.end() ? def : std::stod(it->second);
  };
  m.meta.lambda = num("lambda", 0), m.meta.sigma = num("sigma", 0), m.meta.accuracy = num("test_acc", -1);
  m.meta.extra = {{"epoch", std::to_string(meta.epoch)}};
}

// One stream per edge ([0] = input, [1 + i] = node i) of N samples, with per-tensor scales for
// integer storage.
std::vector<int> begin_streams(TraceWriter& w, const Graph& g, int64_t N, DType dtype,
                               const std::vector<float>& maxabs, const std::vector<float>& minv) {
  auto batched = [&](const Shape& s) {
    Shape r{N};
    r.insert(r.end(), s.begin(), s.end());
    return r;
  };
  std::vector<int> streams(maxabs.size());
  for (size_t e = 0; e < streams.size(); ++e) {
    bool uns = minv[e] >= 0;
    double scale = quant_scale(maxabs[e], uns);
    streams[e] = e == 0 ? w.begin("input", TensorKind::input, batched(g.input_shape), dtype, scale, uns)
                        : w.begin(g.nodes[e - 1].name, TensorKind::activation,
                                  batched(g.nodes[e - 1].out_shape), dtype, scale, uns);
  }
  return streams;
}

void add_params(TraceWriter& w, const Graph& g, const Net& net, DType dtype) {
  for (const auto& p : g.parameters()) {
    Tensor t = net.get(p.key);
    if (p.is_int64) {
      std::vector<int64_t> v(t.data.size());
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(std::llround(t.data[i]));
      w.add_i64(p.key, p.shape, v.data());
    } else {
      w.add(p.key, TensorKind::param, p.shape, t.data.data(), dtype);
    }
  }
}

}  // namespace

ExportSummary export_trace(const ExportOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  if (o.samples == 0) throw UsageError("--samples must be at least 1");
  if (o.first < 0) throw UsageError("--first must be zero or positive");
  std::string dir = resolve_checkpoint_dir(o.checkpoint);
  CheckpointMeta meta = read_checkpoint_meta(dir);
  Graph g = checkpoint_graph(dir, meta);
  Net net(g);
  load_checkpoint(dir, net);
  TraceWriter w(o.out, o.force);  // refuses an existing --out before any work
  Samples src(o, g, meta, dir);
  const int64_t N = sample_count(o, src);
  // Runs the samples in batches; `sink` gets every batch's edges ([0] = input, [1 + i] = node i).
  auto pass = [&](const std::function<void(const std::vector<Tensor>&, const int32_t*, int)>& sink) {
    for (int64_t at = o.first; at < o.first + N;) {
      int n = static_cast<int>(std::min<int64_t>(src.fetch(at), o.first + N - at));
      sink(net.infer_edges(src.x.data(), n), src.y.data(), n);
      at += n;
    }
  };
  size_t E = g.nodes.size() + 1;
  std::vector<float> maxabs(E, 0.f), minv(E, 0.f);
  if (o.dtype == DType::i8 || o.dtype == DType::u8)
    pass([&](const std::vector<Tensor>& edges, const int32_t*, int) {
      for (size_t e = 0; e < E; ++e)
        for (float v : edges[e].data)
          maxabs[e] = std::max(maxabs[e], std::fabs(v)), minv[e] = std::min(minv[e], v);
    });
  Manifest& m = w.manifest();
  describe(m, o, g, src, dir, meta);
  std::vector<int> streams = begin_streams(w, g, N, o.dtype, maxabs, minv);
  ExportSummary sum;
  int64_t id = o.first;
  pass([&](const std::vector<Tensor>& edges, const int32_t* labels, int n) {
    for (size_t e = 0; e < E; ++e)
      w.append(streams[e], edges[e].data.data(), static_cast<int64_t>(edges[e].data.size()));
    const Tensor& out = edges[1 + g.output];
    int64_t k = out.numel() / n;
    for (int i = 0; i < n; ++i) {
      const float* row = out.data.data() + i * k;
      int64_t pred = std::max_element(row, row + k) - row;
      m.sample_ids.push_back(id++);
      m.labels.push_back(labels[i]);
      m.predictions.push_back(pred);
      sum.correct += pred == labels[i];
      sum.labelled += labels[i] >= 0;
    }
  });
  add_params(w, g, net, o.dtype);
  w.commit();
  sum.samples = N;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& f : fs::directory_iterator(o.out)) sum.bytes += static_cast<int64_t>(f.file_size());
  return sum;
}

}  // namespace eatsim
