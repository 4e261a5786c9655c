// The clocked DRAM channel of the SystemC model, as plain C++ (the Dram module is its shell): it
// moves whole bytes per clock and holds each completed transfer in a latency line. Its timing is
// DmaChannel's by construction of the clock mapping (docs/microarchitecture.md, "Clocked model").
#pragma once
#include <cstdint>
#include <deque>
#include <ostream>
#include <random>
#include <vector>

namespace eatsim::sysc {

// A DRAM transfer as it travels PE array -> DMA -> DRAM: a read of `bytes` into buffer `buf` for
// `fold`, or a write-back (buf == MemoryPort::kWrite). `issued`: absolute cycle.
struct MemRequest {
  uint64_t id = 0;
  int64_t fold = 0;
  int buf = 0;
  int64_t bytes = 0;
  int64_t issued = 0;
  int src = 0;  // who asked: kFromArray or kFromPpu (the DMA routes the answer back there)
};
constexpr int kFromArray = 0, kFromPpu = 1;
// Its completion as it travels DRAM -> DMA -> buffer -> PE array; `at`: absolute cycle its data is
// in (reads) or its last byte is written (writes).
struct MemResponse {
  uint64_t id = 0;
  int64_t fold = 0;
  int buf = 0;
  int64_t bytes = 0;
  int64_t at = 0;
  int src = 0;
};
inline std::ostream& operator<<(std::ostream& o, const MemRequest& r) {
  return o << "req#" << r.id << "(fold " << r.fold << ", buf " << r.buf << ", " << r.bytes << " B @"
           << r.issued << ")";
}
inline std::ostream& operator<<(std::ostream& o, const MemResponse& r) {
  return o << "resp#" << r.id << "(fold " << r.fold << ", buf " << r.buf << ", " << r.bytes << " B, in @"
           << r.at << ")";
}

// Test-only disturbances of the DRAM (the model itself is deterministic): a cycle moves no byte
// with probability `move_stall`, a response is held up to `max_response_delay` extra cycles
// (responses keep their order).
struct DramStalls {
  double move_stall = 0;
  int max_response_delay = 0;
  uint64_t seed = 1;
  bool any() const { return move_stall > 0 || max_response_delay > 0; }
};

class ClockedDram {
 public:
  void configure(int64_t bytes_per_cycle, int64_t latency) { bw_ = bytes_per_cycle, latency_ = latency; }
  void set_stalls(const DramStalls& s) { stalls_ = s, rng_.seed(s.seed); }
  void accept(const MemRequest& r) { queue_.push_back(r); }
  bool idle() const { return queue_.empty() && line_.empty(); }
  int64_t busy_cycles() const { return busy_; }

  // Clock x: moves up to bytes_per_cycle bytes of the oldest transfer issued by x (a transfer
  // occupies whole cycles: ceil(bytes / bw)); a transfer whose last byte moved in cycle c is
  // answered L cycles later, while cycle c + L is handled, with its data in at c + L + 1.
  void tick(int64_t x, std::vector<MemResponse>& out) {
    if (!queue_.empty() && queue_.front().issued <= x && !stall_now()) {
      const MemRequest& h = queue_.front();
      if (left_ < 0) left_ = h.bytes;
      left_ -= left_ < bw_ ? left_ : bw_;
      ++busy_;
      if (left_ == 0) {
        int64_t due = x + latency_ + extra_delay();
        if (!line_.empty() && line_.back().first > due) due = line_.back().first;  // in order
        line_.push_back({due, MemResponse{h.id, h.fold, h.buf, h.bytes, due + 1, h.src}});
        queue_.pop_front();
        left_ = -1;
      }
    }
    while (!line_.empty() && line_.front().first <= x) {
      out.push_back(line_.front().second);
      line_.pop_front();
    }
  }

 private:
  bool stall_now() {
    return stalls_.move_stall > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < stalls_.move_stall;
  }
  int64_t extra_delay() {
    return stalls_.max_response_delay > 0
               ? std::uniform_int_distribution<int>(0, stalls_.max_response_delay)(rng_)
               : 0;
  }
  int64_t bw_ = 1, latency_ = 0;
  int64_t left_ = -1, busy_ = 0;
  std::deque<MemRequest> queue_;
  std::deque<std::pair<int64_t, MemResponse>> line_;  // (cycle handled when it leaves, response)
  DramStalls stalls_;
  std::mt19937_64 rng_;
};

}  // namespace eatsim::sysc
