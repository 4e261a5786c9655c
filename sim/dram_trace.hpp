// DRAM request traces: every DRAM transfer of a run (fast or step fidelity) as 64-byte requests
// with cycle, address and direction, in DRAMsim3's trace format (`0xADDR READ|WRITE CYCLE`) or
// Ramulator 2's LoadStoreTrace format (`LD|ST 0xADDR`), plain or gzip-compressed (a name ending
// in .gz). The address map is in docs/dram-trace.md.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "sim/hwconfig.hpp"

namespace eatsim::sim {

struct LayerGroup;

// Sees every transfer an AnalyticMemory answers on this thread while installed.
class DramObserver {
 public:
  virtual ~DramObserver() = default;
  // A transfer issued at row-local cycle `now` of `bytes` into buffer `buf` (kNumBufs: a write).
  virtual void transfer(int64_t now, int buf, int64_t bytes) = 0;
};
void set_dram_observer(DramObserver* o);  // thread-local; nullptr uninstalls
DramObserver* dram_observer();

enum class DramTraceFormat { dramsim3, ramulator2 };
bool dram_trace_format_from_name(const std::string& s, DramTraceFormat& out);

class DramTraceWriter : public DramObserver {
 public:
  static constexpr int64_t kRequestBytes = 64;
  // Writes to a temporary file beside `path`; close() publishes it atomically (FileError when it
  // cannot be written).
  DramTraceWriter(const std::string& path, DramTraceFormat f, const Graph& g, const HwConfig& hw);
  ~DramTraceWriter() override;
  // The next row starts at absolute cycle `start` (rows and samples follow each other).
  void begin_row(const LayerGroup& grp, int64_t start);
  void transfer(int64_t now, int buf, int64_t bytes) override;
  void close();
  int64_t requests() const { return requests_; }
  int64_t bytes() const { return bytes_; }
  // Where each tensor lives: (name, base address, bytes), in address order.
  struct Region {
    std::string name;
    uint64_t base = 0;
    int64_t bytes = 0;
  };
  const std::vector<Region>& regions() const { return regions_; }

 private:
  int region_of(int64_t bytes, const std::string& name);
  void emit(uint64_t addr, bool write, int64_t cycle);
  void write_line(uint64_t addr, bool write, int64_t cycle);
  void flush_row();

  struct Impl;
  std::unique_ptr<Impl> p_;
  DramTraceFormat format_;
  const Graph& g_;
  int64_t elem_bytes_, bytes_per_cycle_;
  std::vector<Region> regions_;
  std::vector<int64_t> cursor_;  // per region: the next offset a stream reads or writes
  int row_region_[kNumBufs + 1] = {-1, -1, -1, -1};
  std::vector<int> row_psum_regions_;  // residual operands, read one after the other
  size_t psum_at_ = 0;
  int64_t row_start_ = 0, requests_ = 0, bytes_ = 0;
};

}  // namespace eatsim::sim
