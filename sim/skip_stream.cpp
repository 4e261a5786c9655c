// Lane-group stream models of the skip feature (docs/microarchitecture.md, "Zero skipping"). Each
// keeps the per-clock state the clocked model needs (FIFOs, reader position, per-group progress)
// and steps it one clock per cycle; a fold whose stream equals one already run (same bitmap: WS
// folds of other n-tiles, OS folds of other n-tiles) jumps to that outcome.
#include <algorithm>
#include <unordered_map>

#include "sim/dataflow.hpp"
#include "sim/sparse.hpp"

namespace eatsim::sim {
namespace {

// Bits set in x, inline: without -mpopcnt, __builtin_popcountll is a call into libgcc per mask.
inline int popcount64(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return static_cast<int>((x * 0x0101010101010101ull) >> 56);
}

}  // namespace

namespace {

// What a whole stream did: its length and the counters it added.
struct Outcome {
  int64_t cycles = 0, push = 0, pop = 0, reader_stall = 0, port_wait = 0, feed_wait = 0;
};

void add(Counters& c, const Outcome& o) {
  c.fe_fifo_push += o.push, c.fe_fifo_pop += o.pop, c.fe_reader_stall += o.reader_stall;
  c.fe_port_wait += o.port_wait, c.fe_feed_wait += o.feed_wait;
}

// Shared stepping/jumping logic: derived classes tick one clock and say when they are done.
class CachedStream : public StreamModel {
 public:
  bool finished() const override { return done_; }
  int64_t advance(int64_t max_cycles, Counters& c) override {
    if (done_) return 0;
    if (fresh_) {
      auto it = cache_.find(key_);
      if (it != cache_.end() && it->second.cycles <= max_cycles) {
        add(c, it->second);
        done_ = true;
        return it->second.cycles;
      }
    }
    int64_t n = 0;
    while (n < max_cycles && !done_) {
      Outcome before = cur_;
      tick();
      ++cur_.cycles, ++n;
      Outcome d{1,
                cur_.push - before.push,
                cur_.pop - before.pop,
                cur_.reader_stall - before.reader_stall,
                cur_.port_wait - before.port_wait,
                cur_.feed_wait - before.feed_wait};
      add(c, d);
      fresh_ = false;
      done_ = idle();
    }
    if (done_) cache_.emplace(key_, cur_);
    return n;
  }

 protected:
  // Called by begin(): the stream's identity and whether it is empty from the start.
  void start(int64_t key) {
    key_ = key, cur_ = Outcome{}, fresh_ = true;
    done_ = idle();
    if (done_) cache_.emplace(key_, cur_);
  }
  virtual void tick() = 0;
  virtual bool idle() const = 0;
  Outcome cur_;

 private:
  std::unordered_map<int64_t, Outcome> cache_;
  int64_t key_ = 0;
  bool fresh_ = false, done_ = true;
};

// WS: the reader scans up to L pixel vectors per clock and pushes each non-empty G-slice into its
// group's FIFO (depth D, one push per FIFO per clock, in pixel order, all of a pixel's slices at
// once); then every group with a non-empty FIFO pops its head (an entry pushed this clock may be
// popped this clock), at most P of them (acc_ports), oldest pixel first, ties to the lower group.
class WsSkipStream : public CachedStream {
 public:
  WsSkipStream(const HwConfig& hw, const SparseLayer& s)
      : s_(s),
        G_(s.G),
        D_(hw.sparsity.skip.fifo_depth),
        L_(hw.sparsity.skip.lookahead),
        P_(hw.sparsity.skip.acc_ports) {
    tag_.assign(size_t(64 * D_), 0);
  }
  void begin(int64_t, const FoldWork& w, Counters& c) override {
    const int64_t kt = w.k0 / s_.R;
    mask_ = &s_.ws_mask[size_t(kt * s_.g.M + w.m0)];
    T_ = w.stream, r_ = 0;
    ng_ = int((w.rows_used + G_ - 1) / G_);
    std::fill(std::begin(head_), std::end(head_), 0);
    std::fill(std::begin(size_), std::end(size_), 0);
    nonempty_ = 0;
    // Events known from the bitmap: detection, slice reductions, re-alignment of partial sums
    // (every n-tile streams the same pixels: the per-pixel counts are summed once, as prefix sums).
    if (extra_prefix_.empty()) {
      extra_prefix_.resize(s_.ws_mask.size() + 1);
      for (size_t i = 0; i < s_.ws_mask.size(); ++i)
        extra_prefix_[i + 1] = extra_prefix_[i] + std::max(0, popcount64(s_.ws_mask[i]) - 1);
    }
    const size_t base = size_t(kt * s_.g.M + w.m0);
    const int64_t extra = extra_prefix_[base + size_t(T_)] - extra_prefix_[base];
    c.fe_zero_detect += T_ * w.rows_used;
    c.fe_bitmap_ops += T_ * ng_;
    c.realign_add += extra * w.cols_used;
    c.realign_acc_rd += extra * w.cols_used;
    c.realign_acc_wr += extra * w.cols_used;
    start(kt * s_.g.M + w.m0);
  }

 private:
  bool idle() const override { return r_ >= T_ && nonempty_ == 0; }
  void tick() override {
    // Reader.
    uint64_t pushed = 0;
    for (int s = 0; s < L_ && r_ < T_; ++s) {
      uint64_t m = mask_[r_];
      if (m == 0) {
        ++r_;
        continue;
      }
      uint64_t full = 0;
      for (uint64_t b = m; b; b &= b - 1) {
        int gi = __builtin_ctzll(b);
        if (size_[gi] == D_) full |= uint64_t(1) << gi;
      }
      if (full) {
        ++cur_.reader_stall;
        break;
      }
      if (m & pushed) break;  // one push per FIFO per clock
      for (uint64_t b = m; b; b &= b - 1) {
        int gi = __builtin_ctzll(b);
        tag_[size_t(gi * D_ + (head_[gi] + size_[gi]) % D_)] = r_;
        ++size_[gi];
        ++cur_.push;
      }
      nonempty_ |= m;
      pushed |= m;
      ++r_;
    }
    // Lanes.
    int want = popcount64(nonempty_);
    uint64_t grant = nonempty_;
    if (want > P_) {
      cur_.port_wait += want - P_;
      grant = 0;
      for (int k = 0; k < P_; ++k) {
        int best = -1;
        int64_t best_tag = 0;
        for (uint64_t b = nonempty_ & ~grant; b; b &= b - 1) {
          int gi = __builtin_ctzll(b);
          int64_t t = tag_[size_t(gi * D_ + head_[gi])];
          if (best < 0 || t < best_tag) best = gi, best_tag = t;
        }
        grant |= uint64_t(1) << best;
      }
    }
    for (uint64_t b = grant; b; b &= b - 1) {
      int gi = __builtin_ctzll(b);
      head_[gi] = (head_[gi] + 1) % D_;
      if (--size_[gi] == 0) nonempty_ &= ~(uint64_t(1) << gi);
      ++cur_.pop;
    }
  }

  const SparseLayer& s_;
  int G_, D_, L_, P_;
  const uint64_t* mask_ = nullptr;
  int64_t T_ = 0, r_ = 0;
  int ng_ = 0;
  int head_[64] = {}, size_[64] = {};
  std::vector<int64_t> tag_;
  std::vector<int64_t> extra_prefix_;  // Σ max(0, popcount − 1) of ws_mask up to each entry
  uint64_t nonempty_ = 0;
};

// OS: each group of G pixel rows walks its own list of k with work; per clock at most F groups
// (weight_feeds) advance, each reading its own weight row; the groups with the most k left go
// first (ties to the lower group), which finishes in max(max_g n_g, ceil(Σ n_g / F)) clocks.
class OsSkipStream : public CachedStream {
 public:
  OsSkipStream(const HwConfig& hw, const SparseLayer& s)
      : s_(s),
        F_(hw.sparsity.skip.weight_feeds),
        bits_(hw.elem_bits()),
        word_bits_(hw.buf[kWeights].word_bits) {}
  void begin(int64_t, const FoldWork& w, Counters& c) override {
    const int64_t mt = w.m0 / s_.R;
    ng_ = int((w.rows_used + s_.G - 1) / s_.G);
    left_.assign(size_t(ng_), 0);
    int64_t total = 0;
    for (int g = 0; g < ng_; ++g)
      left_[size_t(g)] = s_.os_count[size_t(mt * s_.os_groups + g)], total += left_[size_t(g)];
    c.fe_zero_detect += w.stream * w.rows_used;
    c.fe_bitmap_ops += w.stream * ng_;
    // Every advancing group reads its own weight row instead of one broadcast row per clock.
    int64_t words = detail::words(w.cols_used, bits_, word_bits_);
    c.sram_weights_rd += (total - w.stream) * words;
    start(mt);
  }

 private:
  bool idle() const override {
    for (int64_t v : left_)
      if (v) return false;
    return true;
  }
  void tick() override {
    int busy = 0;
    for (int64_t v : left_) busy += v > 0;
    int take = std::min(busy, F_);
    cur_.feed_wait += busy - take;
    uint64_t chosen = 0;
    for (int k = 0; k < take; ++k) {
      int best = -1;
      for (int g = 0; g < ng_; ++g)
        if (left_[size_t(g)] > 0 && !(chosen >> g & 1) &&
            (best < 0 || left_[size_t(g)] > left_[size_t(best)]))
          best = g;
      chosen |= uint64_t(1) << best;
    }
    for (int g = 0; g < ng_; ++g)
      if (chosen >> g & 1) --left_[size_t(g)];
  }

  const SparseLayer& s_;
  int F_, bits_, word_bits_;
  int ng_ = 0;
  std::vector<int64_t> left_;
};

}  // namespace

std::unique_ptr<StreamModel> make_skip_stream(const HwConfig& hw, const SparseLayer& s) {
  if (!hw.sparsity.skip.enabled) return nullptr;
  if (hw.array.dataflow == Dataflow::ws) return std::make_unique<WsSkipStream>(hw, s);
  if (hw.array.dataflow == Dataflow::os) return std::make_unique<OsSkipStream>(hw, s);
  return nullptr;  // IS: skipping compacts folds in the plan; the stream stays dense
}

}  // namespace eatsim::sim
