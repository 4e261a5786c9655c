// Fold engine: see engine.hpp.
#include "sim/engine.hpp"

#include <algorithm>

namespace eatsim::sim {

int64_t DmaChannel::transfer(int64_t now, int64_t bytes) {
  if (bytes <= 0) return now;
  int64_t t = (bytes + bw_ - 1) / bw_;
  int64_t start = std::max(now, free_at_);
  free_at_ = start + t;
  busy_ += t;
  return start + t + latency_;
}

int prefetch_depth(const BufferConfig& b, int64_t max_fold_bytes) {
  if (!b.double_buffered) return 1;
  int64_t per_half = b.usable_bytes() / std::max<int64_t>(1, max_fold_bytes);
  return 1 + static_cast<int>(std::clamp<int64_t>(per_half, 1, kMaxPrefetch - 1));
}

FoldEngine::FoldEngine(const HwConfig& hw, const DataflowPlan& plan, std::unique_ptr<StreamModel> stream)
    : plan_(plan), dma_(hw.dram.bytes_per_cycle, hw.dram.latency), stream_(std::move(stream)) {
  if (!stream_) stream_ = std::make_unique<DenseStream>();
  n_folds_ = plan.num_folds();
  preload_ = plan.preload_cycles();
  drain_ = int64_t(hw.array.rows) + hw.array.cols - 2;
  // SCALE-Sim's compute model preloads every fold in full and never waits for DRAM.
  overlap_ = hw.array.preload_overlap && !hw.scalesim_compat;
  stalls_ = !hw.scalesim_compat;
  int max_depth = 1;
  for (int b = 0; b < kNumBufs; ++b) {
    depth_[b] = prefetch_depth(hw.buf[b], plan.max_fold_read_bytes(b));
    max_depth = std::max(max_depth, depth_[b]);
  }
  ready_owner_.fill(-1), work_owner_.fill(-1);
  if (n_folds_ == 0) {
    phase_ = Phase::done;
    return;
  }
  // Before the first fold: each buffer prefetches as deep as it may.
  for (int64_t g = 0; g < max_depth && g < n_folds_; ++g)
    for (int b = 0; b < kNumBufs; ++b)
      if (g < depth_[b]) issue_read(g, b);
  phase_ = Phase::wait_data;
  remaining_ = stalls_ ? std::max<int64_t>(0, ready_[0] - now_) : 0;
}

const FoldWork& FoldEngine::work(int64_t fold) {
  size_t s = static_cast<size_t>(fold % kRing);
  if (work_owner_[s] != fold) work_[s] = plan_.fold(fold), work_owner_[s] = fold;
  return work_[s];
}

void FoldEngine::issue_read(int64_t fold, int buf) {
  size_t s = static_cast<size_t>(fold % kRing);
  if (ready_owner_[s] != fold) ready_[s] = 0, ready_owner_[s] = fold;
  int64_t bytes = work(fold).dram_rd[buf];
  if (bytes <= 0) return;
  c_.dram_rd(buf) += bytes;
  ready_[s] = std::max(ready_[s], dma_.transfer(now_, bytes));
}

void FoldEngine::begin_compute() {
  const FoldWork& w = work(fold_);
  c_.folds += 1;
  c_.mac_dense += w.mac_slots;
  c_.reg_read += w.reg_read;
  c_.reg_write += w.reg_write;
  c_.psum_add += w.psum_add;
  c_.meta_sram_bits += w.meta_bits;
  for (int b = 0; b < kNumBufs; ++b) c_.sram_rd(b) += w.sram_rd[b], c_.sram_wr(b) += w.sram_wr[b];
  phase_ = Phase::preload;
  remaining_ = (fold_ == 0 || !overlap_) ? preload_ : 0;
}

void FoldEngine::end_fold() {
  const FoldWork& w = work(fold_);
  if (w.dram_wr > 0) {
    c_.dram_wr_bytes += w.dram_wr;
    last_write_done_ = std::max(last_write_done_, dma_.transfer(now_, w.dram_wr));
  }
  // The buffer half this fold used is free: prefetch the fold that will use it.
  for (int b = 0; b < kNumBufs; ++b)
    if (fold_ + depth_[b] < n_folds_) issue_read(fold_ + depth_[b], b);
  ++fold_;
  if (fold_ < n_folds_) {
    phase_ = Phase::wait_data;
    remaining_ = stalls_ ? std::max<int64_t>(0, ready_[fold_ % kRing] - now_) : 0;
  } else {
    phase_ = Phase::writeback;
    remaining_ = stalls_ ? std::max<int64_t>(0, last_write_done_ - now_) : 0;
  }
}

void FoldEngine::settle() {
  for (;;) {
    if (phase_ == Phase::done) return;
    if (phase_ == Phase::stream ? !stream_->finished() : remaining_ > 0) return;
    switch (phase_) {
      case Phase::wait_data:
        begin_compute();
        break;
      case Phase::preload:
        phase_ = Phase::stream;
        stream_->begin(fold_, work(fold_), c_);
        break;
      case Phase::stream:
        phase_ = Phase::drain, remaining_ = drain_;
        break;
      case Phase::drain:
        end_fold();
        break;
      case Phase::writeback:
        phase_ = Phase::done;
        c_.dma_busy_cycles = dma_.busy_cycles();
        break;
      case Phase::done:
        break;
    }
  }
}

// Takes up to n cycles of the current phase; returns how many passed.
int64_t FoldEngine::consume(int64_t n) {
  if (phase_ == Phase::stream) {
    n = stream_->advance(n, c_);
    c_.cycles_stream += n;
    now_ += n;
    return n;
  }
  n = std::min(n, remaining_);
  switch (phase_) {
    case Phase::wait_data:
      c_.cycles_stall += n;
      break;
    case Phase::preload:
      c_.cycles_preload += n;
      break;
    case Phase::drain:
      c_.cycles_drain += n;
      break;
    case Phase::writeback:
      c_.cycles_writeback += n;
      break;
    default:
      return 0;
  }
  now_ += n, remaining_ -= n;
  return n;
}

void FoldEngine::step() {
  settle();
  if (done()) return;
  consume(1);
  settle();
}

int64_t FoldEngine::run(int64_t max_cycles) {
  int64_t start = now_;
  settle();
  while (!done() && now_ - start < max_cycles) {
    consume(max_cycles - (now_ - start));
    settle();
  }
  return now_ - start;
}

}  // namespace eatsim::sim
