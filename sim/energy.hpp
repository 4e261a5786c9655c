// Energy at report time: Σ events × the hwconfig's energy table (DRAMsim3/Accelergy style). The
// per-event energies are resolved once from the config (EnergyTable), then applied to counters.
#pragma once
#include <string>
#include <vector>

#include "sim/counters.hpp"
#include "sim/hwconfig.hpp"

namespace eatsim::sim {

// pJ per event for one hardware configuration.
struct EnergyTable {
  double mac = 0, mac_gated = 0, psum_add = 0, reg_access = 0, ppu_op = 0;
  double sram_access[kNumBufs] = {0, 0, 0};  // one word read of each buffer (per bank size)
  double sram_write[kNumBufs] = {0, 0, 0};   // one word write: = the read unless an ERT says otherwise
  double dram_byte = 0;                      // one byte read from DRAM
  double dram_write_byte = 0;                // one byte written: = the read unless an ERT says otherwise
  double leak_per_cycle = 0;                 // all PEs + all SRAM + the sparse front end's lane groups
  double mac_idle = 0;   // one idle MAC slot (a PE-cycle of compute with no MAC): 0 unless an ERT prices it
  int64_t pe_count = 0;  // for the idle slots
  // Sparse front end and metadata.
  double zero_detect = 0, bitmap_op = 0, fifo_access = 0;  // fifo_access: one G-slice pushed or popped
  double meta_bit = 0;  // one metadata bit in SRAM: an ifmap-buffer access / its word width
  static EnergyTable from(const HwConfig& hw);
};

// Energy of one run in pJ, per component.
struct EnergyBreakdown {
  double mac = 0;        // toggled MACs, padding taps included (they toggle unless gated)
  double mac_gated = 0;  // gated MACs
  double psum_add = 0;
  double reg = 0;  // register reads + writes
  double sram[kNumBufs] = {0, 0, 0};
  double dram = 0;
  double ppu = 0;
  double leakage = 0;
  double frontend = 0;  // zero detection, bitmap logic, lane FIFOs
  double realign = 0;   // re-alignment adds and accumulator accesses (WS skip)
  double metadata = 0;  // metadata bits in SRAM (IS indices, compression)
  double total() const;
  // (name, pJ) in a fixed order, for reports.
  std::vector<std::pair<std::string, double>> components() const;
};

EnergyBreakdown energy_of(const EnergyTable& t, const Counters& c);
// PE-cycles of compute in which a PE did no MAC (toggled, padding or gated): the array's idle slots.
int64_t idle_mac_slots(const Counters& c, int64_t pe_count);

}  // namespace eatsim::sim
