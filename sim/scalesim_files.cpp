// SCALE-Sim v2 files and reports; see scalesim.hpp and docs/scalesim.md.
#include "sim/scalesim_files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "sim/gemm.hpp"
#include "sim/network.hpp"

namespace eatsim::scalesim {
namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int64_t integer(const std::string& v, const std::string& where, int64_t lo, int64_t hi) {
  size_t used = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || x < lo || x > hi)
    throw ConfigError(fmt::format("{}: '{}' should be an integer in [{}, {}]", where, v, lo, hi));
  return x;
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

Config read_config(const std::string& path) {
  const std::string text = read_text<ConfigError>(path);
  Config c;
  c.file = path;
  // The keys SCALE-Sim v2 reads, per section (configparser: case-insensitive, ':' or '=').
  const std::map<std::string, std::set<std::string>> known = {
      {"general", {"run_name"}},
      {"architecture_presets",
       {"arrayheight", "arraywidth", "ifmapsramszkb", "filtersramszkb", "ofmapsramszkb", "ifmapoffset",
        "filteroffset", "ofmapoffset", "dataflow", "bandwidth", "memorybanks"}},
      {"run_presets", {"interfacebandwidth"}},
      {"network_presets", {"topologycsvloc"}}};
  std::map<std::string, std::pair<std::string, int>> kv;  // "section.key" -> (value, line)
  std::vector<std::string> errors;
  std::string section;
  std::istringstream in(text);
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    const std::string where = fmt::format("{}:{}", path, no);
    if (t.front() == '[') {
      if (t.back() != ']') {
        errors.push_back(where + ": a section header must end with ']'");
        continue;
      }
      section = lower(trim(t.substr(1, t.size() - 2)));
      if (!known.count(section))
        errors.push_back(
            fmt::format("{}: unknown section [{}] (SCALE-Sim v2 has general, architecture_presets, "
                        "run_presets, network_presets)",
                        where, section));
      continue;
    }
    size_t sep = t.find_first_of(":=");
    if (sep == std::string::npos) {
      errors.push_back(where + ": expected 'key: value' or 'key = value'");
      continue;
    }
    if (section.empty()) {
      errors.push_back(where + ": a key before any [section]");
      continue;
    }
    const std::string key = lower(trim(t.substr(0, sep))), value = trim(t.substr(sep + 1));
    auto k = known.find(section);
    if (k != known.end() && !k->second.count(key)) {
      errors.push_back(
          fmt::format("{}: [{}] {}: not a SCALE-Sim v2 key eatsim knows (it would be ignored; "
                      "remove it)",
                      where, section, key));
      continue;
    }
    if (!kv.emplace(section + "." + key, std::make_pair(value, no)).second)
      errors.push_back(fmt::format("{}: [{}] {} is given twice", where, section, key));
  }
  auto get = [&](const std::string& k, bool required) -> std::pair<std::string, std::string> {
    auto it = kv.find(k);
    if (it == kv.end()) {
      if (required)
        errors.push_back(
            fmt::format("{}: [{}] {} is missing", path, k.substr(0, k.find('.')), k.substr(k.find('.') + 1)));
      return {"", ""};
    }
    return {it->second.first, fmt::format("{}:{}: {}", path, it->second.second, k.substr(k.find('.') + 1))};
  };
  auto num = [&](const std::string& k, int64_t lo, int64_t hi, int64_t def, bool required) {
    auto [v, where] = get(k, required);
    if (v.empty()) return def;
    try {
      return integer(v, where, lo, hi);
    } catch (const ConfigError& e) {
      errors.push_back(e.what());
      return def;
    }
  };
  c.run_name = get("general.run_name", false).first;
  c.rows = static_cast<int>(num("architecture_presets.arrayheight", 1, 65536, 0, true));
  c.cols = static_cast<int>(num("architecture_presets.arraywidth", 1, 65536, 0, true));
  c.ifmap_kb = num("architecture_presets.ifmapsramszkb", 1, int64_t(1) << 30, 0, true);
  c.filter_kb = num("architecture_presets.filtersramszkb", 1, int64_t(1) << 30, 0, true);
  c.ofmap_kb = num("architecture_presets.ofmapsramszkb", 1, int64_t(1) << 30, 0, true);
  c.ifmap_offset = num("architecture_presets.ifmapoffset", 0, int64_t(1) << 50, c.ifmap_offset, false);
  c.filter_offset = num("architecture_presets.filteroffset", 0, int64_t(1) << 50, c.filter_offset, false);
  c.ofmap_offset = num("architecture_presets.ofmapoffset", 0, int64_t(1) << 50, c.ofmap_offset, false);
  c.banks = static_cast<int>(num("architecture_presets.memorybanks", 1, 1024, 1, false));
  auto [df, df_where] = get("architecture_presets.dataflow", true);
  c.dataflow = lower(df);
  if (!df.empty() && c.dataflow != "ws" && c.dataflow != "os" && c.dataflow != "is")
    errors.push_back(fmt::format("{}: '{}' is not a dataflow (ws, os or is)", df_where, df));
  auto [bw, bw_where] = get("run_presets.interfacebandwidth", true);
  if (!bw.empty() && bw != "CALC") {
    if (bw == "USER")
      errors.push_back(
          fmt::format("{}: USER: eatsim reproduces SCALE-Sim's stall-free (CALC) runs; its "
                      "stall model for a user bandwidth is not reproduced (use CALC, or an eatsim "
                      "hwconfig with dram.bytes_per_cycle)",
                      bw_where));
    else
      errors.push_back(fmt::format("{}: '{}' should be CALC or USER", bw_where, bw));
  }
  if (!errors.empty()) throw ConfigError(errors);
  return c;
}

sim::HwConfig hwconfig_of(const Config& c, const std::vector<std::string>& extra_sets) {
  std::vector<std::string> sets = {fmt::format("array.rows={}", c.rows),
                                   fmt::format("array.cols={}", c.cols),
                                   "array.dataflow=" + c.dataflow,
                                   fmt::format("buffers.ifmap.size_kb={}", c.ifmap_kb),
                                   fmt::format("buffers.weights.size_kb={}", c.filter_kb),
                                   fmt::format("buffers.psum.size_kb={}", c.ofmap_kb),
                                   fmt::format("buffers.ifmap.banks={}", c.banks),
                                   fmt::format("buffers.weights.banks={}", c.banks),
                                   fmt::format("buffers.psum.banks={}", c.banks)};
  sets.insert(sets.end(), extra_sets.begin(), extra_sets.end());
  sim::HwConfig hw = sim::load_hwconfig("scalesim32", sets);
  hw.name = c.run_name.empty() ? fs::path(c.file).stem().string() : c.run_name;
  hw.description = "SCALE-Sim config " + c.file;
  return hw;
}

std::vector<Layer> read_topology(const std::string& path, bool gemm) {
  const std::string text = read_text<ConfigError>(path);
  std::istringstream in(text);
  std::string line;
  std::vector<Layer> out;
  std::vector<std::string> errors;
  bool header = true;
  for (int no = 1; std::getline(in, line); ++no) {
    std::string t = trim(line);
    if (header) {
      if (t.empty()) continue;
      header = false;
      std::string h = lower(t);
      h.erase(std::remove(h.begin(), h.end(), ' '), h.end());
      if (h.rfind("layer,m,n,k", 0) == 0 || h.rfind("layername,m,n,k", 0) == 0)
        gemm = true;
      else if (h.rfind("layername,ifmapheight", 0) != 0)
        errors.push_back(
            fmt::format("{}:{}: not a SCALE-Sim topology header (convolutions: 'Layer name, IFMAP "
                        "Height, ...'; GEMMs: 'Layer, M, N, K')",
                        path, no));
      continue;
    }
    if (t.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(t);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(trim(cell));
    while (!f.empty() && f.back().empty()) f.pop_back();  // SCALE-Sim rows end with ','
    const std::string where = fmt::format("{}:{}", path, no);
    const size_t want = gemm ? 4 : 8;
    if (f.size() != want) {
      errors.push_back(fmt::format("{}: {} fields, a {} row has {}", where, f.size(),
                                   gemm ? "GEMM" : "convolution", want));
      continue;
    }
    std::vector<int64_t> v;
    try {
      for (size_t i = 1; i < f.size(); ++i)
        v.push_back(integer(f[i], fmt::format("{}: field {}", where, i + 1), 1, int64_t(1) << 24));
    } catch (const ConfigError& e) {
      errors.push_back(std::string(e.what()) + " (zero or negative dimensions are not a layer)");
      continue;
    }
    Layer l;
    l.name = f[0].empty() ? fmt::format("layer{}", out.size()) : f[0];
    l.line = no, l.file = path;
    if (gemm) {  // SCALE-Sim: M×K ifmap, 1×K filter, 1 channel, N filters, stride 1
      l.ifmap_h = v[0], l.ifmap_w = v[2], l.filter_h = 1, l.filter_w = v[2], l.channels = 1, l.filters = v[1];
    } else {
      l.ifmap_h = v[0], l.ifmap_w = v[1], l.filter_h = v[2], l.filter_w = v[3], l.channels = v[4];
      l.filters = v[5], l.stride = v[6];
      if (l.filter_h > l.ifmap_h || l.filter_w > l.ifmap_w) {
        errors.push_back(
            fmt::format("{}: a {}x{} filter on a {}x{} ifmap (SCALE-Sim's IFMAP sizes include "
                        "the padding)",
                        where, l.filter_h, l.filter_w, l.ifmap_h, l.ifmap_w));
        continue;
      }
    }
    if (!gemm && l.name.find("DP") != std::string::npos) {  // depthwise: a layer per channel
      for (int64_t ch = 0; ch < l.channels; ++ch) {
        Layer d = l;
        d.name = l.name + "Channel_" + std::to_string(ch);
        d.channels = 1;
        out.push_back(d);
      }
    } else {
      out.push_back(l);
    }
  }
  if (header) errors.push_back(path + ": empty topology");
  if (!errors.empty()) throw ConfigError(errors);
  if (out.empty()) throw ConfigError(path + ": the topology has no layers");
  return out;
}

Graph layer_graph(const Layer& l) {
  auto extent = [&](int64_t size, int64_t k) {
    const int64_t out = (size - k + l.stride + l.stride - 1) / l.stride;  // SCALE-Sim's ofmap size
    return (out - 1) * l.stride + k;
  };
  const std::string yaml = fmt::format(
      "name: layer\nparams: {{width: 1, in_channels: {}, input_size: [{}, {}], classes: 1}}\nnodes:\n"
      "  - {{name: layer, op: conv2d, inputs: [input], out_channels: {}, kernel: [{}, {}], stride: {}}}\n",
      l.channels, extent(l.ifmap_h, l.filter_h), extent(l.ifmap_w, l.filter_w), l.filters, l.filter_h,
      l.filter_w, l.stride);
  return parse_graph(yaml, l.name);
}

namespace {

struct Dims {
  int64_t sr, sc, t;  // SCALE-Sim's per-dataflow fold dimensions and streaming length
};
Dims dims_of(const sim::HwConfig& hw, const sim::GemmShape& s) {
  const int64_t P = s.M, K = s.K, N = s.N;
  switch (hw.array.dataflow) {
    case sim::Dataflow::ws:
      return {K, N, P};
    case sim::Dataflow::os:
      return {P, N, K};
    default:
      return {K, P, N};
  }
}

// SCALE-Sim's SRAM words read and written by the array (its compute modules' counts).
struct SramWords {
  int64_t ifmap = 0, filter = 0, ofmap = 0;
};
SramWords sram_words(const sim::HwConfig& hw, const sim::GemmShape& s) {
  const int64_t P = s.M, K = s.K, N = s.N, R = hw.array.rows, C = hw.array.cols;
  const Dims d = dims_of(hw, s);
  const int64_t rf = cdiv(d.sr, R), cf = cdiv(d.sc, C);
  switch (hw.array.dataflow) {
    case sim::Dataflow::ws:
      return {cf * P * K, K * N, rf * P * N};
    case sim::Dataflow::os:
      return {cf * K * P, rf * K * N, P * N + rf * cf * (R + C)};
    default:
      return {K * P, cf * K * N, rf * P * N};
  }
}

// Means over folds of SCALE-Sim's mapping efficiency and compute utilisation.
std::pair<double, double> fold_means(const sim::HwConfig& hw, const sim::GemmShape& s) {
  const int64_t R = hw.array.rows, C = hw.array.cols;
  const Dims d = dims_of(hw, s);
  const int64_t rf = cdiv(d.sr, R), cf = cdiv(d.sc, C);
  const int64_t fold_cycles =
      hw.array.dataflow == sim::Dataflow::os ? d.t + R + C - 2 : 2 * R + 2 * C + d.t - 3;
  double map = 0, util = 0;
  for (int64_t fc = 0; fc < cf; ++fc)
    for (int64_t fr = 0; fr < rf; ++fr) {
      const int64_t used = std::min(R, d.sr - fr * R) * std::min(C, d.sc - fc * C);
      map += double(used) / double(R * C);
      util += double(used * d.t) / double(R * C * fold_cycles);
    }
  return {map / double(rf * cf), util / double(rf * cf)};
}

}  // namespace

sim::SimResult simulate(const sim::HwConfig& hw, const std::vector<Layer>& layers, const sim::SimOptions& o) {
  sim::SimResult all;
  std::vector<std::string> errors;
  for (const Layer& l : layers) {
    Graph g = layer_graph(l);
    const sim::GemmShape s = sim::gemm_of(g, g.find("layer"));
    // One fold's stationary tile must fit its SRAM (one byte per word, SCALE-Sim's word).
    const Dims d = dims_of(hw, s);
    const int64_t tile = std::min<int64_t>(d.sr, hw.array.rows) * std::min<int64_t>(d.sc, hw.array.cols);
    const int buf = hw.array.dataflow == sim::Dataflow::ws   ? sim::kWeights
                    : hw.array.dataflow == sim::Dataflow::is ? sim::kIfmap
                                                             : sim::kPsum;
    const double words = hw.buf[buf].size_kb * 1024.0 / hw.elem_bytes();
    if (double(tile) > words) {
      errors.push_back(
          fmt::format("{}:{}: layer {}: a fold's stationary {}-word tile does not fit the {} SRAM "
                      "({} kB)",
                      l.file, l.line, l.name, tile,
                      buf == sim::kWeights ? "filter"
                      : buf == sim::kIfmap ? "ifmap"
                                           : "ofmap",
                      hw.buf[buf].size_kb));
      continue;
    }
    sim::SimResult r = sim::simulate_network(hw, g, {1, o.fidelity, 1});
    if (all.layers.empty()) {
      all.hw = r.hw, all.energy = r.energy, all.energy_dense = r.energy_dense;
      all.num_samples = r.num_samples, all.source = "SCALE-Sim topology";
    }
    for (auto& rec : r.layers) {
      rec.group.name = l.name;
      all.layers.push_back(std::move(rec));
    }
  }
  if (!errors.empty()) throw ConfigError(errors);
  return all;
}

namespace {

struct Row {
  const sim::LayerRecord* rec;
  int64_t cycles;
  SramWords sram;
};

std::vector<Row> rows_of(const sim::SimResult& r) {
  std::vector<Row> out;
  for (const auto& rec : r.layers) {
    if (rec.group.gemm < 0) continue;
    const sim::Counters& c = rec.samples.at(0);
    out.push_back({&rec, sim::reported_cycles(r.hw, rec.group, c), sram_words(r.hw, rec.group.shape)});
  }
  return out;
}

std::string num(double v) { return fmt::format("{}", v); }

}  // namespace

std::string compute_report(const sim::SimResult& r) {
  std::string out =
      "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,\n";
  int id = 0;
  for (const Row& row : rows_of(r)) {
    const sim::Counters& c = row.rec->samples.at(0);
    const auto [map, util] = fold_means(r.hw, row.rec->group.shape);
    const double overall = 100.0 * double(c.mac_dense) / (double(row.cycles) * double(r.hw.pe_count()));
    out += fmt::format("{}, {}, {}, {}, {}, {},\n", id++, row.cycles, c.cycles_stall, num(overall),
                       num(100 * map), num(100 * util));
  }
  return out;
}

std::string bandwidth_report(const sim::SimResult& r) {
  std::string out =
      "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, Avg FILTER DRAM "
      "BW, "
      "Avg OFMAP DRAM BW,\n";
  int id = 0;
  const double word = r.hw.elem_bytes();
  for (const Row& row : rows_of(r)) {
    const sim::Counters& c = row.rec->samples.at(0);
    const double cy = double(row.cycles);
    out += fmt::format("{}, {}, {}, {}, {}, {}, {},\n", id++, num(row.sram.ifmap / cy),
                       num(row.sram.filter / cy), num(row.sram.ofmap / cy),
                       num(c.dram_ifmap_rd_bytes / word / cy), num(c.dram_weights_rd_bytes / word / cy),
                       num(c.dram_wr_bytes / word / cy));
  }
  return out;
}

std::string detailed_access_report(const sim::SimResult& r) {
  std::string out =
      "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, SRAM Filter Start Cycle, "
      "SRAM "
      "Filter Stop Cycle, SRAM Filter Reads, SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP "
      "Writes, "
      "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, DRAM Filter Start Cycle, DRAM Filter "
      "Stop "
      "Cycle, DRAM Filter Reads, DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,\n";
  int id = 0;
  const int64_t word = r.hw.elem_bytes();
  for (const Row& row : rows_of(r)) {
    const sim::Counters& c = row.rec->samples.at(0);
    const int64_t last = row.cycles;
    out += fmt::format("{}, 0, {}, {}, 0, {}, {}, 0, {}, {}, 0, {}, {}, 0, {}, {}, 0, {}, {},\n", id++, last,
                       row.sram.ifmap, last, row.sram.filter, last, row.sram.ofmap, last,
                       c.dram_ifmap_rd_bytes / word, last, c.dram_weights_rd_bytes / word, last,
                       c.dram_wr_bytes / word);
  }
  return out;
}

}  // namespace eatsim::scalesim
