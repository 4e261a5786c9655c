// Fold engine: see engine.hpp.
#include "sim/engine.hpp"

#include "sim/dram_trace.hpp"

#include <cmath>

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

FoldEngine::FoldEngine(const HwConfig& hw, const DataflowPlan& plan, std::unique_ptr<StreamModel> stream,
                       MemoryPort* memory, const LayerFacts& facts)
    : plan_(plan),
      facts_(facts),
      word_bits_ifmap_(hw.buf[kIfmap].word_bits),
      own_memory_(hw.dram.bytes_per_cycle, hw.dram.latency),
      mem_(memory ? memory : &own_memory_),
      stream_(std::move(stream)) {
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
    finish();
    return;
  }
  // Before the first fold: each buffer prefetches as deep as it may.
  for (int64_t g = 0; g < max_depth && g < n_folds_; ++g)
    for (int b = 0; b < kNumBufs; ++b)
      if (g < depth_[b]) issue_read(g, b);
  phase_ = Phase::wait_data;
  update_wait();
}

const FoldWork& FoldEngine::work(int64_t fold) {
  size_t s = static_cast<size_t>(fold % kRing);
  if (work_owner_[s] != fold) work_[s] = plan_.fold(fold), work_owner_[s] = fold;
  return work_[s];
}

int64_t AnalyticMemory::transfer(int64_t now, int64_t, int buf, int64_t bytes) {
  if (DramObserver* o = dram_observer()) o->transfer(now, buf, bytes);
  return ch_.transfer(now, bytes);
}

void FoldEngine::issue_read(int64_t fold, int buf) {
  size_t s = static_cast<size_t>(fold % kRing);
  if (ready_owner_[s] != fold) ready_[s] = 0, ready_owner_[s] = fold, pending_reads_[s] = 0;
  int64_t bytes = work(fold).dram_rd[buf];
  if (bytes <= 0) return;
  c_.dram_rd(buf) += bytes;
  int64_t at = mem_->transfer(now_, fold, buf, bytes);
  if (at == MemoryPort::kPending)
    ++pending_reads_[s];
  else
    ready_[s] = std::max(ready_[s], at);
}

void FoldEngine::transfer_done(int64_t fold, int buf, int64_t at) {
  if (buf == MemoryPort::kWrite) {
    --pending_writes_;
    last_write_done_ = std::max(last_write_done_, at);
  } else {
    size_t s = static_cast<size_t>(fold % kRing);
    --pending_reads_[s];
    ready_[s] = std::max(ready_[s], at);
  }
  update_wait();
}

int FoldEngine::pending(int64_t fold, int buf) const {
  if (buf == MemoryPort::kWrite) return pending_writes_;
  size_t s = static_cast<size_t>(fold % kRing);
  return ready_owner_[s] == fold ? pending_reads_[s] : 0;
}

// A phase that waits for DRAM lasts until the memory's answer, or at least one more cycle while an
// answer is pending. Without stalls (SCALE-Sim's compute model) it never waits.
void FoldEngine::update_wait() {
  if (!stalls_) {
    if (phase_ == Phase::wait_data || phase_ == Phase::writeback) remaining_ = 0;
  } else if (phase_ == Phase::wait_data) {
    size_t s = static_cast<size_t>(fold_ % kRing);
    bool pending = ready_owner_[s] == fold_ && pending_reads_[s] > 0;
    int64_t ready = ready_owner_[s] == fold_ ? ready_[s] : 0;
    remaining_ = pending ? MemoryPort::kPending : std::max<int64_t>(0, ready - now_);
  } else if (phase_ == Phase::writeback) {
    remaining_ = pending_writes_ > 0 ? MemoryPort::kPending : std::max<int64_t>(0, last_write_done_ - now_);
  }
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
    int64_t at = mem_->transfer(now_, fold_, MemoryPort::kWrite, w.dram_wr);
    if (at == MemoryPort::kPending)
      ++pending_writes_;
    else
      last_write_done_ = std::max(last_write_done_, at);
  }
  // The buffer half this fold used is free: prefetch the fold that will use it.
  for (int b = 0; b < kNumBufs; ++b)
    if (fold_ + depth_[b] < n_folds_) issue_read(fold_ + depth_[b], b);
  ++fold_;
  phase_ = fold_ < n_folds_ ? Phase::wait_data : Phase::writeback;
  update_wait();
}

void FoldEngine::finish() {
  phase_ = Phase::done;
  c_.dma_busy_cycles = mem_->busy_cycles();
  const LayerFacts& f = facts_;
  if (f.dense_macs == 0) return;  // no layer facts: the schedule's own counts (its MAC slots)
  c_.mac_dense = f.dense_macs;
  c_.mac_pad = f.pad_macs;
  if (const ScanTotals* sp = f.sp) {
    const int64_t N = f.N, skipped = f.skip ? sp->skipped_entries : 0;
    c_.mac_skipped = skipped * N;
    c_.mac_gated = f.gate ? (sp->zero_entries - skipped) * N + sp->zero_weight_macs : 0;
    // A gated MAC reads no operand registers and writes no result; skipped slices still occupy
    // MAC slots of WS/OS folds (their registers are not read either), IS compaction removed them.
    int64_t quiet = c_.mac_gated + (f.skip_in_folds ? 0 : c_.mac_skipped);
    c_.reg_read -= 2 * quiet;
    c_.reg_write -= quiet;
    c_.mac_nonzero = sp->mac_nonzero;
    c_.gslices = sp->gslices, c_.gslices_zero = sp->gslices_zero;
    c_.act_elems = sp->act_elems, c_.act_nonzero_fp32 = sp->act_nonzero_fp32,
    c_.act_nonzero = sp->act_nonzero;
    c_.weight_elems = sp->weight_elems, c_.weight_nonzero_fp32 = sp->weight_nonzero_fp32;
    c_.weight_nonzero = sp->weight_nonzero;
  }
  c_.mac_effective = c_.mac_dense - c_.mac_pad - c_.mac_skipped - c_.mac_gated;
  if (f.in_bits > 0) {
    // The array reads the compressed input: ifmap-buffer reads shrink with it, and the metadata
    // travels with the values (DRAM once per fetch, SRAM once per read pass).
    const double raw = double(f.in_raw_bits);
    double passes = double(c_.sram_ifmap_rd) * word_bits_ifmap_ / raw;
    c_.sram_ifmap_rd = static_cast<int64_t>(std::ceil(double(c_.sram_ifmap_rd) * double(f.in_bits) / raw));
    c_.meta_sram_bits += static_cast<int64_t>(std::ceil(passes * double(f.in_meta_bits)));
    c_.meta_dram_bytes +=
        (f.in_meta_bits + 7) / 8 * (c_.dram_ifmap_rd_bytes / std::max<int64_t>(1, f.ifmap_bytes));
    c_.meta_dram_bytes += (f.out_meta_bits + 7) / 8;
    c_.meta_sram_bits += f.out_meta_bits;  // written into the psum/ofmap buffer with the values
  }
  if (f.res_meta_bits > 0) {  // fetched with the values into the psum buffer, read once by the PPU
    c_.meta_dram_bytes += (f.res_meta_bits + 7) / 8;
    c_.meta_sram_bits += 2 * f.res_meta_bits;
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
        finish();
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
