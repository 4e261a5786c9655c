// Trace format v1: names, hashes and tensor access; the manifest is read in trace_read.cpp and
// written in trace_write.cpp.
#include "traces/trace.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdio>

#include "base/errors.hpp"
#include "base/files.hpp"

namespace eatsim {

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

std::string TraceReader::hash() const {
  std::lock_guard<std::mutex> lock(hash_->mu);
  if (hash_->hex.empty()) hash_->hex = trace_hash(*this);
  return hash_->hex;
}

std::string tensor_file_name(const std::string& name) {
  std::string s = name;
  for (auto& c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  return s;
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

}  // namespace eatsim
