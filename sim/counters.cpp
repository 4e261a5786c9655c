// Counter table and arithmetic.
#include "sim/counters.hpp"

#include "sim/hwconfig.hpp"

namespace eatsim::sim {

const std::vector<CounterInfo>& counter_infos() {
  static const std::vector<CounterInfo> infos = {
#define EATSIM_INFO(n, d) {#n, d, &Counters::n},
      EATSIM_SIM_COUNTERS(EATSIM_INFO)
#undef EATSIM_INFO
  };
  return infos;
}

int64_t& Counters::sram_rd(int buf) {
  return buf == kIfmap ? sram_ifmap_rd : buf == kWeights ? sram_weights_rd : sram_psum_rd;
}
int64_t& Counters::sram_wr(int buf) {
  return buf == kIfmap ? sram_ifmap_wr : buf == kWeights ? sram_weights_wr : sram_psum_wr;
}
int64_t& Counters::dram_rd(int buf) {
  return buf == kIfmap ? dram_ifmap_rd_bytes : buf == kWeights ? dram_weights_rd_bytes : dram_psum_rd_bytes;
}

Counters& Counters::operator+=(const Counters& o) {
  for (const auto& i : counter_infos()) this->*i.field += o.*i.field;
  return *this;
}

bool Counters::operator==(const Counters& o) const {
  for (const auto& i : counter_infos())
    if (this->*i.field != o.*i.field) return false;
  return true;
}

}  // namespace eatsim::sim
