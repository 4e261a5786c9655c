// Image classification datasets held in memory as uint8 (N, C, H, W): IDX (MNIST, Fashion-MNIST,
// gzip or raw), CIFAR-10 binary batches, GTSRB (PPM folders + CSV, resized). No oneDNN here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace eatsim {

struct Dataset {
  std::string name;    // "fashion-mnist", "mnist", "cifar10", "gtsrb"
  std::string source;  // the path it was read from
  int64_t n = 0;
  int c = 0, h = 0, w = 0;
  int classes = 0;
  std::vector<uint8_t> images;   // (N, C, H, W)
  std::vector<int32_t> labels;   // (N)
  std::vector<float> mean, std;  // per channel, in [0, 1] pixel units, for normalisation
  bool flip_ok = true;           // horizontal flips preserve the class (off for digits)
  const uint8_t* image(int64_t i) const { return images.data() + i * c * h * w; }
};

// SPEC is "NAME" or "NAME:PATH" with NAME one of fashion-mnist, mnist, cifar10, gtsrb; without a
// path, fashion-mnist reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
// SPLIT is "train" or "test". Throws DataError naming the file and the expected layout.
Dataset load_dataset(const std::string& spec, const std::string& split);

// Individual loaders (paths are directories in the official layouts).
Dataset load_idx(const std::string& dir, const std::string& split, const std::string& name);
Dataset load_cifar10(const std::string& dir, const std::string& split);
Dataset load_gtsrb(const std::string& dir, const std::string& split, int size = 32);

// Keeps the first n samples (n >= the size keeps all; n = 0 keeps none), for quick runs and tests.
void truncate(Dataset& d, int64_t n);

}  // namespace eatsim
