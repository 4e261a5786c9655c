// PPU timing: see ppu.hpp.
#include "sim/ppu.hpp"

#include <cstdint>

namespace eatsim::sim {

PpuRow::PpuRow(int64_t read_bytes, int64_t write_bytes, int64_t cycles, MemoryPort& mem)
    : mem_(mem), write_bytes_(write_bytes), cycles_(cycles) {
  if (read_bytes > 0) {
    int64_t at = mem_.transfer(0, 0, kIfmap, read_bytes);
    if (at != MemoryPort::kPending) read_in_ = true, read_at_ = at;
  } else {
    read_in_ = true;
  }
  settle();
}

void PpuRow::transfer_done(int buf, int64_t at) {
  if (buf == MemoryPort::kWrite)
    write_in_ = true, write_at_ = at;
  else
    read_in_ = true, read_at_ = at;
}

void PpuRow::settle() {
  if (!write_issued_ && t_ >= cycles_ && read_in_ && read_at_ <= t_) {
    write_issued_ = true;
    if (write_bytes_ > 0) {
      int64_t at = mem_.transfer(t_, 0, MemoryPort::kWrite, write_bytes_);
      if (at != MemoryPort::kPending) write_in_ = true, write_at_ = at;
    } else {
      write_in_ = true, write_at_ = t_;
    }
  }
  if (write_in_ && t_ >= write_at_ && t_ >= cycles_) done_ = true;
}

void PpuRow::advance(int64_t n) {
  int64_t work = std::min(n, std::max<int64_t>(0, cycles_ - t_));
  worked_ += work, waited_ += n - work, t_ += n;
  settle();
}

void PpuRow::step() {
  if (!done_) advance(1);
}

void PpuRow::run() {
  // Between the moments the work ends, the input arrives and the write completes nothing changes:
  // jump from one to the next (the same transitions as stepping).
  while (!done_) {
    int64_t next = INT64_MAX;
    for (int64_t e : {cycles_, read_in_ ? read_at_ : INT64_MAX, write_in_ ? write_at_ : INT64_MAX})
      if (e > t_) next = std::min(next, e);
    advance(next == INT64_MAX ? 1 : next - t_);
  }
}

}  // namespace eatsim::sim
