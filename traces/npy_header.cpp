// The .npy header: the dtype table, reading and validating a header, and writing one. Never trusts
// a header: sizes are checked against the file before anything is allocated.
#include <fmt/format.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "base/errors.hpp"
#include "traces/npy.hpp"

namespace eatsim {

namespace {
struct DTypeInfo {
  DType t;
  const char* name;
  const char* descr;
  size_t size;
};
const DTypeInfo kTypes[] = {{DType::f32, "float32", "<f4", 4},
                            {DType::f16, "float16", "<f2", 2},
                            {DType::i8, "int8", "|i1", 1},
                            {DType::u8, "uint8", "|u1", 1},
                            {DType::i32, "int32", "<i4", 4},
                            {DType::i64, "int64", "<i8", 8},
                            {DType::bf16, "bfloat16", "[('bfloat16', '<u2')]", 2}};
const DTypeInfo& info_of(DType t) { return kTypes[static_cast<int>(t)]; }
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
    } else if (i < h.size() && (h[i] == '(' || h[i] == '[')) {  // a tuple, or a structured descr
      size_t e = h.find(h[i] == '(' ? ')' : ']', i);
      if (e == std::string::npos) throw bad(h[i] == '(' ? "unterminated tuple" : "unterminated list");
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

// The header's text, after the magic, the version and the header length have been checked
// against the file; `start` receives the header's offset and `fsize` the file's size.
std::string read_header(const std::string& path, uint64_t& start, uint64_t& fsize) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw TraceError(path + ": is a directory, not a .npy file");
  fsize = std::filesystem::file_size(path, ec);
  if (ec) throw TraceError(fmt::format("{}: cannot open ({})", path, ec.message()));
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw TraceError(fmt::format("{}: cannot open for reading", path));
  std::unique_ptr<FILE, int (*)(FILE*)> guard(f, std::fclose);
  unsigned char pre[12];
  size_t got = std::fread(pre, 1, sizeof pre, f);
  if (got < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    throw TraceError(fmt::format("{}: not a .npy file (wrong magic; expected \\x93NUMPY)", path));
  int major = pre[6];
  uint64_t hlen;
  if (major == 1) {
    hlen = pre[8] | (pre[9] << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (got < 12) throw TraceError(fmt::format("{}: truncated .npy header", path));
    hlen = pre[8] | (pre[9] << 8) | (uint64_t(pre[10]) << 16) | (uint64_t(pre[11]) << 24);
    start = 12;
  } else {
    throw TraceError(
        fmt::format("{}: unsupported .npy format version {} (1, 2 and 3 are read)", path, major));
  }
  if (hlen > kMaxNpyHeader)
    throw TraceError(
        fmt::format("{}: .npy header of {} bytes is longer than the {} allowed", path, hlen, kMaxNpyHeader));
  if (start + hlen > fsize) throw TraceError(fmt::format("{}: truncated .npy header", path));
  std::string header(hlen, '\0');
  if (std::fseek(f, static_cast<long>(start), SEEK_SET) != 0 || std::fread(header.data(), 1, hlen, f) != hlen)
    throw TraceError(fmt::format("{}: truncated .npy header", path));
  return header;
}

// 'descr': a little-endian (or byte-sized) dtype string.
DType read_descr(const std::string& path, std::string descr) {
  if (descr == info_of(DType::bf16).descr) return DType::bf16;
  if (descr.size() < 2 || descr.front() != '\'' || descr.back() != '\'')
    throw TraceError(fmt::format("{}: .npy header 'descr' is {}, not a dtype string", path, descr));
  descr = descr.substr(1, descr.size() - 2);
  bool found = false;
  DType dtype = DType::f32;
  for (const auto& t : kTypes) {
    if (t.t == DType::bf16) continue;
    bool one_byte = t.size == 1;
    if (descr == t.descr || (one_byte && descr.substr(1) == std::string(t.descr).substr(1) &&
                             (descr[0] == '<' || descr[0] == '|' || descr[0] == '='))) {
      dtype = t.t, found = true;
    }
  }
  if (!found)
    throw TraceError(
        fmt::format("{}: unsupported dtype '{}' (supported: <f4, <f2, |i1, |u1, <i4, <i8, and "
                    "[('bfloat16', '<u2')]; little-endian only)",
                    path, descr));
  return dtype;
}

void check_c_order(const std::string& path, const std::string& order) {
  if (order != "True" && order != "False")
    throw TraceError(fmt::format("{}: .npy header 'fortran_order' is {}, not True or False", path, order));
  if (order == "True")
    throw TraceError(
        fmt::format("{}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)", path));
}

// 'shape': a tuple of dimensions whose product fits, with the tuple's text for messages.
struct ShapeTuple {
  Shape shape;
  uint64_t count = 1;
  std::string dims;
};

ShapeTuple read_shape(const std::string& path, const std::string& shape) {
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
    throw TraceError(fmt::format("{}: .npy header 'shape' is {}, not a tuple", path, shape));
  ShapeTuple out;
  out.dims = shape.substr(1, shape.size() - 2);
  const std::string& dims = out.dims;
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
    if (v != 0 && out.count > limit / v)
      throw TraceError(fmt::format("{}: the .npy shape ({}) overflows", path, dims));
    out.count *= v;
    out.shape.push_back(static_cast<int64_t>(v));
  }
  return out;
}

}  // namespace

NpyInfo npy_read_info(const std::string& path) {
  uint64_t hstart = 0, fsize = 0;
  std::string header = read_header(path, hstart, fsize);
  NpyInfo info;
  std::map<std::string, std::string> dict = header_dict(path, header);
  info.dtype = read_descr(path, dict.at("descr"));
  check_c_order(path, dict.at("fortran_order"));
  ShapeTuple st = read_shape(path, dict.at("shape"));
  const std::string& dims = st.dims;
  info.shape = std::move(st.shape);
  if (info.shape.size() > 32)
    throw TraceError(fmt::format("{}: the .npy shape has too many dimensions", path));
  info.data_offset = hstart + header.size();
  info.nbytes = st.count * dtype_size(info.dtype);
  if (info.nbytes / dtype_size(info.dtype) != st.count)
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

std::string npy_header(DType dtype, const Shape& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i)
    dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  for (size_t i = 0; i + 1 < dims.size(); ++i)
    if (dims[i] == ',') dims.insert(i + 1, " "), ++i;
  // A structured descr (bf16's) is a list, written bare; a dtype string is quoted.
  const std::string descr =
      dtype == DType::bf16 ? std::string(info_of(dtype).descr) : fmt::format("'{}'", info_of(dtype).descr);
  std::string h = fmt::format("{{'descr': {}, 'fortran_order': False, 'shape': ({}), }}", descr, dims);
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

}  // namespace eatsim
