// Dataset loaders: see dataset.hpp. Every size in a file header is checked against the file
// before anything is allocated.
#include "trainer/data/dataset.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "base/errors.hpp"

namespace eatsim {
namespace fs = std::filesystem;

namespace {

// Reads a whole file, gzip-compressed or not (zlib reads plain files transparently).
std::vector<uint8_t> read_maybe_gz(const std::string& path, size_t limit) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw DataError(fmt::format("{}: cannot open", path));
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    int k = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (k < 0) throw DataError(fmt::format("{}: corrupt gzip data", path));
    if (k == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + k);
    if (out.size() > limit)
      throw DataError(fmt::format("{}: larger than any dataset file expected here", path));
  }
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

std::string find_file(const std::string& dir, const std::vector<std::string>& names,
                      const std::string& what) {
  for (const auto& n : names)
    for (const char* ext : {"", ".gz"}) {
      std::string p = dir + "/" + n + ext;
      if (fs::exists(p)) return p;
    }
  throw DataError(fmt::format("{}: no {} file (expected {}[.gz] here)", dir, what, names.front()));
}

}  // namespace

Dataset load_idx(const std::string& dir, const std::string& split, const std::string& name) {
  if (!fs::is_directory(dir))
    throw DataError(fmt::format("{}: not a directory (expected the IDX files of {})", dir, name));
  std::string pre = split == "train" ? "train" : "t10k";
  std::string ip =
      find_file(dir, {pre + "-images-idx3-ubyte", pre + "-images.idx3-ubyte"}, split + " images");
  std::string lp =
      find_file(dir, {pre + "-labels-idx1-ubyte", pre + "-labels.idx1-ubyte"}, split + " labels");
  auto img = read_maybe_gz(ip, size_t(1) << 31);
  auto lab = read_maybe_gz(lp, size_t(1) << 28);
  if (img.size() < 16 || be32(img.data()) != 0x803)
    throw DataError(fmt::format("{}: not an IDX image file (magic 0x00000803 expected)", ip));
  if (lab.size() < 8 || be32(lab.data()) != 0x801)
    throw DataError(fmt::format("{}: not an IDX label file (magic 0x00000801 expected)", lp));
  uint64_t n = be32(img.data() + 4), rows = be32(img.data() + 8), cols = be32(img.data() + 12);
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || img.size() - 16 != n * rows * cols)
    throw DataError(fmt::format("{}: header says {} images of {}x{} but the file holds {} pixel bytes", ip, n,
                                rows, cols, img.size() - 16));
  if (be32(lab.data() + 4) != n || lab.size() - 8 != n)
    throw DataError(fmt::format("{}: {} labels for {} images", lp, lab.size() - 8, n));
  Dataset d;
  d.name = name, d.source = dir;
  d.n = static_cast<int64_t>(n), d.c = 1, d.h = static_cast<int>(rows), d.w = static_cast<int>(cols);
  d.images.assign(img.begin() + 16, img.end());
  d.labels.resize(n);
  d.classes = 0;
  for (uint64_t i = 0; i < n; ++i) {
    d.labels[i] = lab[8 + i];
    d.classes = std::max(d.classes, d.labels[i] + 1);
  }
  d.classes = std::max(d.classes, 10);
  if (name == "mnist") {
    d.mean = {0.1307f}, d.std = {0.3081f}, d.flip_ok = false;
  } else {
    d.mean = {0.2860f}, d.std = {0.3530f}, d.flip_ok = true;
  }
  return d;
}

Dataset load_cifar10(const std::string& dir, const std::string& split) {
  if (!fs::is_directory(dir))
    throw DataError(
        fmt::format("{}: not a directory (expected cifar-10-batches-bin with data_batch_1.bin ...)", dir));
  std::vector<std::string> files;
  if (split == "train")
    for (int i = 1; i <= 5; ++i) files.push_back(fmt::format("data_batch_{}.bin", i));
  else
    files.push_back("test_batch.bin");
  Dataset d;
  d.name = "cifar10", d.source = dir, d.c = 3, d.h = 32, d.w = 32, d.classes = 10;
  const size_t rec = 1 + 3072;
  for (const auto& f : files) {
    std::string p = dir + "/" + f;
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (ec)
      throw DataError(
          fmt::format("{}: missing (CIFAR-10 binary layout: data_batch_1..5.bin, test_batch.bin)", p));
    if (size == 0 || size % rec != 0)
      throw DataError(
          fmt::format("{}: {} bytes is not a whole number of 3073-byte CIFAR-10 records", p, size));
    std::ifstream in(p, std::ios::binary);
    std::vector<uint8_t> buf(size);
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(size));
    if (!in) throw DataError(fmt::format("{}: read failed", p));
    for (size_t r = 0; r < size / rec; ++r) {
      uint8_t label = buf[r * rec];
      if (label > 9)
        throw DataError(fmt::format("{}: record {} has label {} (CIFAR-10 labels are 0-9)", p, r, label));
      d.labels.push_back(label);
      d.images.insert(d.images.end(), buf.begin() + r * rec + 1, buf.begin() + (r + 1) * rec);
    }
  }
  d.n = static_cast<int64_t>(d.labels.size());
  d.mean = {0.4914f, 0.4822f, 0.4465f}, d.std = {0.2470f, 0.2435f, 0.2616f};
  return d;
}

namespace {

// Reads a binary PPM (P6, maxval 255) into (3, H, W).
std::vector<uint8_t> read_ppm(const std::string& path, int& w, int& h) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot open", path));
  auto token = [&]() {
    std::string t;
    char ch;
    while (in.get(ch)) {
      if (ch == '#') {
        std::string rest;
        std::getline(in, rest);
      } else if (!isspace(static_cast<unsigned char>(ch))) {
        t += ch;
        break;
      }
    }
    while (in.get(ch) && !isspace(static_cast<unsigned char>(ch))) t += ch;
    return t;
  };
  if (token() != "P6") throw DataError(fmt::format("{}: not a binary PPM (P6) image", path));
  try {
    w = std::stoi(token()), h = std::stoi(token());
    int maxv = std::stoi(token());
    if (maxv != 255 || w <= 0 || h <= 0 || w > 10000 || h > 10000) throw std::invalid_argument("range");
  } catch (const std::exception&) {
    throw DataError(fmt::format("{}: bad PPM header (expected width, height, maxval 255)", path));
  }
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  in.read(reinterpret_cast<char*>(rgb.data()), static_cast<std::streamsize>(rgb.size()));
  if (!in) throw DataError(fmt::format("{}: truncated PPM pixel data ({}x{} expected)", path, w, h));
  std::vector<uint8_t> chw(rgb.size());
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < w * h; ++i)
      chw[static_cast<size_t>(c) * w * h + i] = rgb[static_cast<size_t>(i) * 3 + c];
  return chw;
}

// Bilinear resize of (3, h, w) to (3, s, s), align_corners=False like PyTorch/PIL's bilinear.
void resize_into(const std::vector<uint8_t>& src, int w, int h, int s, uint8_t* dst) {
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) {
        double fy = std::max(0.0, (y + 0.5) * h / s - 0.5), fx = std::max(0.0, (x + 0.5) * w / s - 0.5);
        int y0 = std::min(static_cast<int>(fy), h - 1), x0 = std::min(static_cast<int>(fx), w - 1);
        int y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
        double ay = fy - y0, ax = fx - x0;
        auto at = [&](int yy, int xx) { return src[(static_cast<size_t>(c) * h + yy) * w + xx]; };
        double v = (1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x1)) +
                   ay * ((1 - ax) * at(y1, x0) + ax * at(y1, x1));
        dst[(static_cast<size_t>(c) * s + y) * s + x] =
            static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
      }
}

// Parses a GTSRB annotation CSV (';'-separated, header line) into (file name, class id) pairs.
std::vector<std::pair<std::string, int>> read_gt_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw DataError(fmt::format("{}: missing (GTSRB annotation CSV)", path));
  std::string line;
  std::getline(in, line);
  if (line.find("Filename") == std::string::npos || line.find("ClassId") == std::string::npos)
    throw DataError(fmt::format(
        "{}:1: expected the header Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId", path));
  std::vector<std::string> cols;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ';');) cols.push_back(c);
  size_t ci = std::find(cols.begin(), cols.end(), "ClassId") - cols.begin();
  size_t fi = std::find(cols.begin(), cols.end(), "Filename") - cols.begin();
  if (ci == cols.size() || fi == cols.size())
    throw DataError(fmt::format("{}:1: the header has no Filename or no ClassId column ({})", path, line));
  std::vector<std::pair<std::string, int>> out;
  int lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ';');) f.push_back(c);
    if (f.size() != cols.size())
      throw DataError(
          fmt::format("{}:{}: {} fields, the header has {}", path, lineno, f.size(), cols.size()));
    if (f[fi].empty() || f[fi].find('/') != std::string::npos || f[fi] == "..")
      throw DataError(fmt::format("{}:{}: '{}' is not a plain image file name", path, lineno, f[fi]));
    try {
      int cls = std::stoi(f[ci]);
      if (cls < 0 || cls > 999) throw std::out_of_range("class");
      out.emplace_back(f[fi], cls);
    } catch (const std::exception&) {
      throw DataError(fmt::format("{}:{}: bad ClassId '{}'", path, lineno, f[ci]));
    }
  }
  return out;
}

}  // namespace

Dataset load_gtsrb(const std::string& dir, const std::string& split, int size) {
  Dataset d;
  d.name = "gtsrb", d.source = dir, d.c = 3, d.h = size, d.w = size, d.classes = 43;
  d.mean = {0.3403f, 0.3121f, 0.3214f}, d.std = {0.2724f, 0.2608f, 0.2669f};
  auto add = [&](const std::string& ppm, int cls) {
    int w, h;
    auto chw = read_ppm(ppm, w, h);
    size_t off = d.images.size();
    d.images.resize(off + 3 * static_cast<size_t>(size) * size);
    resize_into(chw, w, h, size, d.images.data() + off);
    d.labels.push_back(cls);
    d.classes = std::max(d.classes, cls + 1);
  };
  if (split == "train") {
    std::string root = dir + "/Final_Training/Images";
    if (!fs::is_directory(root))
      throw DataError(
          fmt::format("{}: missing (GTSRB layout: Final_Training/Images/00000/GT-00000.csv + *.ppm)", root));
    std::vector<std::string> classes;
    for (auto& e : fs::directory_iterator(root))
      if (e.is_directory()) classes.push_back(e.path().filename().string());
    std::sort(classes.begin(), classes.end());
    if (classes.empty()) throw DataError(fmt::format("{}: no class folders (00000, 00001, ...)", root));
    for (const auto& c : classes)
      for (const auto& [file, cls] : read_gt_csv(root + "/" + c + "/GT-" + c + ".csv"))
        add(root + "/" + c + "/" + file, cls);
  } else {
    std::string root = dir + "/Final_Test/Images";
    std::string csv =
        fs::exists(root + "/GT-final_test.csv") ? root + "/GT-final_test.csv" : dir + "/GT-final_test.csv";
    for (const auto& [file, cls] : read_gt_csv(csv)) add(root + "/" + file, cls);
  }
  d.n = static_cast<int64_t>(d.labels.size());
  if (d.n == 0) throw DataError(fmt::format("{}: no images listed in the annotation CSVs", dir));
  return d;
}

Dataset load_dataset(const std::string& spec, const std::string& split) {
  if (split != "train" && split != "test")
    throw UsageError(fmt::format("split '{}': expected train or test", split));
  std::string name = spec, path;
  size_t colon = spec.find(':');
  if (colon != std::string::npos) name = spec.substr(0, colon), path = spec.substr(colon + 1);
  if (name == "fashion-mnist")
    return load_idx(path.empty() ? "/usr/share/datasets/fashion-mnist" : path, split, name);
  if (path.empty() && (name == "mnist" || name == "cifar10" || name == "gtsrb"))
    throw DataError(fmt::format("{}: give the dataset's directory as {}:PATH", spec, name));
  if (name == "mnist") return load_idx(path, split, name);
  if (name == "cifar10") return load_cifar10(path, split);
  if (name == "gtsrb") return load_gtsrb(path, split);
  throw UsageError(fmt::format(
      "dataset '{}': expected fashion-mnist[:PATH], mnist:PATH, cifar10:PATH or gtsrb:PATH", spec));
}

void truncate(Dataset& d, int64_t n) {
  if (n < 0 || n >= d.n) return;
  d.n = n;
  d.images.resize(static_cast<size_t>(n) * d.c * d.h * d.w);
  d.labels.resize(static_cast<size_t>(n));
}

}  // namespace eatsim
