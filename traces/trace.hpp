// Trace format v1 (traces/FORMAT.md): a directory with trace.yaml and one .npy per tensor — the
// graph input and every node output (shape [N, ...]), and every parameter by state_dict key.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "traces/npy.hpp"

namespace eatsim {

constexpr int kTraceVersion = 1;

enum class TensorKind { input, activation, param };
const char* tensor_kind_name(TensorKind k);

struct TensorEntry {
  std::string name;  // "input", a node name, or a state_dict key
  TensorKind kind = TensorKind::activation;
  std::string file;  // plain file name inside the trace directory
  DType dtype = DType::f32;
  Shape shape;         // activations and input: [N, ...per-sample shape]
  double scale = 0.0;  // f16/i8/u8 storage: value = stored * scale (0 when stored as f32)
};

struct TraceMeta {
  std::string dataset;  // e.g. "fashion-mnist", "synthetic"
  std::string split;    // "test", "train", "synthetic"
  double lambda = 0.0, sigma = 0.0;
  double accuracy = -1.0;                    // test accuracy of the checkpoint, -1 when unknown
  std::string checkpoint;                    // where the weights came from
  std::map<std::string, std::string> extra;  // free-form provenance (generator settings, ...)
};

struct Manifest {
  int version = kTraceVersion;
  std::string producer;  // "eatsim 0.1.0 trace export", "torch2trace.py", ...
  Graph graph;
  std::vector<int64_t> sample_ids, labels, predictions;  // predictions may be empty
  TraceMeta meta;
  std::vector<TensorEntry> tensors;
  int64_t num_samples() const { return static_cast<int64_t>(sample_ids.size()); }
  const TensorEntry* find(const std::string& name) const;
};

// Reads a trace directory; open() validates the manifest, every file name and every tensor header
// (shape against the graph, dtype, size) without loading tensor data.
class TraceReader {
 public:
  explicit TraceReader(const std::string& dir);
  const Manifest& manifest() const { return m_; }
  const Graph& graph() const { return m_.graph; }
  const std::string& dir() const { return dir_; }
  std::string path_of(const TensorEntry& e) const { return dir_ + "/" + e.file; }
  // Whole tensor as float (dequantised with its scale).
  std::vector<float> load(const std::string& name) const;
  // One sample of an activation tensor, as float; streams only that sample from disk.
  std::vector<float> load_sample(const std::string& name, int64_t sample) const;
  // Activation tensor of a node (by node index) or the graph input (index -1).
  std::vector<float> load_node_sample(int node, int64_t sample) const;
  // trace_hash of this trace, read once (a sweep reports the same trace at every point).
  std::string hash() const;

 private:
  std::string dir_;
  Manifest m_;
  struct HashCache {
    std::mutex mu;
    std::string hex;  // "" until computed
  };
  std::shared_ptr<HashCache> hash_ = std::make_shared<HashCache>();
  const TensorEntry& get(const std::string& name) const;
};

// Writes a trace into a staging directory beside `dir`; commit() writes the manifest last and
// moves the directory into place, so a crash never leaves a manifest without its tensors.
class TraceWriter {
 public:
  TraceWriter(const std::string& dir, bool replace_existing);
  ~TraceWriter();  // removes the staging directory unless committed
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;
  Manifest& manifest() { return m_; }
  // Streams a tensor out: call once per tensor with all of its data (float), stored as `dtype`
  // (f32 exact; f16; i8/u8 symmetric per-tensor quantised, the scale recorded).
  void add(const std::string& name, TensorKind kind, const Shape& shape, const float* data,
           DType dtype = DType::f32);
  void add_i64(const std::string& name, const Shape& shape, const int64_t* data);  // num_batches_tracked
  // Streaming: begin a tensor, append its data in order (any chunk sizes), and it is finished when
  // the shape is full. int8 storage needs the scale up front (max|x| / 127; uint8 when `unsigned_`).
  int begin(const std::string& name, TensorKind kind, const Shape& shape, DType dtype, double scale = 0,
            bool unsigned_ = false);
  void append(int stream, const float* data, int64_t n);
  void commit();  // every begun tensor must be complete

 private:
  struct Stream;
  std::string dir_, staging_;
  bool replace_ = false, committed_ = false;
  Manifest m_;
  std::vector<std::unique_ptr<Stream>> streams_;
  TensorEntry make_entry(const std::string& name, TensorKind kind, const Shape& shape);
};

// Symmetric per-tensor quantisation used for int8/uint8 storage (round half to even).
double quant_scale(float max_abs, bool unsigned_);
int quantise(float x, double scale, bool unsigned_);

// 64-bit FNV-1a of a string, as 16 hex digits.
std::string content_hash(const std::string& bytes);
// Hash of a trace's manifest and every tensor's bytes: equal hashes mean the same trace (reads
// every file; TraceReader::hash keeps it).
std::string trace_hash(const TraceReader& r);

// File name used for a tensor: the name with characters outside [A-Za-z0-9._-] replaced.
std::string tensor_file_name(const std::string& name);

}  // namespace eatsim
