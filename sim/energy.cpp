// Energy = Σ events × table entries.
#include "sim/energy.hpp"

#include <algorithm>

#include "sim/accelergy.hpp"

namespace eatsim::sim {

EnergyTable EnergyTable::from(const HwConfig& hw) {
  EnergyTable t;
  const DatatypeEnergy& d = hw.dt_energy();
  t.mac = d.mac.pj, t.mac_gated = d.mac_gated.pj, t.psum_add = d.psum_add.pj;
  t.reg_access = d.reg_access.pj, t.ppu_op = d.ppu_op.pj;
  for (int b = 0; b < kNumBufs; ++b)
    t.sram_access[b] = hw.energy.sram.access_pj(hw.buf[b].size_kb / hw.buf[b].banks, hw.buf[b].word_bits);
  for (int b = 0; b < kNumBufs; ++b) t.sram_write[b] = t.sram_access[b];
  t.dram_byte = t.dram_write_byte = hw.energy.dram_per_byte.pj;
  t.leak_per_cycle = double(hw.pe_count()) * hw.energy.leak_pe.pj + hw.sram_kb() * hw.energy.leak_sram_kb.pj;
  const EnergyConfig& e = hw.energy;
  const SkipConfig& k = hw.sparsity.skip;
  if (k.enabled) {
    int groups = hw.array.dataflow == Dataflow::is ? 1 : (hw.array.rows + k.group - 1) / k.group;
    int g = hw.array.dataflow == Dataflow::is ? 1 : k.group;
    t.leak_per_cycle += groups * std::max(0.0, e.fe_leak_group.pj);
    t.zero_detect = std::max(0.0, e.fe_zero_detect.pj), t.bitmap_op = std::max(0.0, e.fe_bitmap_op.pj);
    t.fifo_access = g * std::max(0.0, e.fe_fifo_elem.pj);
  }
  t.meta_bit = t.sram_access[kIfmap] / hw.buf[kIfmap].word_bits;
  t.pe_count = hw.pe_count();
  for (const auto& [i, pj] : hw.energy.ert_pj) set_price(t, i, pj);  // an Accelergy ERT prices instead
  return t;
}

double EnergyBreakdown::total() const {
  double s = 0;
  for (const auto& [n, v] : components()) s += v;
  return s;
}

std::vector<std::pair<std::string, double>> EnergyBreakdown::components() const {
  return {{"mac", mac},
          {"mac_gated", mac_gated},
          {"psum_add", psum_add},
          {"reg", reg},
          {"sram_ifmap", sram[kIfmap]},
          {"sram_weights", sram[kWeights]},
          {"sram_psum", sram[kPsum]},
          {"dram", dram},
          {"ppu", ppu},
          {"leakage", leakage},
          {"frontend", frontend},
          {"realign", realign},
          {"metadata", metadata}};
}

int64_t idle_mac_slots(const Counters& c, int64_t pe_count) {
  return std::max<int64_t>(0, pe_count * c.compute_cycles() - c.mac_effective - c.mac_pad - c.mac_gated);
}

EnergyBreakdown energy_of(const EnergyTable& t, const Counters& c) {
  EnergyBreakdown e;
  e.mac = double(c.mac_effective + c.mac_pad) * t.mac;
  e.mac_gated = double(c.mac_gated) * t.mac_gated;
  e.psum_add = double(c.psum_add) * t.psum_add;
  e.reg = double(c.reg_read + c.reg_write) * t.reg_access;
  // Reads and writes priced apart only where they differ (the same sum, to the last bit, otherwise).
  for (int b = 0; b < kNumBufs; ++b)
    e.sram[b] = t.sram_write[b] == t.sram_access[b]
                    ? double(c.sram_rd(b) + c.sram_wr(b)) * t.sram_access[b]
                    : double(c.sram_rd(b)) * t.sram_access[b] + double(c.sram_wr(b)) * t.sram_write[b];
  e.dram = t.dram_write_byte == t.dram_byte
               ? double(c.dram_rd_bytes() + c.dram_wr_bytes) * t.dram_byte
               : double(c.dram_rd_bytes()) * t.dram_byte + double(c.dram_wr_bytes) * t.dram_write_byte;
  e.ppu = double(c.ppu_ops) * t.ppu_op;
  e.leakage = double(c.total_cycles()) * t.leak_per_cycle;
  if (t.mac_idle != 0)
    e.leakage += double(idle_mac_slots(c, t.pe_count)) * t.mac_idle;  // an ERT's idle action
  e.frontend = double(c.fe_zero_detect) * t.zero_detect + double(c.fe_bitmap_ops) * t.bitmap_op +
               double(c.fe_fifo_push + c.fe_fifo_pop) * t.fifo_access;
  e.realign = double(c.realign_add) * t.psum_add + double(c.realign_acc_rd + c.realign_acc_wr) * t.reg_access;
  e.metadata = double(c.meta_sram_bits) * t.meta_bit;
  return e;
}

}  // namespace eatsim::sim
