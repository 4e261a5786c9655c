// The PPU's timing, once, in plain C++: the fast path jumps it, the clocked SystemC Ppu module
// steps it one clock at a time (as the PE array module steps the FoldEngine), so both fidelities
// agree by construction. Each model's jump equals as many single steps (the StreamModel contract).
#pragma once
#include <algorithm>
#include <cstdint>

#include "sim/engine.hpp"

namespace eatsim::sim {

// The PPU on an array row's output stream. The psum buffer decouples it from the array: it works
// one cycle of ppu.width operations on every clock of the row (compute, DMA stall, write-back), as
// a real PPU drains one fold's outputs while the next computes or waits; what is left when the
// array's last clock has passed runs after it (the tail).
class PpuOnStream {
 public:
  explicit PpuOnStream(int64_t cycles = 0) : left_(cycles) {}
  void beside_array(int64_t clocks) { left_ -= std::min(clocks, left_); }  // clocks of the row
  void alone(int64_t clocks = 1) {  // clocks after the array's last one
    int64_t n = std::min(clocks, left_);
    left_ -= n, tail_ += n;
  }
  bool done() const { return left_ == 0; }
  int64_t left() const { return left_; }
  int64_t tail() const { return tail_; }

 private:
  int64_t left_ = 0, tail_ = 0;
};

// A row of PPU work with no array layer upstream, in row cycles: cycle 0 issues the read of its
// input (and residual operands); it works from cycle 0; the write-back leaves once the work is
// done and the input is in; the row ends when the write is done. Transfers go to a MemoryPort:
// answered at once (fast: AnalyticMemory) or later through transfer_done (the clocked DMA).
class PpuRow {
 public:
  PpuRow(int64_t read_bytes, int64_t write_bytes, int64_t cycles, MemoryPort& mem);
  void step();  // one clock: row cycle t becomes t + 1
  void run();   // to the end; every answer of the memory must be known (fast)
  // A transfer the memory answered kPending is in at row cycle `at`; the next step acts on it.
  void transfer_done(int buf, int64_t at);
  bool done() const { return done_; }
  int64_t worked() const { return worked_; }  // cycles of work
  int64_t waited() const { return waited_; }  // cycles the row then waited for DRAM

 private:
  void advance(int64_t n);  // n clocks with no event inside (an event may fall on the last)
  void settle();            // issues the write and ends the row when their time has come (no time)
  MemoryPort& mem_;
  int64_t write_bytes_, cycles_;
  int64_t t_ = 0, read_at_ = 0, write_at_ = 0, worked_ = 0, waited_ = 0;
  bool read_in_ = false, write_issued_ = false, write_in_ = false, done_ = false;
};

}  // namespace eatsim::sim
