// The clocked model's top level: wires the modules with typed channels (the channel choices live
// here) and runs rows for sim::Fidelity::cycle. SystemC 2.3 elaborates once per process, so the
// design is built on the first row and kept: every row is handed to the controller between
// sc_start() calls, and the controller pauses the kernel (sc_pause) when the row is over.
#include <cstdlib>
#include <memory>
#include <mutex>

#include "sim/network.hpp"
#include "sim/systemc/clocked.hpp"
#include "sim/systemc/modules.hpp"

// libsystemc's own main() wants an sc_main; eatsim has its own main and never calls this.
int sc_main(int, char**) { return 1; }

namespace eatsim::sysc {
namespace {

using namespace sc_core;

// Depth of every message channel: more than any producer writes on one edge (a step issues at
// most one write-back and kNumBufs reads per prefetch depth, <= 1 + 3 * 8).
constexpr int kDepth = 64;

SC_MODULE(Top) {
  sc_clock clk{"clk", 1, SC_NS};
  Controller ctrl{"controller"};
  PeArray array{"pe_array"};
  Dma dma{"dma"};
  Dram dram{"dram"};
  SramBuffer buf0{"ifmap_buffer"}, buf1{"weight_buffer"}, buf2{"psum_buffer"};
  Ppu ppu{"ppu"};
  SparseFrontEnd front_end{"sparse_front_end"};

  sc_fifo<RowStart> row_start{"row_start", kDepth};
  sc_fifo<PpuJob> ppu_job{"ppu_job", kDepth};
  sc_fifo<PpuRowJob> ppu_row_job{"ppu_row_job", kDepth};
  sc_fifo<MemRequest> ppu_to_dma{"ppu_to_dma", kDepth};
  sc_fifo<MemResponse> dma_to_ppu{"dma_to_ppu", kDepth};
  sc_fifo<RowEnd> row_end{"row_end", kDepth};
  sc_fifo<PpuDone> ppu_done{"ppu_done", kDepth};
  sc_fifo<ArrayEnd> array_end{"array_end", kDepth};
  sc_fifo<FrontEndActivity> fe_activity{"fe_activity", kDepth};
  sc_fifo<MemRequest> array_to_dma{"array_to_dma", kDepth}, dma_to_dram{"dma_to_dram", kDepth};
  sc_fifo<MemResponse> dram_to_dma{"dram_to_dma", kDepth}, write_done{"write_done", kDepth};
  sc_fifo<MemResponse> fill[sim::kNumBufs] = {sc_fifo<MemResponse>("fill_ifmap", kDepth),
                                              sc_fifo<MemResponse>("fill_weights", kDepth),
                                              sc_fifo<MemResponse>("fill_psum", kDepth)};
  sc_fifo<MemResponse> data_in[sim::kNumBufs] = {sc_fifo<MemResponse>("ifmap_in", kDepth),
                                                 sc_fifo<MemResponse>("weights_in", kDepth),
                                                 sc_fifo<MemResponse>("psum_in", kDepth)};
  sc_signal<int> cycle_kind{"cycle_kind"};
  sc_signal<int64_t> dram_busy{"dram_busy"};

  ClockedPort port;
  Observer observer;

  SC_CTOR(Top) {
    SramBuffer* bufs[sim::kNumBufs] = {&buf0, &buf1, &buf2};
    ctrl.clk(clk), array.clk(clk), dram.clk(clk), ppu.clk(clk);
    ctrl.to_array(row_start), array.start(row_start);
    ctrl.to_ppu(ppu_job), ppu.job(ppu_job);
    ctrl.to_ppu_row(ppu_row_job), ppu.row_job(ppu_row_job);
    ppu.req(ppu_to_dma), dma.from_ppu(ppu_to_dma);
    dma.to_ppu(dma_to_ppu), ppu.mem_done(dma_to_ppu);
    array.row_end(row_end), ctrl.from_array(row_end);
    ppu.done(ppu_done), ctrl.from_ppu(ppu_done);
    array.array_end(array_end), ppu.array_end(array_end);
    array.front_end(fe_activity), front_end.activity(fe_activity);
    array.cycle_kind(cycle_kind), ppu.cycle_kind(cycle_kind);
    dram.busy_cycles(dram_busy), ctrl.dram_busy(dram_busy);
    array.req(array_to_dma), dma.from_array(array_to_dma);
    dma.to_dram(dma_to_dram), dram.req_in(dma_to_dram);
    dram.resp_out(dram_to_dma), dma.from_dram(dram_to_dma);
    dma.write_done(write_done), array.write_done(write_done);
    for (int b = 0; b < sim::kNumBufs; ++b) {
      dma.fill[b](fill[b]), bufs[b]->fill_in(fill[b]);
      bufs[b]->data_out(data_in[b]), array.data_in[b](data_in[b]);
      bufs[b]->observer = &observer;
    }
    array.port = &port;
    array.observer = &observer, dma.observer = &observer;
  }
};

std::mutex g_mu;  // one kernel per process: rows run one at a time
Top* g_top = nullptr;
DramStalls g_stalls;
Observer g_observer;

Top& top() {
  if (!g_top) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
    g_top = new Top("eatsim");  // lives as long as the process, like the kernel it is elaborated in
  }
  return *g_top;
}

// Rows run one at a time on the one kernel of the process, from one thread (--jobs forks workers).
class SystemcModel : public sim::ClockedModel {
 public:
  sim::MemoryPort& memory(const sim::HwConfig& hw) override {
    Top& t = top();
    t.port.outbox.clear();
    t.dram.model.configure(hw.dram.bytes_per_cycle, hw.dram.latency);
    return t.port;
  }
  RowResult run(sim::FoldEngine& e, int64_t ppu_cycles) override {
    std::lock_guard<std::mutex> lock(g_mu);
    Top& t = top();
    t.dram.model.set_stalls(g_stalls);
    t.observer = g_observer;
    t.ctrl.submit({&e, ppu_cycles, 0, 0});
    while (!t.ctrl.finished) sc_start();
    return t.ctrl.result;
  }
  RowResult run_ppu_row(const sim::HwConfig& hw, int64_t read_bytes, int64_t write_bytes,
                        int64_t ppu_cycles) override {
    std::lock_guard<std::mutex> lock(g_mu);
    Top& t = top();
    t.dram.model.configure(hw.dram.bytes_per_cycle, hw.dram.latency);
    t.dram.model.set_stalls(g_stalls);
    t.observer = g_observer;
    t.ctrl.submit({nullptr, ppu_cycles, read_bytes, write_bytes});
    while (!t.ctrl.finished) sc_start();
    return t.ctrl.result;
  }
};

SystemcModel g_model;

}  // namespace

void install() { sim::install_clocked_model(&g_model); }
void set_dram_stalls(const DramStalls& s) { g_stalls = s; }
FrontEndTotals front_end_totals() { return top().front_end.totals; }
void reset_front_end_totals() { top().front_end.totals = {}; }
void set_wire_observer(std::function<void(const WireEvent&)> f) { g_observer = std::move(f); }

}  // namespace eatsim::sysc
