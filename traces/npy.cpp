// .npy data: half-precision conversion, the streaming reader and writer; see npy.hpp. Headers are
// read and written in npy_header.cpp.
#include "traces/npy.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/errors.hpp"
#include "base/files.hpp"

namespace eatsim {

namespace {
constexpr size_t kChunk = 1 << 16;  // elements per streamed chunk
}  // namespace

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

uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even; may carry into the exponent: correct
  return static_cast<uint16_t>(u >> 16);
}

float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
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
  const bool can_be_nonfinite = info_.dtype == DType::f16 || info_.dtype == DType::bf16;
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
        case DType::bf16: {
          uint16_t h;
          std::memcpy(&h, b + 2 * i, 2);
          dst[i] = bf16_to_float(h);
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
    if (r.info().dtype == DType::f32 || r.info().dtype == DType::f16 || r.info().dtype == DType::bf16)
      throw TraceError(
          fmt::format("{}: expected an integer array, got {}", path, dtype_name(r.info().dtype)));
    std::vector<float> f(v.size());
    r.read_f32(f.data(), r.info().numel());
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(f[i]);
  }
  if (shape) *shape = r.info().shape;
  return v;
}

NpyWriter::NpyWriter(const std::string& path, DType dtype, const Shape& shape)
    : path_(path), tmp_(temp_name_for(path)), dtype_(dtype), expected_(numel(shape)) {
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_)
    throw TraceError(
        fmt::format("{}: cannot create (check that the directory exists and is writable)", path));
  std::string h = npy_header(dtype, shape);
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
  if (dtype_ != DType::f16 && dtype_ != DType::bf16)
    throw TraceError(fmt::format("{}: write_f32 needs a float file", path_));
  buf_.resize(kChunk * 2);
  const bool bf16 = dtype_ == DType::bf16;
  while (n > 0) {
    int64_t k = std::min<int64_t>(n, kChunk);
    auto* h = reinterpret_cast<uint16_t*>(buf_.data());
    for (int64_t i = 0; i < k; ++i) h[i] = bf16 ? float_to_bf16(data[i]) : float_to_half(data[i]);
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
