// .npy reader and writer; see npy.hpp. Never trusts a header: sizes are checked against the file
// before anything is allocated.
#include "traces/npy.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "base/errors.hpp"
#include "base/files.hpp"

namespace eatsim {

namespace {
struct DTypeInfo {
  DType t;
  const char* name;
  const char* descr;
  size_t size;
};
const DTypeInfo kTypes[] = {{DType::f32, "float32", "<f4", 4}, {DType::f16, "float16", "<f2", 2},
                            {DType::i8, "int8", "|i1", 1},     {DType::u8, "uint8", "|u1", 1},
                            {DType::i32, "int32", "<i4", 4},   {DType::i64, "int64", "<i8", 8}};
const DTypeInfo& info_of(DType t) { return kTypes[static_cast<int>(t)]; }
constexpr size_t kChunk = 1 << 16;  // elements per streamed chunk
}  // namespace

size_t dtype_size(DType t) { return info_of(t).size; }
const char* dtype_name(DType t) { return info_of(t).name; }
bool dtype_from_name(const std::string& s, DType& out) {
  for (const auto& i : kTypes)
    if (s == i.name) {
      out = i.t;
      return true;
    }
  return false;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t man = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (man ? 0x200u : 0));  // inf / nan
  int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow
  if (e <= 0) {                                               // subnormal half or zero
    if (e < -10) return static_cast<uint16_t>(sign);
    man |= 0x800000u;
    int shift = 14 - e;
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;  // may carry into the exponent: correct
  return static_cast<uint16_t>(sign | half);
}

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, x;
  if (exp == 0) {
    if (man == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do ++e, man <<= 1;
      while (!(man & 0x400u));
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (man << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

namespace {
// The header's Python dict literal, read as numpy writes it: exactly the keys 'descr',
// 'fortran_order' and 'shape', each once (numpy rejects other keys and keeps the last of a
// duplicate, so both are errors here); values as written ('<f4', True, (2, 3)).
std::map<std::string, std::string> header_dict(const std::string& path, const std::string& h) {
  size_t i = 0;
  auto ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n')) ++i;
  };
  auto bad = [&](const std::string& why) {
    return TraceError(
        fmt::format("{}: .npy header at byte {}: {} (numpy writes {{'descr': ..., "
                    "'fortran_order': ..., 'shape': (...), }})",
                    path, i, why));
  };
  ws();
  if (i >= h.size() || h[i++] != '{') throw bad("expected '{'");
  std::map<std::string, std::string> d;
  for (;;) {
    ws();
    if (i < h.size() && h[i] == '}') break;
    if (i >= h.size() || h[i] != '\'') throw bad("expected a quoted key");
    size_t q = h.find('\'', i + 1);
    if (q == std::string::npos) throw bad("unterminated key");
    std::string key = h.substr(i + 1, q - i - 1);
    i = q + 1;
    ws();
    if (i >= h.size() || h[i++] != ':') throw bad("expected ':' after '" + key + "'");
    ws();
    size_t v0 = i;
    if (i < h.size() && h[i] == '\'') {
      size_t e = h.find('\'', i + 1);
      if (e == std::string::npos) throw bad("unterminated string");
      i = e + 1;
    } else if (i < h.size() && h[i] == '(') {
      size_t e = h.find(')', i);
      if (e == std::string::npos) throw bad("unterminated tuple");
      i = e + 1;
    } else {
      while (i < h.size() && std::isalnum(static_cast<unsigned char>(h[i]))) ++i;
    }
    if (i == v0) throw bad("expected a value for '" + key + "'");
    if (key != "descr" && key != "fortran_order" && key != "shape") throw bad("unknown key '" + key + "'");
    if (!d.emplace(key, h.substr(v0, i - v0)).second) throw bad("duplicate key '" + key + "'");
    ws();
    if (i < h.size() && h[i] == ',') {
      ++i;
      continue;
    }
    ws();
    if (i < h.size() && h[i] == '}') break;
    throw bad("expected ',' or '}'");
  }
  ++i;
  ws();
  if (i != h.size()) throw bad("text after the dict");
  for (const char* k : {"descr", "fortran_order", "shape"})
    if (!d.count(k)) throw TraceError(fmt::format("{}: .npy header has no '{}'", path, k));
  return d;
}
}  // namespace

NpyInfo npy_read_info(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw TraceError(path + ": is a directory, not a .npy file");
  uint64_t fsize = std::filesystem::file_size(path, ec);
  if (ec) throw TraceError(fmt::format("{}: cannot open ({})", path, ec.message()));
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw TraceError(fmt::format("{}: cannot open for reading", path));
  std::unique_ptr<FILE, int (*)(FILE*)> guard(f, std::fclose);
  unsigned char pre[12];
  size_t got = std::fread(pre, 1, sizeof pre, f);
  if (got < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    throw TraceError(fmt::format("{}: not a .npy file (wrong magic; expected \\x93NUMPY)", path));
  int major = pre[6];
  uint64_t hlen, hstart;
  if (major == 1) {
    hlen = pre[8] | (pre[9] << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (got < 12) throw TraceError(fmt::format("{}: truncated .npy header", path));
    hlen = pre[8] | (pre[9] << 8) | (uint64_t(pre[10]) << 16) | (uint64_t(pre[11]) << 24);
    hstart = 12;
  } else {
    throw TraceError(
        fmt::format("{}: unsupported .npy format version {} (1, 2 and 3 are read)", path, major));
  }
  if (hlen > kMaxNpyHeader)
    throw TraceError(
        fmt::format("{}: .npy header of {} bytes is longer than the {} allowed", path, hlen, kMaxNpyHeader));
  if (hstart + hlen > fsize) throw TraceError(fmt::format("{}: truncated .npy header", path));
  std::string header(hlen, '\0');
  if (std::fseek(f, static_cast<long>(hstart), SEEK_SET) != 0 ||
      std::fread(header.data(), 1, hlen, f) != hlen)
    throw TraceError(fmt::format("{}: truncated .npy header", path));

  NpyInfo info;
  std::map<std::string, std::string> dict = header_dict(path, header);
  std::string descr = dict.at("descr");
  if (descr.size() < 2 || descr.front() != '\'' || descr.back() != '\'')
    throw TraceError(fmt::format("{}: .npy header 'descr' is {}, not a dtype string", path, descr));
  descr = descr.substr(1, descr.size() - 2);
  bool found = false;
  for (const auto& t : kTypes) {
    bool one_byte = t.size == 1;
    if (descr == t.descr || (one_byte && descr.substr(1) == std::string(t.descr).substr(1) &&
                             (descr[0] == '<' || descr[0] == '|' || descr[0] == '='))) {
      info.dtype = t.t, found = true;
    }
  }
  if (!found)
    throw TraceError(
        fmt::format("{}: unsupported dtype '{}' (supported: <f4, <f2, |i1, |u1, <i4, <i8; "
                    "little-endian only)",
                    path, descr));
  const std::string& order = dict.at("fortran_order");
  if (order != "True" && order != "False")
    throw TraceError(fmt::format("{}: .npy header 'fortran_order' is {}, not True or False", path, order));
  if (order == "True")
    throw TraceError(
        fmt::format("{}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)", path));
  const std::string& shape = dict.at("shape");
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
    throw TraceError(fmt::format("{}: .npy header 'shape' is {}, not a tuple", path, shape));
  std::string dims = shape.substr(1, shape.size() - 2);
  uint64_t count = 1;
  const uint64_t limit = std::numeric_limits<int64_t>::max() / 8;
  size_t start = 0;
  while (start <= dims.size()) {
    size_t comma = dims.find(',', start);
    std::string d = dims.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? dims.size() + 1 : comma + 1;
    d.erase(0, d.find_first_not_of(" \t"));
    d.erase(d.find_last_not_of(" \t") + 1);
    if (d.empty()) {
      if (comma == std::string::npos) break;  // trailing comma of a 1-tuple, or "()"
      throw TraceError(fmt::format("{}: bad .npy shape ({})", path, dims));
    }
    if (d.size() > 18 || d.find_first_not_of("0123456789") != std::string::npos)
      throw TraceError(fmt::format("{}: bad dimension '{}' in the .npy shape", path, d));
    uint64_t v = std::stoull(d);
    if (v != 0 && count > limit / v)
      throw TraceError(fmt::format("{}: the .npy shape ({}) overflows", path, dims));
    count *= v;
    info.shape.push_back(static_cast<int64_t>(v));
  }
  if (info.shape.size() > 32)
    throw TraceError(fmt::format("{}: the .npy shape has too many dimensions", path));
  info.data_offset = hstart + hlen;
  info.nbytes = count * dtype_size(info.dtype);
  if (info.nbytes / dtype_size(info.dtype) != count)
    throw TraceError(fmt::format("{}: the .npy shape ({}) overflows", path, dims));
  uint64_t have = fsize - info.data_offset;
  if (have < info.nbytes)
    throw TraceError(fmt::format("{}: truncated: the shape ({}) needs {} data bytes, the file has {}", path,
                                 dims, info.nbytes, have));
  if (have > info.nbytes)
    throw TraceError(
        fmt::format("{}: {} bytes of data beyond the shape ({})", path, have - info.nbytes, dims));
  return info;
}

NpyReader::NpyReader(const std::string& path) : path_(path), info_(npy_read_info(path)) {
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_ || std::fseek(f_, static_cast<long>(info_.data_offset), SEEK_SET) != 0)
    throw TraceError(fmt::format("{}: cannot open for reading", path));
}

NpyReader::~NpyReader() {
  if (f_) std::fclose(f_);
}

void NpyReader::seek(int64_t element) {
  if (element < 0 || element > info_.numel())
    throw TraceError(fmt::format("{}: seek past the end of the array", path_));
  uint64_t off = info_.data_offset + static_cast<uint64_t>(element) * dtype_size(info_.dtype);
  if (fseeko(f_, static_cast<off_t>(off), SEEK_SET) != 0)
    throw TraceError(fmt::format("{}: seek failed", path_));
  pos_ = element;
}

void NpyReader::read_raw(void* dst, int64_t n) {
  if (n > remaining()) throw TraceError(fmt::format("{}: read past the end of the array", path_));
  size_t bytes = static_cast<size_t>(n) * dtype_size(info_.dtype);
  if (std::fread(dst, 1, bytes, f_) != bytes)
    throw TraceError(fmt::format("{}: truncated while reading (the file changed?)", path_));
  pos_ += n;
}

namespace {
// Every float read from a .npy (trace tensors, checkpoints, user inputs) must be finite: a NaN or an
// infinity would otherwise pass as a zero, a non-zero or a quantisation scale of nothing.
void check_finite(const std::string& path, const float* v, int64_t n, int64_t first) {
  bool bad = false;
  for (int64_t i = 0; i < n; ++i) bad |= !std::isfinite(v[i]);
  if (!bad) return;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      throw TraceError(
          fmt::format("{}: element {} is {}; eatsim reads only finite values (fix the producer, or "
                      "replace it, e.g. numpy.nan_to_num)",
                      path, first + i, v[i]));
}
}  // namespace

void NpyReader::read_f32(float* dst, int64_t n) {
  if (info_.dtype == DType::f32) {
    read_raw(dst, n);
    return check_finite(path_, dst, n, pos_ - n);
  }
  const bool can_be_nonfinite = info_.dtype == DType::f16;
  size_t es = dtype_size(info_.dtype);
  buf_.resize(kChunk * es);
  while (n > 0) {
    int64_t k = std::min<int64_t>(n, kChunk);
    read_raw(buf_.data(), k);
    const char* b = buf_.data();
    for (int64_t i = 0; i < k; ++i) {
      switch (info_.dtype) {
        case DType::f16: {
          uint16_t h;
          std::memcpy(&h, b + 2 * i, 2);
          dst[i] = half_to_float(h);
          break;
        }
        case DType::i8:
          dst[i] = static_cast<int8_t>(b[i]);
          break;
        case DType::u8:
          dst[i] = static_cast<uint8_t>(b[i]);
          break;
        case DType::i32: {
          int32_t v;
          std::memcpy(&v, b + 4 * i, 4);
          dst[i] = static_cast<float>(v);
          break;
        }
        case DType::i64: {
          int64_t v;
          std::memcpy(&v, b + 8 * i, 8);
          dst[i] = static_cast<float>(v);
          break;
        }
        case DType::f32:
          break;
      }
    }
    if (can_be_nonfinite) check_finite(path_, dst, k, pos_ - k);
    dst += k, n -= k;
  }
}

std::vector<float> npy_load_f32(const std::string& path, Shape* shape) {
  NpyReader r(path);
  std::vector<float> v(static_cast<size_t>(r.info().numel()));
  r.read_f32(v.data(), r.info().numel());
  if (shape) *shape = r.info().shape;
  return v;
}

std::vector<int64_t> npy_load_i64(const std::string& path, Shape* shape) {
  NpyReader r(path);
  std::vector<int64_t> v(static_cast<size_t>(r.info().numel()));
  if (r.info().dtype == DType::i64) {
    r.read_raw(v.data(), r.info().numel());
  } else {
    if (r.info().dtype == DType::f32 || r.info().dtype == DType::f16)
      throw TraceError(
          fmt::format("{}: expected an integer array, got {}", path, dtype_name(r.info().dtype)));
    std::vector<float> f(v.size());
    r.read_f32(f.data(), r.info().numel());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(f[i]);
  }
  if (shape) *shape = r.info().shape;
  return v;
}

static std::string make_header(DType dtype, const Shape& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i)
    dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  for (size_t i = 0; i + 1 < dims.size(); ++i)
    if (dims[i] == ',') dims.insert(i + 1, " "), ++i;
  std::string h =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", info_of(dtype).descr, dims);
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::string pre = "\x93NUMPY";
  pre += '\x01';
  pre += '\x00';
  pre += static_cast<char>(h.size() & 0xff);
  pre += static_cast<char>((h.size() >> 8) & 0xff);
  return pre + h;
}

NpyWriter::NpyWriter(const std::string& path, DType dtype, const Shape& shape)
    : path_(path), tmp_(temp_name_for(path)), dtype_(dtype), expected_(numel(shape)) {
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_)
    throw TraceError(
        fmt::format("{}: cannot create (check that the directory exists and is writable)", path));
  std::string h = make_header(dtype, shape);
  if (std::fwrite(h.data(), 1, h.size(), f_) != h.size())
    throw TraceError(fmt::format("{}: write failed", path));
}

NpyWriter::~NpyWriter() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

void NpyWriter::write_raw(const void* data, int64_t n) {
  if (written_ + n > expected_) throw TraceError(fmt::format("{}: more data than the shape holds", path_));
  size_t bytes = static_cast<size_t>(n) * dtype_size(dtype_);
  if (std::fwrite(data, 1, bytes, f_) != bytes)
    throw TraceError(fmt::format("{}: write failed (disk full?)", path_));
  written_ += n;
}

void NpyWriter::write_f32(const float* data, int64_t n) {
  if (dtype_ == DType::f32) return write_raw(data, n);
  if (dtype_ != DType::f16) throw TraceError(fmt::format("{}: write_f32 needs a float file", path_));
  buf_.resize(kChunk * 2);
  while (n > 0) {
    int64_t k = std::min<int64_t>(n, kChunk);
    auto* h = reinterpret_cast<uint16_t*>(buf_.data());
    for (int64_t i = 0; i < k; ++i) h[i] = float_to_half(data[i]);
    write_raw(h, k);
    data += k, n -= k;
  }
}

void NpyWriter::commit() {
  if (written_ != expected_)
    throw TraceError(fmt::format("{}: {} of {} elements written", path_, written_, expected_));
  bool ok = std::fflush(f_) == 0 && ::fsync(fileno(f_)) == 0;
  ok = std::fclose(f_) == 0 && ok;
  f_ = nullptr;
  if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::remove(tmp_.c_str());
    throw TraceError(fmt::format("{}: write failed (disk full?)", path_));
  }
}

void npy_save(const std::string& path, DType dtype, const Shape& shape, const void* data) {
  NpyWriter w(path, dtype, shape);
  w.write_raw(data, numel(shape));
  w.commit();
}

void npy_save_f32(const std::string& path, const Shape& shape, const float* data) {
  npy_save(path, DType::f32, shape, data);
}

}  // namespace eatsim
