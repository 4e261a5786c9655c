// SystemC modules of the clocked model (private: only sim/systemc/*.cpp include SystemC). Each is
// a thin shell: the PE array steps the plain-C++ FoldEngine, the DRAM ticks ClockedDram, the rest
// route typed messages. Channels (sc_fifo depths, which edge samples what) are chosen in model.cpp
// where the modules are wired, not here. Clock mapping and priorities: docs/microarchitecture.md,
// "Clocked model".
#pragma once
#include <systemc>

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <vector>

#include "sim/engine.hpp"
#include "sim/network.hpp"
#include "sim/ppu.hpp"
#include "sim/systemc/clocked.hpp"
#include "sim/systemc/dram_model.hpp"

namespace eatsim::sysc {

// Typed messages between modules.
struct RowStart {  // controller -> PE array: run this engine (built on the model's MemoryPort)
  sim::FoldEngine* engine = nullptr;
};
struct PpuJob {  // controller -> PPU: cycles of ppu.width operations on the row's output stream
  int64_t cycles = 0;
};
struct PpuRowJob {  // controller -> PPU: a row of PPU work with no array layer upstream
  int64_t read_bytes = 0, write_bytes = 0, cycles = 0;
};
struct ArrayEnd {  // PE array -> PPU: the array computed its last cycle of the row
  int64_t cycle = 0;
};
struct RowEnd {  // PE array -> controller: the row is over and no transfer is outstanding
  int64_t cycle = 0;
};
// PE array -> sparse front end: what the lane groups did in one clock (only clocks with activity).
struct FrontEndActivity {
  int64_t cycle = 0;
  int64_t push = 0, pop = 0, reader_stall = 0, port_wait = 0, feed_wait = 0;
  bool any() const { return push || pop || reader_stall || port_wait || feed_wait; }
};
struct PpuDone {      // PPU -> controller
  int64_t tail = 0;   // cycles it ran past the array (a PPU-only row: the cycles it worked)
  int64_t stall = 0;  // PPU-only row: cycles it then waited for DRAM
};
std::ostream& operator<<(std::ostream& o, const RowStart& m);
std::ostream& operator<<(std::ostream& o, const PpuJob& m);
std::ostream& operator<<(std::ostream& o, const PpuRowJob& m);
std::ostream& operator<<(std::ostream& o, const ArrayEnd& m);
std::ostream& operator<<(std::ostream& o, const FrontEndActivity& m);
std::ostream& operator<<(std::ostream& o, const RowEnd& m);
std::ostream& operator<<(std::ostream& o, const PpuDone& m);

// What the array did in the cycle just processed (a signal the PPU samples at the falling edge).
enum CycleKind : int { kIdle = 0, kCompute = 1, kOther = 2 };

// Absolute clock index: rising edge k and the falling edge after it both read k.
int64_t clock_index();

using Observer = std::function<void(const WireEvent&)>;

// The engine's DRAM side in the clocked model: transfers wait in an outbox the PE array flushes to
// the DMA after each step; every answer comes back later through the buffers.
class ClockedPort : public sim::MemoryPort {
 public:
  int64_t transfer(int64_t now, int64_t fold, int buf, int64_t bytes) override {
    outbox.push_back(MemRequest{next_id++, fold, buf, bytes, now});
    return kPending;
  }
  int64_t busy_cycles() const override { return 0; }  // measured by the DRAM module instead
  std::vector<MemRequest> outbox;                     // issued times relative to the row
  uint64_t next_id = 1;
};

SC_MODULE(PeArray) {
  sc_core::sc_in<bool> clk;
  sc_core::sc_fifo_in<RowStart> start;
  sc_core::sc_fifo_out<MemRequest> req;
  sc_core::sc_fifo_in<MemResponse> data_in[sim::kNumBufs];  // from the ifmap, weight, psum buffers
  sc_core::sc_fifo_in<MemResponse> write_done;              // from the DMA
  sc_core::sc_out<int> cycle_kind;
  sc_core::sc_fifo_out<FrontEndActivity> front_end;
  sc_core::sc_fifo_out<ArrayEnd> array_end;
  sc_core::sc_fifo_out<RowEnd> row_end;

  ClockedPort* port = nullptr;
  const Observer* observer = nullptr;

  SC_CTOR(PeArray) {
    SC_METHOD(on_rising);
    sensitive << clk.pos();
    dont_initialize();
  }
  void on_rising();

 private:
  void flush();
  void take(const MemResponse& r);
  sim::FoldEngine* e_ = nullptr;
  int64_t base_ = 0;  // absolute clock of the row's cycle 0 minus one (the setup edge)
  int64_t outstanding_ = 0;
  bool ended_ = false;
};

// The sparse front end's outward face. Its state (reader, lane FIFOs, accumulator ports, weight
// feeds) is the engine's stream model, stepped inside the PE-array process by the same step(), so
// that delta-cycle order cannot change a result; this module takes each clock's activity from the
// array on a typed channel and keeps the front end's event totals and active clocks.
SC_MODULE(SparseFrontEnd) {
  sc_core::sc_fifo_in<FrontEndActivity> activity;
  FrontEndTotals totals;

  SC_CTOR(SparseFrontEnd) {
    SC_METHOD(on_activity);
    sensitive << activity.data_written();
    dont_initialize();
  }
  void on_activity();
};

SC_MODULE(Dma) {
  sc_core::sc_fifo_in<MemRequest> from_array, from_ppu;
  sc_core::sc_fifo_out<MemRequest> to_dram;
  sc_core::sc_fifo_in<MemResponse> from_dram;
  sc_core::sc_fifo_out<MemResponse> fill[sim::kNumBufs];
  sc_core::sc_fifo_out<MemResponse> write_done, to_ppu;
  const Observer* observer = nullptr;

  SC_CTOR(Dma) {
    SC_METHOD(forward);
    sensitive << from_array.data_written() << from_ppu.data_written();
    dont_initialize();
    SC_METHOD(route);
    sensitive << from_dram.data_written();
    dont_initialize();
  }
  void forward();
  void route();
};

SC_MODULE(SramBuffer) {
  sc_core::sc_fifo_in<MemResponse> fill_in;
  sc_core::sc_fifo_out<MemResponse> data_out;
  const Observer* observer = nullptr;
  int word_bits = 8;
  int64_t fill_words = 0, fill_bytes = 0;  // buffer writes of DRAM fills (checked against the engine)

  SC_CTOR(SramBuffer) {
    SC_METHOD(on_fill);
    sensitive << fill_in.data_written();
    dont_initialize();
  }
  void on_fill();
};

SC_MODULE(Dram) {
  sc_core::sc_in<bool> clk;
  sc_core::sc_fifo_in<MemRequest> req_in;
  sc_core::sc_fifo_out<MemResponse> resp_out;
  sc_core::sc_out<int64_t> busy_cycles;
  ClockedDram model;

  SC_CTOR(Dram) {
    SC_METHOD(on_falling);
    sensitive << clk.neg();
    dont_initialize();
  }
  void on_falling();

 private:
  std::vector<MemResponse> out_;
};

// The PPU: its timing is sim::PpuOnStream (on an array row's output stream) and sim::PpuRow (a
// row of its own, whose DRAM transfers this module forwards to the DMA), stepped once per clock.
struct Ppu : sc_core::sc_module, sim::MemoryPort {
  sc_core::sc_in<bool> clk;
  sc_core::sc_fifo_in<PpuJob> job;
  sc_core::sc_in<int> cycle_kind;
  sc_core::sc_fifo_in<ArrayEnd> array_end;
  sc_core::sc_fifo_out<PpuDone> done;
  // A PPU-only row: the PPU moves its own data through the DMA.
  sc_core::sc_fifo_in<PpuRowJob> row_job;
  sc_core::sc_fifo_out<MemRequest> req;
  sc_core::sc_fifo_in<MemResponse> mem_done;

  SC_HAS_PROCESS(Ppu);
  explicit Ppu(sc_core::sc_module_name name) : sc_core::sc_module(name) {
    SC_METHOD(on_falling);
    sensitive << clk.neg();
    dont_initialize();
    SC_METHOD(on_rising);
    sensitive << clk.pos();
    dont_initialize();
  }
  void on_falling();  // on an array's output stream
  void on_rising();   // a PPU-only row
  int64_t transfer(int64_t now, int64_t fold, int buf, int64_t bytes) override;
  int64_t busy_cycles() const override { return 0; }  // the DMA module measures the channel

 private:
  bool active_ = false, array_ended_ = false;
  sim::PpuOnStream stream_;
  std::unique_ptr<sim::PpuRow> row_;  // a PPU-only row, in row cycles from its set-up edge base_
  int64_t base_ = 0;
  uint64_t next_id_ = 1;
};

SC_MODULE(Controller) {
  sc_core::sc_in<bool> clk;
  sc_core::sc_fifo_out<RowStart> to_array;
  sc_core::sc_fifo_out<PpuJob> to_ppu;
  sc_core::sc_fifo_out<PpuRowJob> to_ppu_row;
  sc_core::sc_fifo_in<RowEnd> from_array;
  sc_core::sc_fifo_in<PpuDone> from_ppu;
  sc_core::sc_in<int64_t> dram_busy;

  // The row the host asked for (set between sc_start calls); `finished` once it is over.
  struct Job {
    sim::FoldEngine* engine = nullptr;  // null: a PPU-only row
    int64_t ppu_cycles = 0;
    int64_t read_bytes = 0, write_bytes = 0;  // PPU-only row
  };
  void submit(const Job& j) { job_ = j, pending_ = true, finished = false; }
  bool finished = true;
  sim::ClockedModel::RowResult result;

  SC_CTOR(Controller) {
    SC_METHOD(on_rising);
    sensitive << clk.pos();
    dont_initialize();
  }
  void on_rising();

 private:
  Job job_;
  bool pending_ = false, running_ = false, array_done_ = false, ppu_done_ = false;
  int64_t busy0_ = 0, tail_ = 0, stall_ = 0;
};

}  // namespace eatsim::sysc
