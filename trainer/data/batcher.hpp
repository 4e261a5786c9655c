// Mini-batches as normalised float (N, C, H, W), with deterministic shuffling and augmentation:
// the order depends only on (seed, epoch) and each sample's augmentation on (seed, epoch, index),
// so a run resumed at a batch boundary sees exactly the batches it would have seen.
#pragma once
#include <cstdint>
#include <vector>

#include "trainer/data/dataset.hpp"

namespace eatsim {

struct AugmentOptions {
  int crop_pad = 0;         // random crop after zero-padding by this many pixels (0: off)
  bool flip = false;        // random horizontal flip (ignored when the dataset forbids it)
  double rotate_deg = 0.0;  // random rotation in [-deg, deg], bilinear, zero fill (0: off)
};

class Batcher {
 public:
  // (h, w) is the model's input size: smaller images are zero-padded to it, centred.
  // Throws DataError when the images cannot fit the model (more pixels or other channels).
  Batcher(const Dataset& d, int batch, int channels, int h, int w, bool shuffle, bool drop_last,
          AugmentOptions aug, uint64_t seed);
  int64_t batches_per_epoch() const;
  void start_epoch(int epoch);
  // Fills x (batch·C·H·W floats) and labels; returns the number of samples (0 at the epoch's end).
  int next(float* x, int32_t* labels);
  int64_t position() const { return pos_; }  // samples consumed in this epoch
  void seek(int64_t pos) { pos_ = pos; }
  int batch() const { return batch_; }
  int64_t sample_floats() const { return static_cast<int64_t>(c_) * h_ * w_; }
  // One sample, normalised, optionally augmented (used by next(); public for tests and export).
  void render(int64_t index, bool augment, uint64_t aug_seed, float* out) const;

 private:
  const Dataset& d_;
  int batch_, c_, h_, w_;
  bool shuffle_, drop_last_;
  AugmentOptions aug_;
  uint64_t seed_;
  int epoch_ = 0;
  int64_t pos_ = 0;
  std::vector<int64_t> perm_;
};

}  // namespace eatsim
