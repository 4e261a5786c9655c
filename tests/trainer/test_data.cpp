// Dataset loaders on small files written in the official layouts, the real Fashion-MNIST, and the
// batcher's determinism and augmentation.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "base/errors.hpp"
#include "tests/helpers.hpp"
#include "trainer/data/batcher.hpp"
#include "trainer/data/dataset.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

void put_be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

void write_gz(const std::string& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, data.data(), static_cast<unsigned>(data.size()));
  gzclose(f);
}

// n images of r×c whose pixel (i, y, x) = (i + y + x) % 256, labels i % 10.
void write_idx(const std::string& dir, const std::string& pre, int n, int r, int c, bool gz) {
  std::string img, lab;
  put_be32(img, 0x803), put_be32(img, n), put_be32(img, r), put_be32(img, c);
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < r; ++y)
      for (int x = 0; x < c; ++x) img += static_cast<char>((i + y + x) % 256);
  put_be32(lab, 0x801), put_be32(lab, n);
  for (int i = 0; i < n; ++i) lab += static_cast<char>(i % 10);
  if (gz) {
    write_gz(dir + "/" + pre + "-images-idx3-ubyte.gz", img);
    write_gz(dir + "/" + pre + "-labels-idx1-ubyte.gz", lab);
  } else {
    test::write_file(dir + "/" + pre + "-images-idx3-ubyte", img);
    test::write_file(dir + "/" + pre + "-labels-idx1-ubyte", lab);
  }
}

TEST(Datasets, IdxGzipAndRaw) {
  test::TempDir d("data");
  write_idx(d.path(), "train", 12, 5, 7, true);
  write_idx(d.path(), "t10k", 3, 5, 7, false);
  Dataset tr = load_dataset("mnist:" + d.path(), "train");
  EXPECT_EQ(tr.n, 12);
  EXPECT_EQ(tr.h, 5);
  EXPECT_EQ(tr.w, 7);
  EXPECT_EQ(tr.image(4)[1 * 7 + 2], 4 + 1 + 2);
  EXPECT_EQ(tr.labels[11], 1);
  EXPECT_FALSE(tr.flip_ok);
  Dataset te = load_dataset("mnist:" + d.path(), "test");
  EXPECT_EQ(te.n, 3);
}

TEST(Datasets, IdxBadFilesNameTheFile) {
  test::TempDir d("data");
  write_idx(d.path(), "train", 4, 3, 3, false);
  std::string p = d / "train-images-idx3-ubyte";
  fs::resize_file(p, fs::file_size(p) - 1);
  try {
    load_idx(d.path(), "train", "mnist");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte: header says 4 images of 3x3"),
              std::string::npos)
        << e.what();
  }
  test::write_file(p, "hello, not idx");
  EXPECT_THROW(load_idx(d.path(), "train", "mnist"), DataError);
  EXPECT_THROW(load_dataset("mnist:" + (d / "nope"), "train"), DataError);
  EXPECT_THROW(load_dataset("imagenet:/x", "train"), UsageError);
}

TEST(Datasets, Cifar10BinaryLayout) {
  test::TempDir d("data");
  for (int b = 1; b <= 5; ++b) {
    std::string s;
    for (int r = 0; r < 2; ++r) {
      s += static_cast<char>((b + r) % 10);
      for (int k = 0; k < 3072; ++k) s += static_cast<char>((k / 1024) * 100 + b);  // channel-major planes
    }
    test::write_file(d / ("data_batch_" + std::to_string(b) + ".bin"), s);
  }
  std::string t(1 + 3072, '\x07');
  test::write_file(d / "test_batch.bin", t);
  Dataset tr = load_cifar10(d.path(), "train");
  EXPECT_EQ(tr.n, 10);
  EXPECT_EQ(tr.c, 3);
  EXPECT_EQ(tr.labels[2], 2);                     // batch 2, record 0
  EXPECT_EQ(tr.image(2)[2 * 1024 + 5], 200 + 2);  // blue plane of batch 2
  Dataset te = load_cifar10(d.path(), "test");
  EXPECT_EQ(te.n, 1);
  EXPECT_EQ(te.labels[0], 7);
  test::write_file(d / "test_batch.bin", std::string(3000, '\0'));
  try {
    load_cifar10(d.path(), "test");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("test_batch.bin: 3000 bytes is not a whole number"),
              std::string::npos);
  }
}

void write_ppm(const std::string& path, int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::string s = "P6\n# made by a test\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  for (int i = 0; i < w * h; ++i)
    s += static_cast<char>(r), s += static_cast<char>(g), s += static_cast<char>(b);
  test::write_file(path, s);
}

TEST(Datasets, GtsrbFoldersAndCsvResizedTo32) {
  test::TempDir d("data");
  for (int c : {0, 1}) {
    std::string cls = c == 0 ? "00000" : "00001";
    std::string dir = d / ("Final_Training/Images/" + cls);
    fs::create_directories(dir);
    std::string csv = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n";
    for (int i = 0; i < 2; ++i) {
      std::string f = "0000" + std::to_string(i) + "_00000.ppm";
      write_ppm(dir + "/" + f, 40 + i * 7, 35, c ? 200 : 10, 50, 90);
      csv += f + ";47;35;5;5;40;30;" + std::to_string(c) + "\n";
    }
    test::write_file(dir + "/GT-" + cls + ".csv", csv);
  }
  fs::create_directories(d / "Final_Test/Images");
  write_ppm(d / "Final_Test/Images/00000.ppm", 30, 31, 1, 2, 3);
  test::write_file(
      d / "Final_Test/Images/GT-final_test.csv",
      "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n00000.ppm;30;31;5;5;25;25;1\n");
  Dataset tr = load_dataset("gtsrb:" + d.path(), "train");
  EXPECT_EQ(tr.n, 4);
  EXPECT_EQ(tr.h, 32);
  EXPECT_EQ(tr.labels[3], 1);
  EXPECT_EQ(tr.image(3)[0], 200);          // red plane, uniform colour survives the resize
  EXPECT_EQ(tr.image(3)[1024 + 500], 50);  // green plane
  Dataset te = load_dataset("gtsrb:" + d.path(), "test");
  EXPECT_EQ(te.n, 1);
  EXPECT_EQ(te.image(0)[2048 + 31], 3);
  test::write_file(d / "Final_Test/Images/GT-final_test.csv", "Filename;ClassId\n00000.ppm;x\n");
  EXPECT_THROW(load_gtsrb(d.path(), "test"), DataError);
}

TEST(Datasets, FashionMnistFromDebianPackage) {
  ASSERT_TRUE(fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
      << "install dataset-fashion-mnist (tools/setup.sh does)";
  Dataset d = load_dataset("fashion-mnist", "test");
  EXPECT_EQ(d.n, 10000);
  EXPECT_EQ(d.h, 28);
  EXPECT_EQ(d.classes, 10);
  EXPECT_EQ(d.labels[0], 9);  // the first test image is an ankle boot
}

Dataset tiny(int n, int hw) {
  Dataset d;
  d.name = "tiny", d.source = "tiny", d.n = n, d.c = 1, d.h = hw, d.w = hw, d.classes = 10;
  d.mean = {0.f}, d.std = {1.f};
  for (int i = 0; i < n; ++i) {
    d.labels.push_back(i % 10);
    for (int p = 0; p < hw * hw; ++p) d.images.push_back(static_cast<uint8_t>(i * 10 + p));
  }
  return d;
}

TEST(Batcher, PadsCentredAndNormalises) {
  Dataset d = tiny(3, 2);
  d.mean = {0.5f}, d.std = {0.25f};
  Batcher b(d, 2, 1, 4, 4, false, false, {}, 1);
  std::vector<float> x(2 * 16);
  std::vector<int32_t> y(2);
  ASSERT_EQ(b.next(x.data(), y.data()), 2);
  EXPECT_FLOAT_EQ(x[0], (0 - 0.5f) / 0.25f);                  // padding is black
  EXPECT_FLOAT_EQ(x[1 * 4 + 1], (0 / 255.f - 0.5f) / 0.25f);  // pixel (0,0) of image 0 at (1,1)
  EXPECT_FLOAT_EQ(x[16 + 2 * 4 + 2], (13 / 255.f - 0.5f) / 0.25f);
  EXPECT_EQ(b.next(x.data(), y.data()), 1);  // partial last batch kept when drop_last is off
  EXPECT_EQ(b.next(x.data(), y.data()), 0);
  EXPECT_THROW(Batcher(d, 2, 3, 4, 4, false, false, {}, 1), DataError);  // channels
  EXPECT_THROW(Batcher(d, 2, 1, 1, 1, false, false, {}, 1), DataError);  // size
}

TEST(Batcher, ShuffleAndAugmentationAreReproducibleAndResumable) {
  Dataset d = tiny(50, 8);
  AugmentOptions aug;
  aug.crop_pad = 2, aug.flip = true, aug.rotate_deg = 10;
  auto run = [&](int epoch, int64_t seek_to) {
    Batcher b(d, 8, 1, 8, 8, true, true, aug, 42);
    b.start_epoch(epoch);
    b.seek(seek_to);
    std::vector<float> x(8 * 64);
    std::vector<int32_t> y(8);
    std::vector<float> all;
    while (b.next(x.data(), y.data())) all.insert(all.end(), x.begin(), x.end());
    return all;
  };
  auto a = run(3, 0), b = run(3, 0), c = run(4, 0), resumed = run(3, 16);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.size(), 6u * 8 * 64);  // 50 samples, batches of 8, last partial one dropped
  ASSERT_EQ(resumed.size(), a.size() - 2 * 8 * 64);
  EXPECT_TRUE(std::equal(resumed.begin(), resumed.end(), a.begin() + 2 * 8 * 64));
}

TEST(Batcher, CropShiftMovesTheImageAndFlipMirrorsIt) {
  Dataset d = tiny(1, 4);
  Batcher b(d, 1, 1, 4, 4, false, false, {}, 1);
  std::vector<float> plain(16), aug(16);
  b.render(0, false, 0, plain.data());
  // Find seeds that give a pure flip (no crop, no rotation configured).
  AugmentOptions flip_only;
  flip_only.flip = true;
  Batcher fb(d, 1, 1, 4, 4, false, false, flip_only, 1);
  bool saw_flip = false, saw_plain = false;
  for (uint64_t s = 0; s < 20; ++s) {
    fb.render(0, true, s, aug.data());
    bool mirrored = true;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) mirrored &= aug[y * 4 + x] == plain[y * 4 + 3 - x];
    saw_flip |= mirrored;
    saw_plain |= aug == plain;
  }
  EXPECT_TRUE(saw_flip);
  EXPECT_TRUE(saw_plain);
}

}  // namespace
}  // namespace eatsim
