// Trace format v1: manifest reading with strict validation, tensor access, crash-safe writing.
#include "traces/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "base/errors.hpp"
#include "base/yaml_util.hpp"
#include "base/files.hpp"

namespace eatsim {
namespace fs = std::filesystem;

const char* tensor_kind_name(TensorKind k) {
  switch (k) {
    case TensorKind::input:
      return "input";
    case TensorKind::activation:
      return "activation";
    case TensorKind::param:
      return "param";
  }
  return "?";
}

const TensorEntry* Manifest::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  }
  std::string hex() const { return fmt::format("{:016x}", h); }
};
}  // namespace

std::string content_hash(const std::string& bytes) {
  Fnv f;
  f.add(bytes.data(), bytes.size());
  return f.hex();
}

std::string trace_hash(const TraceReader& r) {
  Fnv f;
  std::string manifest = read_text<TraceError>(r.dir() + "/trace.yaml");
  f.add(manifest.data(), manifest.size());
  std::vector<char> buf(1 << 20);
  for (const auto& e : r.manifest().tensors) {
    FILE* fp = std::fopen(r.path_of(e).c_str(), "rb");
    if (!fp) throw TraceError(fmt::format("{}: cannot open", r.path_of(e)));
    size_t k;
    while ((k = std::fread(buf.data(), 1, buf.size(), fp)) > 0) f.add(buf.data(), k);
    std::fclose(fp);
  }
  return f.hex();
}

std::string tensor_file_name(const std::string& name) {
  std::string s = name;
  for (auto& c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  return s;
}

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
    << ", in_channels: " << m.graph.params.in_channels << ", input_size: " << m.graph.params.input_size
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

// A file name from the manifest must be a plain name that stays inside the trace directory.
bool plain_file_name(const std::string& f) {
  return !f.empty() && f.find('/') == std::string::npos && f.find('\\') == std::string::npos && f[0] != '.' &&
         f.find('\0') == std::string::npos;
}

std::vector<int64_t> read_int_list(yamlu::Map& m, const std::string& key, bool required) {
  std::vector<int64_t> out;
  YAML::Node n = m.node(key);
  if (!n) {
    if (required) m.diag().error(m.self(), m.key_path(key), "missing required key (a list of integers)");
    return out;
  }
  if (!n.IsSequence()) {
    m.diag().error(n, m.key_path(key), "expected a list of integers, got " + yamlu::describe(n));
    return out;
  }
  for (const auto& v : n) {
    auto x = yamlu::convert<int64_t>(v);
    if (!x) {
      m.diag().error(v, m.key_path(key), "expected an integer, got " + yamlu::describe(v));
      return {};
    }
    out.push_back(*x);
  }
  return out;
}

}  // namespace

TraceReader::TraceReader(const std::string& dir) : dir_(dir) {
  std::string mpath = dir + "/trace.yaml";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw TraceError(fmt::format("{}: not a directory (a trace is a directory with trace.yaml)", dir));
  if (!fs::exists(mpath, ec))
    throw TraceError(fmt::format("{}: no trace.yaml (not a trace, or an export that did not finish)", dir));
  YAML::Node root = yamlu::parse<TraceError>(read_text<TraceError>(mpath), mpath);
  yamlu::Diag d{mpath, {}};
  yamlu::Map top(root, "", d);
  d.throw_if_any<TraceError>();
  std::string format = top.req<std::string>("format");
  if (!format.empty() && format != "eatsim-trace")
    d.error(top.node("format"), "format", "expected 'eatsim-trace', got '" + format + "'");
  m_.version = top.req<int>("version", kTraceVersion);
  if (m_.version > kTraceVersion)
    d.error(top.node("version"), "version",
            fmt::format("trace format {} is newer than this eatsim reads ({}); upgrade eatsim", m_.version,
                        kTraceVersion));
  else if (m_.version < 1)
    d.error(top.node("version"), "version", fmt::format("unknown trace format version {}", m_.version));
  d.throw_if_any<TraceError>();
  m_.producer = top.req<std::string>("producer");

  yamlu::Map model(top.node("model"), "model", d);
  model.req<std::string>("name");
  model.node("params");
  std::string graph_text = model.req<std::string>("graph");
  model.done();
  yamlu::Map samples(top.node("samples"), "samples", d);
  int64_t count = samples.req<int64_t>("count");
  m_.sample_ids = read_int_list(samples, "ids", true);
  m_.labels = read_int_list(samples, "labels", true);
  m_.predictions = read_int_list(samples, "predictions", false);
  samples.done();
  if (count < 1) d.error(samples.node("count"), "samples.count", "a trace needs at least one sample");
  if (static_cast<int64_t>(m_.sample_ids.size()) != count ||
      static_cast<int64_t>(m_.labels.size()) != count ||
      (!m_.predictions.empty() && static_cast<int64_t>(m_.predictions.size()) != count))
    d.error(top.node("samples"), "samples",
            fmt::format("ids, labels and predictions must each have count = {} entries", count));
  yamlu::Map meta(top.node("meta"), "meta", d);
  m_.meta.dataset = meta.get<std::string>("dataset", "");
  m_.meta.split = meta.get<std::string>("split", "");
  m_.meta.lambda = meta.get<double>("lambda", 0.0);
  m_.meta.sigma = meta.get<double>("sigma", 0.0);
  m_.meta.accuracy = meta.get<double>("accuracy", -1.0);
  m_.meta.checkpoint = meta.get<std::string>("checkpoint", "");
  if (YAML::Node ex = meta.node("extra")) {
    if (!ex.IsMap())
      d.error(ex, "meta.extra", "expected a mapping of strings");
    else
      for (auto it = ex.begin(); it != ex.end(); ++it)
        m_.meta.extra[it->first.Scalar()] = it->second.Scalar();
  }
  meta.done();
  YAML::Node tensors = top.node("tensors");
  top.done();
  d.throw_if_any<TraceError>();
  try {
    m_.graph = parse_graph(graph_text, mpath + " (model.graph)");
  } catch (const ModelError& e) {
    throw TraceError(e.lines());
  }

  if (!tensors || !tensors.IsSequence()) {
    d.error(tensors ? tensors : root, "tensors", "expected a list of tensors");
    d.throw_if_any<TraceError>();
  }
  fs::path canon_dir = fs::canonical(dir, ec);
  for (size_t i = 0; i < tensors.size(); ++i) {
    yamlu::Map t(tensors[i], fmt::format("tensors[{}]", i), d);
    if (!t.ok()) continue;
    TensorEntry e;
    e.name = t.req<std::string>("name");
    std::string kind = t.req<std::string>("kind");
    if (kind == "input")
      e.kind = TensorKind::input;
    else if (kind == "activation")
      e.kind = TensorKind::activation;
    else if (kind == "param")
      e.kind = TensorKind::param;
    else
      d.error(t.node("kind"), t.key_path("kind"), "expected input, activation or param, got '" + kind + "'");
    e.file = t.req<std::string>("file");
    std::string dt = t.req<std::string>("dtype");
    if (!dt.empty() && !dtype_from_name(dt, e.dtype))
      d.error(t.node("dtype"), t.key_path("dtype"),
              "unsupported dtype '" + dt + "' (float32, float16, int8, uint8, int32, int64)");
    e.shape = read_int_list(t, "shape", true);
    e.scale = t.get<double>("scale", 0.0);
    if (t.node("scale") && !(std::isfinite(e.scale) && e.scale > 0))
      d.error(t.node("scale"), t.key_path("scale"), "a scale must be a finite positive number");
    else if (t.node("scale") && e.dtype != DType::i8 && e.dtype != DType::u8)
      d.error(t.node("scale"), t.key_path("scale"), "only int8 and uint8 tensors carry a scale");
    else if (!t.node("scale") && (e.dtype == DType::i8 || e.dtype == DType::u8))
      d.error(tensors[i], t.key_path("scale"),
              "an int8 or uint8 tensor needs its scale (value = stored × scale)");
    t.done();
    if (!plain_file_name(e.file)) {
      d.error(tensors[i]["file"], t.key_path("file"),
              "'" + e.file + "' is not a plain file name inside the trace directory (no paths, no '..')");
      continue;
    }
    fs::path p = fs::path(dir) / e.file;
    if (fs::is_symlink(p, ec)) {
      fs::path target = fs::weakly_canonical(p, ec);
      auto rel = target.lexically_relative(canon_dir);
      if (rel.empty() || rel.native().rfind("..", 0) == 0) {
        d.error(tensors[i]["file"], t.key_path("file"),
                "'" + e.file + "' is a symbolic link out of the trace directory");
        continue;
      }
    }
    if (m_.find(e.name)) d.error(tensors[i]["name"], t.key_path("name"), "duplicate tensor '" + e.name + "'");
    m_.tensors.push_back(std::move(e));
  }
  d.throw_if_any<TraceError>();

  // Every edge and every parameter must be present, with the graph's shape; headers must agree.
  auto expect = [&](const std::string& name, TensorKind kind, Shape shape) {
    const TensorEntry* e = m_.find(name);
    if (!e) {
      d.errors.push_back(fmt::format("{}: tensors: missing tensor '{}' ({} {})", mpath, name,
                                     tensor_kind_name(kind), shape_str(shape)));
      return;
    }
    if (e->shape != shape)
      d.errors.push_back(fmt::format("{}: tensors ({}): shape {} disagrees with the graph, which gives {}",
                                     mpath, name, shape_str(e->shape), shape_str(shape)));
  };
  auto batched = [&](const Shape& s) {
    Shape b{count};
    b.insert(b.end(), s.begin(), s.end());
    return b;
  };
  expect("input", TensorKind::input, batched(m_.graph.input_shape));
  for (const auto& n : m_.graph.nodes) expect(n.name, TensorKind::activation, batched(n.out_shape));
  for (const auto& p : m_.graph.parameters()) expect(p.key, TensorKind::param, p.shape);
  d.throw_if_any<TraceError>();
  for (const auto& e : m_.tensors) {
    std::string p = path_of(e);
    if (!fs::exists(p, ec)) {
      d.errors.push_back(
          fmt::format("{}: tensors ({}): file '{}' is missing (an incomplete copy of the trace?)", mpath,
                      e.name, e.file));
      continue;
    }
    try {
      NpyInfo info = npy_read_info(p);
      if (info.dtype != e.dtype)
        d.errors.push_back(fmt::format("{}: dtype {} disagrees with the manifest ({})", p,
                                       dtype_name(info.dtype), dtype_name(e.dtype)));
      if (info.shape != e.shape)
        d.errors.push_back(fmt::format("{}: shape {} disagrees with the manifest ({})", p,
                                       shape_str(info.shape), shape_str(e.shape)));
    } catch (const TraceError& err) {
      d.errors.push_back(err.what());
    }
  }
  d.throw_if_any<TraceError>();
}

const TensorEntry& TraceReader::get(const std::string& name) const {
  const TensorEntry* e = m_.find(name);
  if (!e) throw TraceError(fmt::format("{}/trace.yaml: no tensor '{}'", dir_, name));
  return *e;
}

std::vector<float> TraceReader::load(const std::string& name) const {
  const TensorEntry& e = get(name);
  std::vector<float> v = npy_load_f32(path_of(e));
  if (e.scale != 0)
    for (auto& x : v) x = static_cast<float>(x * e.scale);
  return v;
}

std::vector<float> TraceReader::load_sample(const std::string& name, int64_t sample) const {
  const TensorEntry& e = get(name);
  if (e.kind == TensorKind::param)
    throw TraceError(fmt::format("{}: '{}' is a parameter, not per-sample", dir_, name));
  if (sample < 0 || sample >= e.shape[0])
    throw TraceError(fmt::format("{}: sample {} out of range (the trace has {})", dir_, sample, e.shape[0]));
  NpyReader r(path_of(e));
  int64_t per = r.info().numel() / e.shape[0];
  std::vector<float> v(static_cast<size_t>(per));
  r.seek(sample * per);
  r.read_f32(v.data(), per);
  if (e.scale != 0)
    for (auto& x : v) x = static_cast<float>(x * e.scale);
  return v;
}

std::vector<float> TraceReader::load_node_sample(int node, int64_t sample) const {
  return load_sample(node < 0 ? std::string("input") : m_.graph.nodes[node].name, sample);
}

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
  } else if (dtype == DType::f32 || dtype == DType::f16) {
    e.dtype = dtype;
  } else {
    throw TraceError(fmt::format("{}: tensors are stored as float32, float16, int8 or uint8, not {}", dir_,
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
