// The fold engine: the one timing model of the array, its DMA and its buffers' double buffering.
// step() advances exactly one clock (the clocked SystemC model calls it once per cycle); run()
// jumps over whole phases whose length is known. Both update state through the same transitions,
// so they give identical cycles and counters by construction (a test pins it).
//
// A fold goes through phases: wait_data (its DRAM data not yet in the buffers: stall) → preload
// (stationary operand into the PEs) → stream (T vectors) → drain (R + C − 2 cycles of skew and
// pipeline). After the last fold, writeback waits for the last DRAM write. Events of a fold are
// counted when its compute starts; cycles are counted as they pass.
//
// The stream phase is a StreamModel: the dense one takes exactly T cycles; a lane-group stream
// (issue 9: FIFOs, reader, ports) keeps state stepped per clock and jumps only spans it can compute.
#pragma once
#include <array>
#include <cstdint>
#include <memory>

#include "sim/counters.hpp"
#include "sim/dataflow.hpp"
#include "sim/hwconfig.hpp"
#include "sim/layer_data.hpp"

namespace eatsim::sim {

// One DRAM channel: integer bytes per cycle, fixed latency, transfers served in issue order.
class DmaChannel {
 public:
  DmaChannel(int64_t bytes_per_cycle, int64_t latency) : bw_(bytes_per_cycle), latency_(latency) {}
  // Queues a transfer issued at `now`; returns the cycle its last byte is available. Counts the
  // cycles the channel is busy.
  int64_t transfer(int64_t now, int64_t bytes);
  int64_t busy_cycles() const { return busy_; }

 private:
  int64_t bw_, latency_;
  int64_t free_at_ = 0, busy_ = 0;
};

// The DRAM side of the engine. Fast mode answers every transfer at once with its completion cycle
// (AnalyticMemory, a DmaChannel); the clocked SystemC model forwards transfers to its DMA and DRAM
// modules, answers kPending, and reports each completion later through FoldEngine::transfer_done.
class MemoryPort {
 public:
  static constexpr int64_t kPending = INT64_MAX;
  static constexpr int kWrite = kNumBufs;  // `buf` of a write-back from the psum buffer
  virtual ~MemoryPort() = default;
  // A transfer issued at engine cycle `now`: a read of `bytes` into buffer `buf` for `fold`, or a
  // write-back (buf == kWrite). Returns the cycle its data is in (reads) or its last byte is
  // written (writes), or kPending.
  virtual int64_t transfer(int64_t now, int64_t fold, int buf, int64_t bytes) = 0;
  virtual int64_t busy_cycles() const = 0;  // cycles the channel moved bytes
};

class AnalyticMemory : public MemoryPort {
 public:
  AnalyticMemory(int64_t bytes_per_cycle, int64_t latency) : ch_(bytes_per_cycle, latency) {}
  // Shown to the thread's DramObserver first, when one is installed (sim/dram_trace.hpp).
  int64_t transfer(int64_t now, int64_t fold, int buf, int64_t bytes) override;
  int64_t busy_cycles() const override { return ch_.busy_cycles(); }

 private:
  DmaChannel ch_;
};

// The stream phase of one fold. Contract: advance(n) must leave the same state and counters as n
// calls of advance(1) — that is what makes jumping and stepping agree.
class StreamModel {
 public:
  virtual ~StreamModel() = default;
  // The fold's stream starts (fold index, its work); events known up front go to `c`.
  virtual void begin(int64_t fold, const FoldWork& w, Counters& c) = 0;
  virtual bool finished() const = 0;
  // Advances at most max_cycles (>= 1) cycles, fewer where it cannot compute the outcome further;
  // returns the cycles taken (>= 1 unless finished).
  virtual int64_t advance(int64_t max_cycles, Counters& c) = 0;
};

// Dense stream: one vector per cycle, T cycles, nothing data-dependent.
class DenseStream : public StreamModel {
 public:
  void begin(int64_t, const FoldWork& w, Counters&) override { left_ = w.stream; }
  bool finished() const override { return left_ == 0; }
  int64_t advance(int64_t max_cycles, Counters&) override {
    int64_t n = max_cycles < left_ ? max_cycles : left_;
    left_ -= n;
    return n;
  }

 private:
  int64_t left_ = 0;
};

// How many folds ahead of compute a buffer's DRAM reads are issued: 1 when single-buffered (the
// next fold's data may only arrive once the current fold is done); when double-buffered, 1 + the
// folds whose data fit in the half not being computed on (at least 1, at most kMaxPrefetch - 1).
constexpr int kMaxPrefetch = 8;
int prefetch_depth(const BufferConfig& b, int64_t max_fold_bytes);

// What the layer brings beyond its fold schedule, so that the engine's counters are final when its
// last write-back is done: the MAC classes (dense, padding; gated and skipped from the value scan)
// and the compressed input (the array reads it compressed, its metadata travels with it).
struct LayerFacts {
  int64_t dense_macs = 0, pad_macs = 0;  // dense_macs 0: no facts (the engine alone, as in tests)
  const ScanTotals* sp = nullptr;        // the layer's value scan (gate, skip), or null
  int64_t N = 0;                         // output channels: MACs per (m, k) entry
  bool gate = false, skip = false;
  bool skip_in_folds = false;  // IS: skipped rows are compacted out of the folds (no MAC slots)
  int64_t in_raw_bits = 0;     // input tensor as stored dense
  int64_t in_bits = 0;         // compressed input, values + metadata (0: not compressed)
  int64_t in_meta_bits = 0;    // its metadata
  int64_t ifmap_bytes = 0;     // bytes one fetch of the input moves (LayerIo::ifmap_bytes)
  int64_t out_meta_bits = 0;   // metadata of the compressed written-back tensors
  int64_t res_meta_bits = 0;   // metadata of the compressed residual operands
};

class FoldEngine {
 public:
  enum class Phase { wait_data, preload, stream, drain, writeback, done };

  // `stream`: the stream-phase model (dense when null). `memory`: where DRAM transfers go (not
  // owned; null: the engine's own AnalyticMemory). The constructor issues the first reads.
  FoldEngine(const HwConfig& hw, const DataflowPlan& plan, std::unique_ptr<StreamModel> stream = nullptr,
             MemoryPort* memory = nullptr, const LayerFacts& facts = {});
  bool done() const { return phase_ == Phase::done; }
  int64_t now() const { return now_; }
  Phase phase() const { return phase_; }
  int64_t fold_index() const { return fold_; }
  const Counters& counters() const { return c_; }

  // A transfer the memory answered kPending completed; its data is in (or its write done) at
  // cycle `at`. Reads of a fold count as in once every one of them has completed.
  void transfer_done(int64_t fold, int buf, int64_t at);
  // Transfers issued and not yet completed (reads of `fold`, or every write when buf == kWrite).
  int pending(int64_t fold, int buf) const;

  void step();                                  // one clock (nothing once done)
  int64_t run(int64_t max_cycles = INT64_MAX);  // jumps phase by phase; returns cycles advanced

 private:
  const FoldWork& work(int64_t fold);  // cached: the engine looks at most two folds ahead
  void issue_read(int64_t fold, int buf);
  void begin_compute();
  void end_fold();
  void settle();       // takes every transition due now (transitions take no time)
  void update_wait();  // remaining_ of wait_data / writeback from what the memory has answered
  int64_t consume(int64_t n);
  void finish();  // the last transition: layer-level counters (LayerFacts) and DMA busy time

  const DataflowPlan& plan_;
  LayerFacts facts_;
  int word_bits_ifmap_;
  AnalyticMemory own_memory_;
  MemoryPort* mem_;
  int64_t n_folds_, preload_, drain_;
  bool overlap_, stalls_;
  int depth_[kNumBufs];  // folds a buffer's reads run ahead of compute (see prefetch_depth)

  Phase phase_ = Phase::wait_data;
  std::unique_ptr<StreamModel> stream_;
  int64_t now_ = 0, remaining_ = 0, fold_ = 0;  // remaining_: of every phase but stream
  int64_t last_write_done_ = 0;
  int pending_writes_ = 0;
  static constexpr int kRing = 16;                      // > the deepest prefetch
  std::array<int64_t, kRing> ready_{}, ready_owner_{};  // per fold (mod kRing): when its data is in
  std::array<int, kRing> pending_reads_{};              // per fold: reads not yet answered
  std::array<FoldWork, kRing> work_{};
  std::array<int64_t, kRing> work_owner_{};
  Counters c_;
};

}  // namespace eatsim::sim
