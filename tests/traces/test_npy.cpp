// .npy reader/writer: round trips for every dtype, numpy interoperability, and every malformed file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "base/errors.hpp"
#include "tests/helpers.hpp"
#include "traces/npy.hpp"

namespace eatsim {
namespace {

TEST(Npy, RoundTripsEveryDtype) {
  test::TempDir d("npy");
  std::vector<float> f = {0.f, -1.5f, 3.25f, 0.5f, -0.f, 65504.f};
  npy_save_f32(d / "f.npy", {2, 3}, f.data());
  Shape s;
  EXPECT_EQ(npy_load_f32(d / "f.npy", &s), f);
  EXPECT_EQ(s, Shape({2, 3}));
  std::vector<int64_t> i64 = {1, -2, 1LL << 40};
  npy_save(d / "i.npy", DType::i64, {3}, i64.data());
  EXPECT_EQ(npy_load_i64(d / "i.npy"), i64);
  int64_t scalar = 100;
  npy_save(d / "s.npy", DType::i64, {}, &scalar);
  EXPECT_EQ(npy_load_i64(d / "s.npy", &s), std::vector<int64_t>({100}));
  EXPECT_TRUE(s.empty());
  std::vector<int8_t> i8 = {-128, 0, 127};
  npy_save(d / "b.npy", DType::i8, {3}, i8.data());
  EXPECT_EQ(npy_load_f32(d / "b.npy"), std::vector<float>({-128.f, 0.f, 127.f}));
  std::vector<uint8_t> u8 = {0, 200, 255};
  npy_save(d / "u.npy", DType::u8, {3}, u8.data());
  EXPECT_EQ(npy_load_f32(d / "u.npy"), std::vector<float>({0.f, 200.f, 255.f}));
  std::vector<int32_t> i32 = {-7, 7};
  npy_save(d / "w.npy", DType::i32, {1, 2}, i32.data());
  EXPECT_EQ(npy_load_f32(d / "w.npy"), std::vector<float>({-7.f, 7.f}));
  NpyWriter w(d / "h.npy", DType::f16, {6});
  w.write_f32(f.data(), 6);
  w.commit();
  EXPECT_EQ(npy_load_f32(d / "h.npy"), f);  // all exactly representable in half
}

TEST(Npy, HalfConversionRoundsToNearestEven) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(65504.f), 0x7bff);
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);                   // overflow to inf
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);     // tie, even stays
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);     // tie, odd rounds up
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
  for (uint32_t h = 0; h < 0x7c00; ++h) EXPECT_EQ(float_to_half(half_to_float(h)), h) << h;
}

TEST(Npy, Bfloat16RoundsToNearestEvenAndRoundTrips) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(1.0f + 1.0f / 256), 0x3f80);  // tie, even stays
  EXPECT_EQ(float_to_bf16(1.0f + 3.0f / 256), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(bf16_to_float(0x0001), std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_EQ(float_to_bf16(std::ldexp(1.0f, -134)), 0x0000);  // half of it: tie to even (0)
  EXPECT_EQ(float_to_bf16(std::ldexp(1.5f, -134)), 0x0001);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  for (uint32_t b = 0; b < 0x7f80; b += 3) EXPECT_EQ(float_to_bf16(bf16_to_float(b)), b) << b;
  // Stored as numpy's one-field structured dtype; read back as float, exactly.
  test::TempDir d("npy");
  std::vector<float> f = {0.0f, 1.0f, -3.5f, 1.0f + 1.0f / 128, 1e30f, std::ldexp(1.0f, -133)};
  NpyWriter w(d / "b.npy", DType::bf16, {2, 3});
  w.write_f32(f.data(), 6);
  w.commit();
  EXPECT_NE(test::read_file(d / "b.npy").find("'descr': [('bfloat16', '<u2')], "), std::string::npos);
  NpyInfo info = npy_read_info(d / "b.npy");
  EXPECT_EQ(info.dtype, DType::bf16);
  EXPECT_EQ(info.nbytes, 12u);
  std::vector<float> back = npy_load_f32(d / "b.npy");
  for (size_t i = 0; i < f.size(); ++i) EXPECT_EQ(back[i], bf16_to_float(float_to_bf16(f[i]))) << i;
  EXPECT_THROW(npy_load_i64(d / "b.npy"), TraceError);
  // Other structured dtypes are still refused.
  std::string other = test::read_file(d / "b.npy");
  other.replace(other.find("bfloat16"), 8, "bfloat17");
  test::write_file(d / "o.npy", other);
  EXPECT_THROW(npy_read_info(d / "o.npy"), TraceError);
}

TEST(Npy, StreamsAndSeeks) {
  test::TempDir d("npy");
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  npy_save_f32(d / "v.npy", {10, 100}, v.data());
  NpyReader r(d / "v.npy");
  r.seek(500);
  std::vector<float> part(100);
  r.read_f32(part.data(), 100);
  EXPECT_EQ(part[0], 500.f);
  EXPECT_EQ(r.remaining(), 400);
  std::vector<float> more(500);
  EXPECT_THROW(r.read_f32(more.data(), 500), TraceError) << "only 400 left";
}

TEST(Npy, NumpyReadsOursAndWeReadNumpys) {
  ASSERT_TRUE(test::python_has("numpy"))
      << test::python() << " needs python3-numpy (tools/setup.sh installs it)";
  test::TempDir d("npy");
  std::vector<float> v = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
  npy_save_f32(d / "ours.npy", {2, 3}, v.data());
  std::string py =
      "import numpy as np\n"
      "a = np.load('" +
      (d / "ours.npy") +
      "')\n"
      "assert a.shape == (2, 3) and a.dtype == np.float32 and a.sum() == 21, a\n"
      "np.save('" +
      (d / "theirs.npy") +
      "', np.arange(12, dtype=np.float16).reshape(3, 4))\n"
      "np.save('" +
      (d / "big.npy") + "', np.zeros((2, 3), dtype=np.int64))\n";
  test::write_file(d / "t.py", py);
  ASSERT_EQ(std::system((test::python() + " " + (d / "t.py")).c_str()), 0);
  Shape s;
  auto t = npy_load_f32(d / "theirs.npy", &s);
  EXPECT_EQ(s, Shape({3, 4}));
  EXPECT_EQ(t[11], 11.f);
  EXPECT_EQ(npy_load_i64(d / "big.npy").size(), 6u);
}

std::string header(const std::string& dict, int major = 1) {
  std::string h = dict;
  size_t pre = major == 1 ? 10 : 12;
  h.append((64 - (pre + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  if (major != 1) out += std::string(2, '\0');
  return out + h;
}

void expect_rejected(const std::string& bytes, const std::string& needle) {
  test::TempDir d("npy");
  test::write_file(d / "bad.npy", bytes);
  try {
    NpyReader r(d / "bad.npy");
    FAIL() << "accepted; expected: " << needle;
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.npy"), std::string::npos) << e.what();
  }
}

TEST(Npy, RejectsMalformedFiles) {
  std::string good = header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }");
  expect_rejected(good + std::string(15, '\0'), "truncated");
  expect_rejected(good + std::string(17, '\0'), "beyond the shape");
  expect_rejected("PK\x03\x04 not numpy at all", "wrong magic");
  expect_rejected("\x93NUM", "wrong magic");
  expect_rejected(header("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }") + std::string(16, '\0'),
                  "unsupported dtype");
  expect_rejected(header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }") + std::string(8, '\0'),
                  "unsupported dtype");
  expect_rejected(header("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }") + std::string(8, '\0'),
                  "Fortran");
  expect_rejected(
      header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }"),
      "overflows");
  expect_rejected(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }"),
                  "truncated");
  expect_rejected(header("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }"), "bad dimension");
  // A header longer than allowed: version 2 with a 16 MiB length field.
  std::string huge = "\x93NUMPY\x02";
  huge += '\0';
  huge += std::string("\x00\x00\x00\x01", 4);
  expect_rejected(huge + "{}", "longer than");
  expect_rejected(std::string("\x93NUMPY\x01\0\xff\x00", 10) + "{'descr'", "truncated .npy header");
  // The dict as numpy reads it: a duplicate key (numpy keeps the last), an extra key (numpy
  // refuses), a missing one.
  expect_rejected(header("{'descr': '<f4', 'descr': '<i8', 'fortran_order': False, 'shape': (2,), }") +
                      std::string(16, '\0'),
                  "duplicate key 'descr'");
  expect_rejected(
      header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }") + std::string(8, '\0'),
      "unknown key 'extra'");
  expect_rejected(header("{'descr': '<f4', 'shape': (2,), }") + std::string(8, '\0'),
                  "has no 'fortran_order'");
  expect_rejected(header("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }") + std::string(8, '\0'),
                  "not True or False");
  expect_rejected(header("['descr', '<f4']") + std::string(8, '\0'), "expected '{'");
}

TEST(Npy, WriterLeavesNothingBehindWhenAbandoned) {
  test::TempDir d("npy");
  {
    NpyWriter w(d / "x.npy", DType::f32, {4});
    float v[2] = {1, 2};
    w.write_f32(v, 2);
  }  // not committed
  std::string listing;
  for (auto& e : std::filesystem::directory_iterator(d.path())) listing += e.path().filename().string();
  EXPECT_EQ(listing, "");
}

}  // namespace
}  // namespace eatsim
