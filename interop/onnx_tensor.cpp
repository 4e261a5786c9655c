// TensorProto data; see onnx_tensor.hpp.
#include "interop/onnx_tensor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "base/errors.hpp"
#include "traces/npy.hpp"

namespace eatsim::onnxio {
namespace fs = std::filesystem;
using TP = onnx::TensorProto;

namespace {

int64_t elem_size(int32_t dt) {
  switch (dt) {
    case TP::FLOAT:
    case TP::INT32:
      return 4;
    case TP::DOUBLE:
    case TP::INT64:
      return 8;
    case TP::FLOAT16:
    case TP::BFLOAT16:
      return 2;
    case TP::BOOL:
    case TP::INT8:
    case TP::UINT8:
      return 1;
    default:
      return 0;
  }
}

// The tensor's bytes in little-endian order: raw_data or an external file (with `out` null: only
// checked to be there).
bool raw_bytes(const TP& t, const std::string& model_dir, const std::string& where, int64_t want,
               std::string* out) {
  if (t.data_location() == TP::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : t.external_data()) {
      try {
        if (kv.key() == "location") location = kv.value();
        if (kv.key() == "offset") offset = std::stoll(kv.value());
        if (kv.key() == "length") length = std::stoll(kv.value());
      } catch (const std::exception&) {
        throw ModelError(fmt::format("{}: external data '{}' is not a number", where, kv.key()));
      }
    }
    fs::path rel(location);
    if (location.empty()) throw ModelError(where + ": external data without a location");
    bool escapes = rel.is_absolute();
    for (const auto& part : rel)
      if (part == "..") escapes = true;
    if (escapes)
      throw ModelError(fmt::format(
          "{}: external data location '{}' leaves the model's directory (it must be a relative path "
          "below it)",
          where, location));
    fs::path file = fs::path(model_dir) / rel;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
      throw ModelError(fmt::format("{}: external data file {} is missing (keep it next to the model file)",
                                   where, file.string()));
    const int64_t size = static_cast<int64_t>(fs::file_size(file, ec));
    if (length < 0) length = want;
    if (offset < 0 || length != want || offset > size || size - offset < length)
      throw ModelError(fmt::format("{}: external data {} holds {} bytes from offset {}; the tensor needs {}",
                                   where, file.string(), size - std::min(offset, size), offset, want));
    if (!out) return true;
    std::ifstream in(file, std::ios::binary);
    out->resize(static_cast<size_t>(want));
    in.seekg(offset);
    if (!in.read(out->data(), want))
      throw ModelError(fmt::format("{}: cannot read external data {}", where, file.string()));
    return true;
  }
  if (!t.has_raw_data()) return false;
  if (static_cast<int64_t>(t.raw_data().size()) != want)
    throw ModelError(
        fmt::format("{}: tensor data holds {} bytes; its shape and type need {} (a truncated or "
                    "altered file)",
                    where, t.raw_data().size(), want));
  if (out) *out = t.raw_data();
  return true;
}

template <class T>
T load(const std::string& b, size_t i) {
  T v;
  std::memcpy(&v, b.data() + i * sizeof(T), sizeof(T));
  return v;
}

template <class Out>
std::vector<Out> values(const TP& t, const std::string& model_dir, const std::string& where) {
  const int64_t n = numel(dims(t, where));
  const int32_t dt = t.data_type();
  const int64_t es = elem_size(dt);
  if (es == 0)
    throw ModelError(
        fmt::format("{}: tensor type {} is not supported (float, double, float16, bfloat16, "
                    "int8, uint8, int32, int64, bool)",
                    where, type_name(dt)));
  std::string b;
  std::vector<Out> out;
  if (raw_bytes(t, model_dir, where, n * es, &b)) {
    out.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      size_t k = static_cast<size_t>(i);
      switch (dt) {
        case TP::FLOAT:
          out[k] = static_cast<Out>(load<float>(b, k));
          break;
        case TP::DOUBLE:
          out[k] = static_cast<Out>(load<double>(b, k));
          break;
        case TP::INT32:
          out[k] = static_cast<Out>(load<int32_t>(b, k));
          break;
        case TP::INT64:
          out[k] = static_cast<Out>(load<int64_t>(b, k));
          break;
        case TP::FLOAT16:
          out[k] = static_cast<Out>(half_to_float(load<uint16_t>(b, k)));
          break;
        case TP::INT8:
          out[k] = static_cast<Out>(load<int8_t>(b, k));
          break;
        case TP::BOOL:
        case TP::UINT8:
          out[k] = static_cast<Out>(load<uint8_t>(b, k));
          break;
        default: {  // bfloat16: the high half of a float
          uint32_t u = static_cast<uint32_t>(load<uint16_t>(b, k)) << 16;
          float f;
          std::memcpy(&f, &u, 4);
          out[k] = static_cast<Out>(f);
        }
      }
    }
    return out;
  }
  auto check = [&](int64_t have) {
    if (have != n)
      throw ModelError(
          fmt::format("{}: tensor holds {} values; its shape {} needs {} (a truncated or altered "
                      "file)",
                      where, have, shape_str(dims(t, where)), n));
  };
  switch (dt) {
    case TP::FLOAT:
      check(t.float_data_size());
      return std::vector<Out>(t.float_data().begin(), t.float_data().end());
    case TP::DOUBLE:
      check(t.double_data_size());
      return std::vector<Out>(t.double_data().begin(), t.double_data().end());
    case TP::INT64:
      check(t.int64_data_size());
      return std::vector<Out>(t.int64_data().begin(), t.int64_data().end());
    case TP::INT32:
    case TP::INT8:
    case TP::UINT8:
    case TP::BOOL:
      check(t.int32_data_size());
      return std::vector<Out>(t.int32_data().begin(), t.int32_data().end());
    default:  // float16 / bfloat16 in int32_data, one value each
      check(t.int32_data_size());
      out.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = static_cast<uint16_t>(t.int32_data(static_cast<int>(i)));
        float f;
        if (dt == TP::FLOAT16) {
          f = half_to_float(h);
        } else {
          uint32_t u = static_cast<uint32_t>(h) << 16;
          std::memcpy(&f, &u, 4);
        }
        out[static_cast<size_t>(i)] = static_cast<Out>(f);
      }
      return out;
  }
}

}  // namespace

const char* type_name(int32_t dt) {
  switch (dt) {
    case TP::FLOAT:
      return "float";
    case TP::DOUBLE:
      return "double";
    case TP::FLOAT16:
      return "float16";
    case TP::BFLOAT16:
      return "bfloat16";
    case TP::INT32:
      return "int32";
    case TP::INT64:
      return "int64";
    case TP::INT8:
      return "int8";
    case TP::UINT8:
      return "uint8";
    case TP::BOOL:
      return "bool";
    case TP::STRING:
      return "string";
    default:
      return "other";
  }
}

Shape dims(const TP& t, const std::string& where) {
  Shape s;
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) throw ModelError(fmt::format("{}: tensor dimension {} is negative", where, d));
    if (d > 0 && n > std::numeric_limits<int64_t>::max() / 16 / d)
      throw ModelError(fmt::format("{}: tensor dimensions {} overflow", where, fmt::join(t.dims(), "x")));
    n *= d;
    s.push_back(d);
  }
  return s;
}

void check_size(const TP& t, const std::string& model_dir, const std::string& where) {
  const int64_t n = numel(dims(t, where));
  const int64_t es = elem_size(t.data_type());
  if (es == 0)
    throw ModelError(fmt::format("{}: tensor type {} is not supported", where, type_name(t.data_type())));
  if (raw_bytes(t, model_dir, where, n * es, nullptr)) return;
  int64_t have = 0;
  switch (t.data_type()) {
    case TP::FLOAT:
      have = t.float_data_size();
      break;
    case TP::DOUBLE:
      have = t.double_data_size();
      break;
    case TP::INT64:
      have = t.int64_data_size();
      break;
    default:
      have = t.int32_data_size();
  }
  if (have != n)
    throw ModelError(
        fmt::format("{}: tensor holds {} values; its shape {} needs {} (a truncated or altered file)", where,
                    have, shape_str(dims(t, where)), n));
}

std::vector<float> as_f32(const TP& t, const std::string& model_dir, const std::string& where) {
  return values<float>(t, model_dir, where);
}

std::vector<int64_t> as_i64(const TP& t, const std::string& model_dir, const std::string& where) {
  if (t.data_type() != TP::INT64 && t.data_type() != TP::INT32 && t.data_type() != TP::BOOL)
    throw ModelError(
        fmt::format("{}: an integer tensor was expected, found {}", where, type_name(t.data_type())));
  return values<int64_t>(t, model_dir, where);
}

}  // namespace eatsim::onnxio
