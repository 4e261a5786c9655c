// Hwconfig names, the SRAM energy interpolation, and printing the resolved configuration.
#include "sim/hwconfig.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <sstream>

namespace eatsim::sim {

const char* dataflow_name(Dataflow d) {
  switch (d) {
    case Dataflow::ws:
      return "ws";
    case Dataflow::os:
      return "os";
    case Dataflow::is:
      return "is";
  }
  return "?";
}
const char* datatype_name(DataType t) {
  switch (t) {
    case DataType::int8:
      return "int8";
    case DataType::int16:
      return "int16";
    case DataType::fp16:
      return "fp16";
    case DataType::fp32:
      return "fp32";
    case DataType::bf16:
      return "bf16";
  }
  return "?";
}
const char* korder_name(KOrder k) { return k == KOrder::cin_inner ? "cin_inner" : "cin_outer"; }
const char* compress_name(CompressFormat c) {
  switch (c) {
    case CompressFormat::none:
      return "none";
    case CompressFormat::bitmap:
      return "bitmap";
    case CompressFormat::rle:
      return "rle";
  }
  return "?";
}
int datatype_bits(DataType t) {
  switch (t) {
    case DataType::int8:
      return 8;
    case DataType::int16:
    case DataType::fp16:
    case DataType::bf16:
      return 16;
    case DataType::fp32:
      return 32;
  }
  return 32;
}
const char* buffer_name(int b) {
  static const char* const names[] = {"ifmap", "weights", "psum"};
  return names[b];
}

// Power law between neighbouring points (log-log linear): SRAM access energy grows roughly with
// the square root of capacity (bit-line and word-line length), which the cited points follow;
// outside the table the nearest segment's exponent extends it. Width scales linearly.
double SramTable::access_pj(double size_kb, int word_bits) const {
  double e;
  if (points.size() == 1) {
    e = points[0].second;
  } else {
    size_t i = 1;
    while (i + 1 < points.size() && size_kb > points[i].first) ++i;
    const auto& a = points[i - 1];
    const auto& b = points[i];
    double p = std::log(b.second / a.second) / std::log(b.first / a.first);
    e = a.second * std::pow(size_kb / a.first, p);
  }
  return e * double(word_bits) / double(table_word_bits);
}

namespace {
std::string q(const std::string& s) {
  std::string o = "\"";
  for (char c : s) o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return o + "\"";
}
std::string entry(const EnergyEntry& e) { return fmt::format("{{pj: {}, source: {}}}", e.pj, q(e.source)); }
const char* b(bool v) { return v ? "true" : "false"; }
}  // namespace

HwConfig dense_twin(const HwConfig& hw) {
  HwConfig d = hw;
  d.sparsity = SparsityConfig{};
  return d;
}

std::string hwconfig_to_yaml(const HwConfig& hw) {
  std::ostringstream o;
  o << "# resolved from " << hw.file << "\n";
  o << "name: " << q(hw.name) << "\ndescription: " << q(hw.description) << "\n";
  o << "scalesim_compat: " << b(hw.scalesim_compat) << "\nbatch: " << hw.batch << "\n";
  const ArrayConfig& a = hw.array;
  o << fmt::format(
      "array: {{rows: {}, cols: {}, dataflow: {}, datatype: {}, clock_mhz: {}, preload_overlap: {}, k_order: "
      "{}}}\n",
      a.rows, a.cols, dataflow_name(a.dataflow), datatype_name(a.datatype), a.clock_mhz, b(a.preload_overlap),
      korder_name(a.k_order));
  o << "buffers:\n";
  for (int i = 0; i < kNumBufs; ++i) {
    const BufferConfig& bf = hw.buf[i];
    o << fmt::format("  {}: {{size_kb: {}, banks: {}, word_bits: {}, double_buffered: {}}}\n", buffer_name(i),
                     bf.size_kb, bf.banks, bf.word_bits, b(bf.double_buffered));
  }
  o << fmt::format("dram: {{bytes_per_cycle: {}, latency: {}}}\n", hw.dram.bytes_per_cycle, hw.dram.latency);
  o << fmt::format("ppu: {{width: {}, fold_bn: {}}}\n", hw.ppu.width, b(hw.ppu.fold_bn));
  const SparsityConfig& s = hw.sparsity;
  o << "sparsity:\n  gate: " << b(s.gate) << "\n";
  o << "  skip: {enabled: " << b(s.skip.enabled);
  auto opt = [&](const char* k, int v) {
    if (v > 0) o << ", " << k << ": " << v;
  };
  opt("group", s.skip.group), opt("fifo_depth", s.skip.fifo_depth), opt("lookahead", s.skip.lookahead);
  opt("acc_ports", s.skip.acc_ports), opt("weight_feeds", s.skip.weight_feeds);
  o << "}\n  compress: {format: " << compress_name(s.compress.format);
  opt("run_bits", s.compress.run_bits);
  o << "}\n";
  if (s.policy == SparsityPolicy::per_layer)  // absent for `always`: earlier hashes stay valid
    o << "  policy: per-layer\n  calibration: " << YAML::Node(s.calibration) << "\n";
  o << "energy:\n  per_datatype:\n";
  for (const auto& [dt, de] : hw.energy.per_datatype) {
    o << "    " << datatype_name(dt) << ":\n";
    o << "      mac: " << entry(de.mac) << "\n      mac_gated: " << entry(de.mac_gated) << "\n";
    o << "      psum_add: " << entry(de.psum_add) << "\n      reg_access: " << entry(de.reg_access) << "\n";
    o << "      ppu_op: " << entry(de.ppu_op) << "\n";
  }
  o << "  sram:\n    word_bits: " << hw.energy.sram.table_word_bits << "\n    points: [";
  for (size_t i = 0; i < hw.energy.sram.points.size(); ++i)
    o << (i ? ", " : "") << "[" << hw.energy.sram.points[i].first << ", " << hw.energy.sram.points[i].second
      << "]";
  o << "]\n    source: " << q(hw.energy.sram.source) << "\n";
  o << "  dram_per_byte: " << entry(hw.energy.dram_per_byte) << "\n";
  o << "  leakage:\n    pe_per_cycle: " << entry(hw.energy.leak_pe)
    << "\n    sram_kb_per_cycle: " << entry(hw.energy.leak_sram_kb) << "\n";
  const EnergyConfig& e = hw.energy;
  if (e.fe_zero_detect.pj >= 0 && e.fe_bitmap_op.pj >= 0 && e.fe_fifo_elem.pj >= 0 && e.fe_leak_group.pj >= 0)
    o << "  frontend:\n    zero_detect: " << entry(e.fe_zero_detect)
      << "\n    bitmap_op: " << entry(e.fe_bitmap_op) << "\n    fifo_elem: " << entry(e.fe_fifo_elem)
      << "\n    leak_group_per_cycle: " << entry(e.fe_leak_group) << "\n";
  return o.str();
}

}  // namespace eatsim::sim
