// Our own .npy reader and writer (format versions 1-3; little-endian, C order; f32, f16, i8, u8,
// i32, i64, and bf16 as the one-field structured dtype [('bfloat16', '<u2')]: numpy has no bfloat16,
// so the bits are uint16 in a field whose name says what they are; traces/FORMAT.md shows how to load).
// Headers are validated before any allocation; data is streamed in chunks.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "models/graph.hpp"

namespace eatsim {

enum class DType { f32, f16, i8, u8, i32, i64, bf16 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "float32", "float16", "int8", "uint8", "int32", "int64", "bfloat16"
bool dtype_from_name(const std::string& s, DType& out);

uint16_t float_to_half(float f);  // round to nearest even; overflow to inf
float half_to_float(uint16_t h);
uint16_t float_to_bf16(float f);  // round to nearest even; NaN stays NaN
float bf16_to_float(uint16_t b);  // exact

struct NpyInfo {
  DType dtype = DType::f32;
  Shape shape;
  uint64_t data_offset = 0;  // bytes before the data
  uint64_t nbytes = 0;       // data bytes = numel * dtype_size
  int64_t numel() const { return eatsim::numel(shape); }
};

constexpr uint64_t kMaxNpyHeader = 65536;  // longer headers are rejected (numpy writes < 1 KiB)

// Reads and validates the header: magic, version, header length, descr, fortran_order, shape,
// overflow, and that the file holds exactly nbytes of data. Throws TraceError naming the file.
NpyInfo npy_read_info(const std::string& path);
// A version-1 header for a C-ordered array, padded as numpy pads it.
std::string npy_header(DType dtype, const Shape& shape);

// Streams a .npy file's data in chunks, converting to the requested type.
class NpyReader {
 public:
  explicit NpyReader(const std::string& path);
  ~NpyReader();
  NpyReader(const NpyReader&) = delete;
  NpyReader& operator=(const NpyReader&) = delete;
  const NpyInfo& info() const { return info_; }
  // Reads the next n elements as float (any dtype converts); throws on a short read.
  void read_f32(float* dst, int64_t n);
  // Reads the next n elements raw (no conversion) into dst (n * dtype_size bytes).
  void read_raw(void* dst, int64_t n);
  int64_t remaining() const { return info_.numel() - pos_; }
  void seek(int64_t element);  // next read starts at this element

 private:
  std::string path_;
  NpyInfo info_;
  FILE* f_ = nullptr;
  int64_t pos_ = 0;
  std::vector<char> buf_;
};

// Whole-file helpers.
std::vector<float> npy_load_f32(const std::string& path, Shape* shape = nullptr);
std::vector<int64_t> npy_load_i64(const std::string& path, Shape* shape = nullptr);

// Writes a .npy file atomically (temporary file, fsync, rename).
void npy_save(const std::string& path, DType dtype, const Shape& shape, const void* data);
void npy_save_f32(const std::string& path, const Shape& shape, const float* data);

// Streams a .npy file out; nothing appears at `path` until commit().
class NpyWriter {
 public:
  NpyWriter(const std::string& path, DType dtype, const Shape& shape);
  ~NpyWriter();  // removes the temporary file unless committed
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  void write_raw(const void* data, int64_t n);   // n elements of the file's dtype
  void write_f32(const float* data, int64_t n);  // converted to the file's dtype (f32/f16 only)
  void commit();

 private:
  std::string path_, tmp_;
  DType dtype_;
  int64_t expected_ = 0, written_ = 0;
  FILE* f_ = nullptr;
  std::vector<char> buf_;
};

}  // namespace eatsim
