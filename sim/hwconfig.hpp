// Hardware configurations (DESIGN.md §6): the typed form of a hwconfig YAML, its loader (include
// of a base file, --set overrides) and validate(), which reports every error at once.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace eatsim::sim {

enum class Dataflow { ws, os, is };
enum class DataType { int8, int16, fp16, fp32, bf16 };
enum class KOrder { cin_inner, cin_outer };  // K = (kh, kw, Cin) with Cin innermost, or (Cin, kh, kw)
enum class CompressFormat { none, bitmap, rle };

const char* dataflow_name(Dataflow d);
const char* datatype_name(DataType t);
const char* korder_name(KOrder k);
const char* compress_name(CompressFormat c);
int datatype_bits(DataType t);
constexpr int kPsumBits = 32;  // accumulators: int32 for integer datatypes, fp32 for float ones

struct ArrayConfig {
  int rows = 0, cols = 0;
  Dataflow dataflow = Dataflow::ws;
  DataType datatype = DataType::int8;
  double clock_mhz = 0;
  // The stationary operand (WS weights, IS inputs) has a shadow register in every PE, so the next
  // fold's preload runs behind the current fold and only the layer's first preload is exposed.
  bool preload_overlap = false;
  KOrder k_order = KOrder::cin_inner;
};

struct BufferConfig {
  double size_kb = 0;  // total, both halves when double-buffered
  int banks = 0;
  int word_bits = 0;  // width of one SRAM access
  bool double_buffered = false;
  int64_t bytes() const { return static_cast<int64_t>(size_kb * 1024.0); }
  // What one fold's working set may use: half the buffer when double-buffered.
  int64_t usable_bytes() const { return double_buffered ? bytes() / 2 : bytes(); }
};

enum Buf { kIfmap = 0, kWeights = 1, kPsum = 2, kNumBufs = 3 };
const char* buffer_name(int b);  // "ifmap", "weights", "psum"

struct DramConfig {
  int64_t bytes_per_cycle = 0;  // integer on purpose: the clocked model moves whole bytes per clock
  int64_t latency = 0;          // cycles from a request to its first byte
};

struct PpuConfig {
  int width = 0;         // element operations per cycle
  bool fold_bn = false;  // BN folded into the conv weights: no PPU work for BN
};

// Sparsity features (behaviour: issue 9). Parsed and validated here so presets are checked now.
struct SkipConfig {
  bool enabled = false;
  int group = 0, fifo_depth = 0, lookahead = 0, acc_ports = 0, weight_feeds = 0;
};
struct CompressConfig {
  CompressFormat format = CompressFormat::none;
  int run_bits = 0;  // rle only
};
// always: the features work in every layer. per-layer: a layer keeps them only where they save
// energy on a calibration trace of the same network (a real design's per-layer enable bits).
enum class SparsityPolicy { always, per_layer };
struct SparsityConfig {
  bool gate = false;
  SkipConfig skip;
  CompressConfig compress;
  SparsityPolicy policy = SparsityPolicy::always;
  std::string calibration;  // per-layer: the calibration trace directory (resolved path)
  bool any() const { return gate || skip.enabled || compress.format != CompressFormat::none; }
};

struct EnergyEntry {
  double pj = -1;  // < 0: absent
  std::string source;
};

// Per-datatype datapath energies (pJ per event).
struct DatatypeEnergy {
  EnergyEntry mac, mac_gated, psum_add, reg_access, ppu_op;
};

// SRAM access energy for one access of `word_bits` to a bank of `size_kb`: interpolated in
// log(size)-log(energy) between table points given for `table_word_bits`, scaled linearly in bits.
struct SramTable {
  int table_word_bits = 0;
  std::vector<std::pair<double, double>> points;  // (size_kb, pJ per access), sizes increasing
  std::string source;
  double access_pj(double size_kb, int word_bits) const;
};

struct EnergyConfig {
  std::map<DataType, DatatypeEnergy> per_datatype;
  SramTable sram;
  EnergyEntry dram_per_byte;
  EnergyEntry leak_pe;       // per PE per cycle
  EnergyEntry leak_sram_kb;  // per KB of SRAM per cycle
  // Sparse front end (energy.frontend; required when skip is on): per element through a zero
  // detector, per G-slice bitmap reduction, per element pushed or popped through a lane FIFO, and
  // leakage per lane group per cycle.
  EnergyEntry fe_zero_detect, fe_bitmap_op, fe_fifo_elem, fe_leak_group;
  // An Accelergy ERT that prices every event instead (sim/accelergy.hpp): its path, the event ->
  // "component:action" overrides, and the resolved pJ per event index (accelergy_events() order).
  std::string accelergy_ert;
  std::map<std::string, std::string> accelergy_map;
  std::map<std::string, std::string> accelergy_map_at;  // event -> ":line:col" of its entry
  std::map<size_t, double> ert_pj;
};

struct HwConfig {
  std::string name, description;
  std::string file;  // where it came from (for messages)
  bool scalesim_compat = false;
  ArrayConfig array;
  BufferConfig buf[kNumBufs];
  DramConfig dram;
  PpuConfig ppu;
  int batch = 0;  // weights stay resident for a batch of B samples when a layer's weights fit
  SparsityConfig sparsity;
  EnergyConfig energy;

  const DatatypeEnergy& dt_energy() const { return energy.per_datatype.at(array.datatype); }
  int64_t pe_count() const { return int64_t(array.rows) * array.cols; }
  double sram_kb() const { return buf[kIfmap].size_kb + buf[kWeights].size_kb + buf[kPsum].size_kb; }
  int elem_bits() const { return datatype_bits(array.datatype); }
  int elem_bytes() const { return elem_bits() / 8; }
};

// Loads FILE or PRESET (an embedded hwconfigs/NAME.yaml), resolves `include:`, applies
// overrides ("array.rows=16"), parses and validates. Throws ConfigError with every problem found.
HwConfig load_hwconfig(const std::string& file_or_preset, const std::vector<std::string>& overrides = {});
// Same from text; `file` names it in messages and anchors relative includes.
HwConfig parse_hwconfig(const std::string& text, const std::string& file,
                        const std::vector<std::string>& overrides = {});
std::vector<std::string> embedded_preset_names();

// The resolved configuration in the hwconfig format (no include), parseable again.
std::string hwconfig_to_yaml(const HwConfig& hw);
HwConfig dense_twin(const HwConfig& hw);  // the same hardware with every sparsity feature off

}  // namespace eatsim::sim
