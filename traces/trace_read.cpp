// Trace format v1, reading: the manifest with strict validation, then every file name and every
// tensor header against the manifest and the graph, without loading tensor data.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/yaml_util.hpp"
#include "traces/trace.hpp"

namespace eatsim {
namespace fs = std::filesystem;

namespace {

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

void check_is_trace_dir(const std::string& dir, const std::string& mpath) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw TraceError(fmt::format("{}: not a directory (a trace is a directory with trace.yaml)", dir));
  if (!fs::exists(mpath, ec))
    throw TraceError(fmt::format("{}: no trace.yaml (not a trace, or an export that did not finish)", dir));
}

void read_format(yamlu::Map& top, yamlu::Diag& d, int& version) {
  std::string format = top.req<std::string>("format");
  if (!format.empty() && format != "eatsim-trace")
    d.error(top.node("format"), "format", "expected 'eatsim-trace', got '" + format + "'");
  version = top.req<int>("version", kTraceVersion);
  if (version > kTraceVersion)
    d.error(top.node("version"), "version",
            fmt::format("trace format {} is newer than this eatsim reads ({}); upgrade eatsim", version,
                        kTraceVersion));
  else if (version < 1)
    d.error(top.node("version"), "version", fmt::format("unknown trace format version {}", version));
}

// The model section; returns the graph's YAML text.
std::string read_model(yamlu::Map& top, yamlu::Diag& d) {
  yamlu::Map model(top.node("model"), "model", d);
  model.req<std::string>("name");
  model.node("params");
  std::string graph_text = model.req<std::string>("graph");
  model.done();
  return graph_text;
}

void read_samples(yamlu::Map& top, yamlu::Diag& d, Manifest& m) {
  yamlu::Map samples(top.node("samples"), "samples", d);
  int64_t count = samples.req<int64_t>("count");
  m.sample_ids = read_int_list(samples, "ids", true);
  m.labels = read_int_list(samples, "labels", true);
  m.predictions = read_int_list(samples, "predictions", false);
  samples.done();
  if (count < 1) d.error(samples.node("count"), "samples.count", "a trace needs at least one sample");
  if (static_cast<int64_t>(m.sample_ids.size()) != count || static_cast<int64_t>(m.labels.size()) != count ||
      (!m.predictions.empty() && static_cast<int64_t>(m.predictions.size()) != count))
    d.error(top.node("samples"), "samples",
            fmt::format("ids, labels and predictions must each have count = {} entries", count));
}

void read_meta(yamlu::Map& top, yamlu::Diag& d, TraceMeta& out) {
  yamlu::Map meta(top.node("meta"), "meta", d);
  out.dataset = meta.get<std::string>("dataset", "");
  out.split = meta.get<std::string>("split", "");
  out.lambda = meta.get<double>("lambda", 0.0);
  out.sigma = meta.get<double>("sigma", 0.0);
  out.accuracy = meta.get<double>("accuracy", -1.0);
  out.checkpoint = meta.get<std::string>("checkpoint", "");
  if (YAML::Node ex = meta.node("extra")) {
    if (!ex.IsMap())
      d.error(ex, "meta.extra", "expected a mapping of strings");
    else
      for (auto it = ex.begin(); it != ex.end(); ++it) out.extra[it->first.Scalar()] = it->second.Scalar();
  }
  meta.done();
}

// The fields of one entry of `tensors:` (its file name is checked by file_inside).
TensorEntry read_tensor_entry(yamlu::Map& t, YAML::Node node, yamlu::Diag& d) {
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
            "unsupported dtype '" + dt + "' (float32, float16, bfloat16, int8, uint8, int32, int64)");
  e.shape = read_int_list(t, "shape", true);
  e.scale = t.get<double>("scale", 0.0);
  if (t.node("scale") && !(std::isfinite(e.scale) && e.scale > 0))
    d.error(t.node("scale"), t.key_path("scale"), "a scale must be a finite positive number");
  else if (t.node("scale") && e.dtype != DType::i8 && e.dtype != DType::u8)
    d.error(t.node("scale"), t.key_path("scale"), "only int8 and uint8 tensors carry a scale");
  else if (!t.node("scale") && (e.dtype == DType::i8 || e.dtype == DType::u8))
    d.error(node, t.key_path("scale"), "an int8 or uint8 tensor needs its scale (value = stored × scale)");
  t.done();
  return e;
}

// Whether the entry's file is a plain name inside the trace directory, not a link out of it.
bool file_inside(const TensorEntry& e, YAML::Node node, yamlu::Map& t, const std::string& dir,
                 const fs::path& canon_dir, yamlu::Diag& d) {
  if (!plain_file_name(e.file)) {
    d.error(node["file"], t.key_path("file"),
            "'" + e.file + "' is not a plain file name inside the trace directory (no paths, no '..')");
    return false;
  }
  std::error_code ec;
  fs::path p = fs::path(dir) / e.file;
  if (fs::is_symlink(p, ec)) {
    fs::path target = fs::weakly_canonical(p, ec);
    auto rel = target.lexically_relative(canon_dir);
    if (rel.empty() || rel.native().rfind("..", 0) == 0) {
      d.error(node["file"], t.key_path("file"),
              "'" + e.file + "' is a symbolic link out of the trace directory");
      return false;
    }
  }
  return true;
}

void read_tensor_list(const YAML::Node& root, YAML::Node tensors, const std::string& dir, yamlu::Diag& d,
                      Manifest& m) {
  if (!tensors || !tensors.IsSequence()) {
    d.error(tensors ? tensors : root, "tensors", "expected a list of tensors");
    d.throw_if_any<TraceError>();
  }
  std::error_code ec;
  fs::path canon_dir = fs::canonical(dir, ec);
  for (size_t i = 0; i < tensors.size(); ++i) {
    yamlu::Map t(tensors[i], fmt::format("tensors[{}]", i), d);
    if (!t.ok()) continue;
    TensorEntry e = read_tensor_entry(t, tensors[i], d);
    if (!file_inside(e, tensors[i], t, dir, canon_dir, d)) continue;
    if (m.find(e.name)) d.error(tensors[i]["name"], t.key_path("name"), "duplicate tensor '" + e.name + "'");
    m.tensors.push_back(std::move(e));
  }
}

// Every edge and every parameter must be present, with the graph's shape.
void check_against_graph(const Manifest& m, const std::string& mpath, yamlu::Diag& d) {
  auto expect = [&](const std::string& name, TensorKind kind, Shape shape) {
    const TensorEntry* e = m.find(name);
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
    Shape b{m.num_samples()};
    b.insert(b.end(), s.begin(), s.end());
    return b;
  };
  expect("input", TensorKind::input, batched(m.graph.input_shape));
  for (const auto& n : m.graph.nodes) expect(n.name, TensorKind::activation, batched(n.out_shape));
  for (const auto& p : m.graph.parameters()) expect(p.key, TensorKind::param, p.shape);
}

// Every tensor file must exist, and its .npy header must agree with the manifest.
void check_headers(const TraceReader& r, const std::string& mpath, yamlu::Diag& d) {
  std::error_code ec;
  for (const auto& e : r.manifest().tensors) {
    std::string p = r.path_of(e);
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
}

}  // namespace

TraceReader::TraceReader(const std::string& dir) : dir_(dir) {
  std::string mpath = dir + "/trace.yaml";
  check_is_trace_dir(dir, mpath);
  YAML::Node root = yamlu::parse<TraceError>(read_text<TraceError>(mpath), mpath);
  yamlu::Diag d{mpath, {}};
  yamlu::Map top(root, "", d);
  d.throw_if_any<TraceError>();
  read_format(top, d, m_.version);
  d.throw_if_any<TraceError>();  // a format this eatsim cannot read is the only error worth showing
  m_.producer = top.req<std::string>("producer");
  std::string graph_text = read_model(top, d);
  read_samples(top, d, m_);
  read_meta(top, d, m_.meta);
  YAML::Node tensors = top.node("tensors");
  top.done();
  d.throw_if_any<TraceError>();
  try {
    m_.graph = parse_graph(graph_text, mpath + " (model.graph)");
  } catch (const ModelError& e) {
    throw TraceError(e.lines());
  }
  read_tensor_list(root, tensors, dir, d, m_);
  d.throw_if_any<TraceError>();
  check_against_graph(m_, mpath, d);
  d.throw_if_any<TraceError>();
  check_headers(*this, mpath, d);
  d.throw_if_any<TraceError>();
}

}  // namespace eatsim
