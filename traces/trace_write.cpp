// Trace format v1, writing: tensors streamed into a staging directory, the manifest written last,
// the directory moved into place, so a crash never leaves a manifest without its tensors.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "traces/trace.hpp"

namespace eatsim {
namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o + "\"";
}

std::string num(double v) { return fmt::format("{}", v); }

template <class T>
std::string list(const std::vector<T>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + std::to_string(v[i]);
  return o + "]";
}

std::string indent(const std::string& text, const std::string& pad) {
  std::string o;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) o += pad + line + "\n";
  return o;
}

std::string manifest_yaml(const Manifest& m) {
  std::ostringstream o;
  o << "# eatsim trace (format: traces/FORMAT.md). Tensors are .npy files beside this manifest.\n";
  o << "format: eatsim-trace\nversion: " << m.version << "\nproducer: " << quote(m.producer) << "\n";
  o << "model:\n  name: " << quote(m.graph.name) << "\n  params: {width: " << num(m.graph.params.width)
    << ", in_channels: " << m.graph.params.in_channels << ", input_size: " << m.graph.params.input_size_yaml()
    << ", classes: " << m.graph.params.classes << "}\n  graph: |\n"
    << indent(graph_to_yaml(m.graph), "    ");
  o << "samples:\n  count: " << m.num_samples() << "\n  ids: " << list(m.sample_ids)
    << "\n  labels: " << list(m.labels) << "\n";
  if (!m.predictions.empty()) o << "  predictions: " << list(m.predictions) << "\n";
  o << "meta:\n  dataset: " << quote(m.meta.dataset) << "\n  split: " << quote(m.meta.split)
    << "\n  lambda: " << num(m.meta.lambda) << "\n  sigma: " << num(m.meta.sigma)
    << "\n  accuracy: " << num(m.meta.accuracy) << "\n  checkpoint: " << quote(m.meta.checkpoint) << "\n";
  if (!m.meta.extra.empty()) {
    o << "  extra:\n";
    for (const auto& [k, v] : m.meta.extra) o << "    " << quote(k) << ": " << quote(v) << "\n";
  }
  o << "tensors:\n";
  for (const auto& t : m.tensors) {
    o << "  - {name: " << quote(t.name) << ", kind: " << tensor_kind_name(t.kind)
      << ", file: " << quote(t.file) << ", dtype: " << dtype_name(t.dtype) << ", shape: " << list(t.shape);
    if (t.scale != 0) o << ", scale: " << fmt::format("{:.9g}", t.scale);
    o << "}\n";
  }
  return o.str();
}

}  // namespace

TraceWriter::TraceWriter(const std::string& dir, bool replace) : dir_(dir), replace_(replace) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !replace)
    throw TraceError(fmt::format("{}: already exists (use --force to replace it)", dir));
  fs::path parent = fs::path(dir).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw TraceError(fmt::format("{}: the parent directory does not exist", dir));
  staging_ = temp_name_for(dir);
  if (!fs::create_directory(staging_, ec))
    throw TraceError(fmt::format("{}: cannot create a staging directory beside it ({})", dir, ec.message()));
}

TraceWriter::~TraceWriter() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

double quant_scale(float max_abs, bool unsigned_) {
  return max_abs > 0 ? max_abs / (unsigned_ ? 255.0 : 127.0) : 1.0;
}

int quantise(float x, double scale, bool unsigned_) {
  double v = std::nearbyint(x / scale);  // the default rounding mode: half to even
  return static_cast<int>(std::min(std::max(v, unsigned_ ? 0.0 : -127.0), unsigned_ ? 255.0 : 127.0));
}

struct TraceWriter::Stream {
  size_t entry;
  std::unique_ptr<NpyWriter> w;
  int64_t left;
  bool quant = false, unsigned_ = false;
  double scale = 0;
  std::vector<int8_t> q;
};

TensorEntry TraceWriter::make_entry(const std::string& name, TensorKind kind, const Shape& shape) {
  if (m_.find(name)) throw TraceError(fmt::format("{}: tensor '{}' written twice", dir_, name));
  TensorEntry e;
  e.name = name;
  e.kind = kind;
  e.shape = shape;
  e.file = (kind == TensorKind::param        ? "param."
            : kind == TensorKind::activation ? "act."
                                             : "") +
           tensor_file_name(name) + ".npy";
  for (const auto& t : m_.tensors)
    if (t.file == e.file)
      throw TraceError(fmt::format("{}: tensors '{}' and '{}' map to one file name", dir_, t.name, name));
  return e;
}

int TraceWriter::begin(const std::string& name, TensorKind kind, const Shape& shape, DType dtype,
                       double scale, bool unsigned_) {
  TensorEntry e = make_entry(name, kind, shape);
  auto st = std::make_unique<Stream>();
  st->left = numel(shape);
  if (dtype == DType::i8 || dtype == DType::u8) {
    st->quant = true, st->unsigned_ = unsigned_ || dtype == DType::u8;
    st->scale = scale > 0 ? scale : 1.0;
    e.dtype = st->unsigned_ ? DType::u8 : DType::i8;
    e.scale = st->scale;
  } else if (dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16) {
    e.dtype = dtype;
  } else {
    throw TraceError(
        fmt::format("{}: tensors are stored as float32, float16, bfloat16, int8 or uint8, not {}", dir_,
                    dtype_name(dtype)));
  }
  st->w = std::make_unique<NpyWriter>(staging_ + "/" + e.file, e.dtype, shape);
  st->entry = m_.tensors.size();
  m_.tensors.push_back(std::move(e));
  streams_.push_back(std::move(st));
  int id = static_cast<int>(streams_.size() - 1);
  if (streams_[id]->left == 0) append(id, nullptr, 0);
  return id;
}

void TraceWriter::append(int id, const float* data, int64_t n) {
  Stream& st = *streams_.at(id);
  if (n > st.left)
    throw TraceError(fmt::format("{}: more data than tensor '{}' holds", dir_, m_.tensors[st.entry].name));
  if (st.quant) {
    st.q.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) st.q[i] = static_cast<int8_t>(quantise(data[i], st.scale, st.unsigned_));
    st.w->write_raw(st.q.data(), n);
  } else if (n > 0) {
    st.w->write_f32(data, n);
  }
  st.left -= n;
  if (st.left == 0 && st.w) {
    st.w->commit();
    st.w.reset();
  }
}

void TraceWriter::add(const std::string& name, TensorKind kind, const Shape& shape, const float* data,
                      DType dtype) {
  int64_t n = numel(shape);
  double scale = 0;
  bool uns = false;
  if (dtype == DType::i8 || dtype == DType::u8) {
    // Non-negative tensors use the unsigned range.
    float maxabs = 0, minv = 0;
    for (int64_t i = 0; i < n; ++i)
      maxabs = std::max(maxabs, std::fabs(data[i])), minv = std::min(minv, data[i]);
    uns = minv >= 0;
    scale = quant_scale(maxabs, uns);
  }
  int id = begin(name, kind, shape, dtype, scale, uns);
  append(id, data, n);
}

void TraceWriter::add_i64(const std::string& name, const Shape& shape, const int64_t* data) {
  TensorEntry e = make_entry(name, TensorKind::param, shape);
  e.dtype = DType::i64;
  npy_save(staging_ + "/" + e.file, DType::i64, shape, data);
  m_.tensors.push_back(std::move(e));
}

void TraceWriter::commit() {
  for (const auto& st : streams_)
    if (st->left != 0)
      throw TraceError(
          fmt::format("{}: tensor '{}' is missing {} values", dir_, m_.tensors[st->entry].name, st->left));
  // Manifest order: the input, activations in execution order, parameters in state_dict order.
  std::map<std::string, size_t> rank;
  rank["input"] = 0;
  for (int i : m_.graph.order) rank.emplace(m_.graph.nodes[i].name, rank.size());
  for (const auto& p : m_.graph.parameters()) rank.emplace(p.key, rank.size());
  std::stable_sort(m_.tensors.begin(), m_.tensors.end(), [&](const TensorEntry& a, const TensorEntry& b) {
    auto ra = rank.count(a.name) ? rank[a.name] : rank.size(),
         rb = rank.count(b.name) ? rank[b.name] : rank.size();
    return ra < rb;
  });
  fsync_path(staging_);
  atomic_write(staging_ + "/trace.yaml", manifest_yaml(m_));
  publish_dir(staging_, dir_, replace_);
  committed_ = true;
}

}  // namespace eatsim
