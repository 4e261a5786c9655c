// Mini-batch assembly with deterministic shuffling and augmentation; see batcher.hpp.
#include "trainer/data/batcher.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

#include "base/errors.hpp"
#include "traces/synth.hpp"  // Rng

namespace eatsim {

namespace {
uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

Batcher::Batcher(const Dataset& d, int batch, int channels, int h, int w, bool shuffle, bool drop_last,
                 AugmentOptions aug, uint64_t seed)
    : d_(d),
      batch_(batch),
      c_(channels),
      h_(h),
      w_(w),
      shuffle_(shuffle),
      drop_last_(drop_last),
      aug_(aug),
      seed_(seed) {
  if (batch <= 0) throw UsageError("--batch must be positive");
  if (channels != d.c)
    throw DataError(
        fmt::format("{}: images have {} channel(s) but the model expects {} (use --in-channels {})", d.source,
                    d.c, channels, d.c));
  if (d.h > h || d.w > w)
    throw DataError(
        fmt::format("{}: {}x{} images do not fit the model's {}x{} input (use --input-size {}x{})", d.source,
                    d.h, d.w, h, w, std::max(d.h, h), std::max(d.w, w)));
  if (!d.flip_ok) aug_.flip = false;
  start_epoch(0);
}

int64_t Batcher::batches_per_epoch() const {
  return drop_last_ ? d_.n / batch_ : (d_.n + batch_ - 1) / batch_;
}

void Batcher::start_epoch(int epoch) {
  epoch_ = epoch;
  pos_ = 0;
  perm_.resize(static_cast<size_t>(d_.n));
  std::iota(perm_.begin(), perm_.end(), 0);
  if (shuffle_) {
    Rng rng(mix(seed_, static_cast<uint64_t>(epoch) + 1));
    for (int64_t i = d_.n - 1; i > 0; --i)
      std::swap(perm_[i], perm_[rng.next() % static_cast<uint64_t>(i + 1)]);
  }
}

int Batcher::next(float* x, int32_t* labels) {
  int64_t left = d_.n - pos_;
  if (left <= 0 || (drop_last_ && left < batch_)) return 0;
  int n = static_cast<int>(std::min<int64_t>(batch_, left));
  bool augment = aug_.crop_pad > 0 || aug_.flip || aug_.rotate_deg > 0;
  for (int i = 0; i < n; ++i) {
    int64_t idx = perm_[pos_ + i];
    labels[i] = d_.labels[idx];
    render(idx, augment, mix(mix(seed_, static_cast<uint64_t>(epoch_)), static_cast<uint64_t>(idx)),
           x + i * sample_floats());
  }
  pos_ += n;
  return n;
}

void Batcher::render(int64_t index, bool augment, uint64_t aug_seed, float* out) const {
  const int SH = h_, SW = w_, H = d_.h, W = d_.w;
  const int oy = (SH - H) / 2, ox = (SW - W) / 2;  // centring offsets of the padded image
  const uint8_t* img = d_.image(index);
  double angle = 0, dx = 0, dy = 0;
  bool flip = false;
  if (augment) {
    Rng rng(aug_seed);
    if (aug_.crop_pad > 0) {
      dx = static_cast<double>(rng.next() % (2 * aug_.crop_pad + 1)) - aug_.crop_pad;
      dy = static_cast<double>(rng.next() % (2 * aug_.crop_pad + 1)) - aug_.crop_pad;
    }
    if (aug_.flip) flip = rng.uniform() < 0.5;
    if (aug_.rotate_deg > 0) angle = (2 * rng.uniform() - 1) * aug_.rotate_deg * M_PI / 180.0;
  }
  // Pixel value of the padded, unshifted image at (y, x), 0 outside.
  auto src = [&](int c, int y, int x) -> float {
    int sy = y - oy, sx = x - ox;
    if (sy < 0 || sy >= H || sx < 0 || sx >= W) return 0.f;
    return img[(static_cast<size_t>(c) * H + sy) * W + sx] * (1.f / 255.f);
  };
  const double cs = std::cos(angle), sn = std::sin(angle), cy = (SH - 1) / 2.0, cx = (SW - 1) / 2.0;
  for (int c = 0; c < c_; ++c) {
    const float m = d_.mean[c], inv = 1.f / d_.std[c];
    for (int y = 0; y < SH; ++y)
      for (int x = 0; x < SW; ++x) {
        // Output (y, x) <- crop shift <- flip <- rotation about the centre, applied in that order.
        double py = y + dy, px = x + dx;
        if (flip) px = SW - 1 - px;
        float v;
        if (angle != 0) {
          double ry = cy + (py - cy) * cs - (px - cx) * sn, rx = cx + (py - cy) * sn + (px - cx) * cs;
          int y0 = static_cast<int>(std::floor(ry)), x0 = static_cast<int>(std::floor(rx));
          double ay = ry - y0, ax = rx - x0;
          v = static_cast<float>((1 - ay) * ((1 - ax) * src(c, y0, x0) + ax * src(c, y0, x0 + 1)) +
                                 ay * ((1 - ax) * src(c, y0 + 1, x0) + ax * src(c, y0 + 1, x0 + 1)));
        } else {
          v = src(c, static_cast<int>(py), static_cast<int>(px));
        }
        out[(static_cast<size_t>(c) * SH + y) * SW + x] = (v - m) * inv;
      }
  }
}

}  // namespace eatsim
