// SCALE-Sim v2 files in, SCALE-Sim reports out: its INI config (mapped onto the scalesim32
// preset), its topology CSVs (convolution rows and GEMM `Layer, M, N, K` rows), and
// COMPUTE_REPORT / BANDWIDTH_REPORT / DETAILED_ACCESS_REPORT in its column layout. docs/scalesim.md
// says how each key maps and which report columns are exact.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "sim/hwconfig.hpp"
#include "sim/result.hpp"
#include "sim/run.hpp"

namespace eatsim::scalesim {

struct Config {
  std::string file, run_name;
  int rows = 0, cols = 0;
  int64_t ifmap_kb = 0, filter_kb = 0, ofmap_kb = 0;
  int64_t ifmap_offset = 0, filter_offset = 10000000, ofmap_offset = 20000000;  // words
  std::string dataflow;                                                         // ws | os | is
  int banks = 1;
};

// Reads a SCALE-Sim config ([general] run_name; [architecture_presets]; [run_presets]
// InterfaceBandwidth). A key eatsim cannot honour (InterfaceBandwidth USER: SCALE-Sim's stall
// model) or does not know, a missing key, a bad number: ConfigError "file:line: ...".
Config read_config(const std::string& path);
// The scalesim32 preset with the config applied (array, SRAM sizes, dataflow, banks).
sim::HwConfig hwconfig_of(const Config& c, const std::vector<std::string>& extra_sets = {});

struct Layer {
  std::string name;
  int64_t ifmap_h = 0, ifmap_w = 0, filter_h = 0, filter_w = 0, channels = 0, filters = 0, stride = 1;
  std::string file;
  int line = 0;
};
// A topology CSV: convolution rows (`Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter
// Width, Channels, Num Filter, Strides`) or, when the header reads `Layer, M, N, K` (or `gemm` is
// set), GEMM rows, mapped as SCALE-Sim maps them (an M×K ifmap, a 1×K filter, N filters). A row whose
// name contains "DP" is depthwise: one layer per channel, as SCALE-Sim runs it.
std::vector<Layer> read_topology(const std::string& path, bool gemm = false);

// The layer as a one-node graph: a conv whose output has SCALE-Sim's size, ⌈(H − R + s)/s⌉ (the
// input is extended by the rows SCALE-Sim's last window reads past the edge).
Graph layer_graph(const Layer& l);

// Every layer on `hw` (shapes only, dense), in topology order; ConfigError naming the layer and
// file:line when a fold's stationary tile does not fit its SRAM.
sim::SimResult simulate(const sim::HwConfig& hw, const std::vector<Layer>& layers, const sim::SimOptions& o);

// SCALE-Sim's three reports for a result of simulate() (one row per layer, its column names).
std::string compute_report(const sim::SimResult& r);
std::string bandwidth_report(const sim::SimResult& r);
std::string detailed_access_report(const sim::SimResult& r);

}  // namespace eatsim::scalesim
