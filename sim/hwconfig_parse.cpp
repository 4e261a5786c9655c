// Hwconfig schema: reads the merged tree into HwConfig and validates every value, collecting all
// errors as file:line:col: key: message. Unknown keys are errors; required values have no default.
#include <fmt/format.h>

#include <limits>

#include <cmath>
#include <utility>

#include "base/yaml_util.hpp"
#include "sim/accelergy.hpp"
#include "sim/hwconfig_parse.hpp"

namespace eatsim::sim {
namespace {

using yamlu::Map;

template <class E>
using Names = std::vector<std::pair<const char*, E>>;
const Names<Dataflow> kDataflows = {{"ws", Dataflow::ws}, {"os", Dataflow::os}, {"is", Dataflow::is}};
const Names<DataType> kDatatypes = {{"int8", DataType::int8},
                                    {"int16", DataType::int16},
                                    {"fp16", DataType::fp16},
                                    {"fp32", DataType::fp32},
                                    {"bf16", DataType::bf16}};
const Names<KOrder> kKOrders = {{"cin_inner", KOrder::cin_inner}, {"cin_outer", KOrder::cin_outer}};
const Names<CompressFormat> kFormats = {
    {"none", CompressFormat::none}, {"bitmap", CompressFormat::bitmap}, {"rle", CompressFormat::rle}};

template <class E>
std::string joined(const Names<E>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + std::string(n.first);
  return s;
}

template <class E>
bool lookup(const Names<E>& names, const std::string& s, E& out) {
  for (const auto& n : names)
    if (s == n.first) return out = n.second, true;
  return false;
}

template <class E>
E req_enum(Map& m, const std::string& key, const char* what, const Names<E>& names, E fallback) {
  if (!m.has(key)) {
    m.diag().error(m.self(), m.key_path(key),
                   fmt::format("missing required key ({}: {})", what, joined(names)));
    return fallback;
  }
  auto s = m.opt<std::string>(key);
  E v = fallback;
  if (s && !lookup(names, *s, v))
    m.diag().error(m.node(key), m.key_path(key),
                   fmt::format("unknown {} '{}' (one of {})", what, *s, joined(names)));
  return v;
}

// Required integer in [lo, hi]: the default hi keeps every value inside an int, which most fields
// are (a larger one would otherwise wrap silently).
int64_t req_int(Map& m, const std::string& key, int64_t lo, int64_t hi = std::numeric_limits<int>::max()) {
  if (!m.has(key)) {
    m.diag().error(m.self(), m.key_path(key), "missing required key (an integer)");
    return lo;
  }
  auto v = m.opt<int64_t>(key);
  if (!v) return lo;
  if (*v < lo) {
    m.diag().error(m.node(key), m.key_path(key),
                   lo == 1 ? fmt::format("must be positive (got {})", *v)
                           : fmt::format("must be at least {} (got {})", lo, *v));
    return lo;
  }
  if (*v > hi) {
    m.diag().error(m.node(key), m.key_path(key), fmt::format("must be at most {} (got {})", hi, *v));
    return lo;
  }
  return *v;
}

// Required finite number > 0 (>= 0 with allow_zero), at most `hi`: beyond that sizes, clocks and
// energies overflow the event arithmetic into inf, nan or wrapped byte counts.
double req_positive(Map& m, const std::string& key, bool allow_zero = false, double hi = 1e12) {
  if (!m.has(key)) {
    m.diag().error(m.self(), m.key_path(key), "missing required key (a number)");
    return 1;
  }
  auto v = m.opt<double>(key);
  if (!v) return 1;
  if (!std::isfinite(*v) || *v < 0 || (!allow_zero && *v == 0) || *v > hi) {
    m.diag().error(m.node(key), m.key_path(key),
                   fmt::format("must be {} and at most {:g} (got {})",
                               allow_zero ? "zero or positive" : "positive", hi, *v));
    return 1;
  }
  return *v;
}

// A sub-mapping that must exist; returns an undefined node (and records an error) when absent.
YAML::Node section(Map& m, const std::string& key) {
  if (!m.has(key)) {
    m.diag().error(m.self(), m.key_path(key), "missing required section (a mapping)");
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return m.node(key);
}

EnergyEntry read_entry(Map& parent, const std::string& key, bool required) {
  EnergyEntry e;
  if (!parent.has(key)) {
    if (required)
      parent.diag().error(parent.self(), parent.key_path(key),
                          "missing energy entry ({pj: NUMBER, source: TEXT})");
    return e;
  }
  Map m(parent.node(key), parent.key_path(key), parent.diag());
  if (!m.ok()) return e;
  e.pj = req_positive(m, "pj", true, 1e9);  // pJ per event: a joule per event is far beyond any circuit
  e.source = m.req<std::string>("source");
  if (m.has("source") && e.source.empty())
    m.diag().error(m.node("source"), m.key_path("source"), "must cite a source");
  m.done();
  return e;
}

void read_array(Map& m, HwConfig& hw) {
  ArrayConfig& a = hw.array;
  // 65536 × 65536 PEs is far beyond any array, and keeps every product of sizes inside 64 bits.
  a.rows = static_cast<int>(req_int(m, "rows", 1, 65536));
  a.cols = static_cast<int>(req_int(m, "cols", 1, 65536));
  a.dataflow = req_enum(m, "dataflow", "dataflow", kDataflows, Dataflow::ws);
  a.datatype = req_enum(m, "datatype", "datatype", kDatatypes, DataType::int8);
  a.clock_mhz = req_positive(m, "clock_mhz", false, 1e6);
  if (a.clock_mhz < 1e-3)
    m.diag().error(m.node("clock_mhz"), m.key_path("clock_mhz"), "must be at least 0.001 MHz");
  a.preload_overlap = m.req<bool>("preload_overlap");
  a.k_order = req_enum(m, "k_order", "K order", kKOrders, KOrder::cin_inner);
  m.done();
}

void read_buffer(Map& m, BufferConfig& b, int elem_bits) {
  b.size_kb = req_positive(m, "size_kb", false, 1 << 30);  // 1 TiB
  b.banks = static_cast<int>(req_int(m, "banks", 1));
  b.word_bits = static_cast<int>(req_int(m, "word_bits", 8));
  if (m.has("word_bits") && b.word_bits % 8 != 0)
    m.diag().error(m.node("word_bits"), m.key_path("word_bits"),
                   fmt::format("must be a multiple of 8 (got {})", b.word_bits));
  if (m.has("word_bits") && b.word_bits < elem_bits)
    m.diag().error(m.node("word_bits"), m.key_path("word_bits"),
                   fmt::format("narrower than one element of the datatype ({} bits)", elem_bits));
  b.double_buffered = m.req<bool>("double_buffered");
  m.done();
}

// policy: always (the default) or per-layer, which needs a calibration trace.
void read_policy(Map& m, SparsityConfig& s) {
  if (m.has("policy")) {
    std::string p = m.get<std::string>("policy", "always");
    if (p == "per-layer")
      s.policy = SparsityPolicy::per_layer;
    else if (p != "always")
      m.diag().error(m.node("policy"), m.key_path("policy"),
                     fmt::format("unknown policy '{}' (always or per-layer)", p));
  }
  s.calibration = m.get<std::string>("calibration", "");
  if (s.policy == SparsityPolicy::per_layer && s.calibration.empty())
    m.diag().error(
        m.self(), m.key_path("calibration"),
        "policy per-layer needs a calibration trace (calibration: DIR, a trace of the same network)");
  if (s.policy == SparsityPolicy::always && m.has("calibration"))
    m.diag().error(m.node("calibration"), m.key_path("calibration"), "only with policy: per-layer");
}

// Zero skipping: which sizes apply depends on the dataflow; the others must be absent when enabled.
void read_skip(Map& k, HwConfig& hw) {
  SkipConfig& sk = hw.sparsity.skip;
  sk.enabled = k.req<bool>("enabled");
  bool is = hw.array.dataflow == Dataflow::is;
  auto want = [&](const char* key, bool needed) -> int {
    if (sk.enabled && needed) return static_cast<int>(req_int(k, key, 1));
    if (!k.has(key)) return 0;
    if (sk.enabled && !needed) {
      k.diag().error(k.node(key), k.key_path(key),
                     fmt::format("does not apply to the {} dataflow", dataflow_name(hw.array.dataflow)));
      return 0;
    }
    auto v = k.opt<int64_t>(key);
    if (v && (*v < 1 || *v > 65536))
      k.diag().error(k.node(key), k.key_path(key), fmt::format("must be 1..65536 (got {})", *v));
    return v && *v >= 1 && *v <= 65536 ? static_cast<int>(*v) : 0;
  };
  sk.group = want("group", !is);
  sk.fifo_depth = want("fifo_depth", !is);
  sk.lookahead = want("lookahead", hw.array.dataflow == Dataflow::ws);
  sk.acc_ports = want("acc_ports", hw.array.dataflow == Dataflow::ws);
  sk.weight_feeds = want("weight_feeds", hw.array.dataflow == Dataflow::os);
  if (sk.enabled && !is && sk.group > 0 && hw.array.rows > 0 && hw.array.rows % sk.group != 0)
    k.diag().error(
        k.node("group"), k.key_path("group"),
        fmt::format("must divide array.rows ({} rows into groups of {})", hw.array.rows, sk.group));
  k.done();
}

void read_compress(Map& c, CompressConfig& cc) {
  cc.format = req_enum(c, "format", "compression format", kFormats, CompressFormat::none);
  if (cc.format == CompressFormat::rle) {
    cc.run_bits = static_cast<int>(req_int(c, "run_bits", 1));
    if (cc.run_bits > 16) c.diag().error(c.node("run_bits"), c.key_path("run_bits"), "at most 16");
  } else if (c.has("run_bits")) {  // kept for switching formats with --set; still checked
    auto v = c.opt<int64_t>("run_bits");
    if (v && (*v < 1 || *v > 16)) c.diag().error(c.node("run_bits"), c.key_path("run_bits"), "must be 1..16");
  }
  c.done();
}

void read_sparsity(Map& m, HwConfig& hw) {
  SparsityConfig& s = hw.sparsity;
  s.gate = m.req<bool>("gate");
  read_policy(m, s);
  YAML::Node skn = section(m, "skip");
  if (skn.IsDefined()) {
    Map k(skn, m.key_path("skip"), m.diag());
    read_skip(k, hw);
  }
  YAML::Node cn = section(m, "compress");
  if (cn.IsDefined()) {
    Map c(cn, m.key_path("compress"), m.diag());
    read_compress(c, s.compress);
  }
  m.done();
}

// Per-event energies for every datatype given; the array's own datatype is required.
void read_per_datatype(Map& p, HwConfig& hw) {
  for (const auto& [name, dt] : kDatatypes) {
    bool needed = dt == hw.array.datatype;
    if (!p.has(name)) {
      if (needed)
        p.diag().error(p.self(), p.key_path(name),
                       fmt::format("missing energy entries for the array's datatype {}", name));
      continue;
    }
    Map d(p.node(name), p.key_path(name), p.diag());
    if (!d.ok()) continue;
    DatatypeEnergy de;
    de.mac = read_entry(d, "mac", true);
    de.mac_gated = read_entry(d, "mac_gated", true);
    de.psum_add = read_entry(d, "psum_add", true);
    de.reg_access = read_entry(d, "reg_access", true);
    de.ppu_op = read_entry(d, "ppu_op", true);
    d.done();
    hw.energy.per_datatype[dt] = de;
  }
  p.done();
}

// SRAM access energy: a table of [size_kb, pJ] points with increasing sizes.
void read_sram(Map& s, SramTable& sram) {
  sram.table_word_bits = static_cast<int>(req_int(s, "word_bits", 1));
  sram.source = s.req<std::string>("source");
  YAML::Node pts = s.node("points");
  if (!pts) {
    s.diag().error(s.self(), s.key_path("points"), "missing required key (a list of [size_kb, pJ])");
  } else if (!pts.IsSequence() || pts.size() == 0) {
    s.diag().error(pts, s.key_path("points"),
                   "expected a non-empty list of [size_kb, pJ], got " + yamlu::describe(pts));
  } else {
    for (size_t i = 0; i < pts.size(); ++i) {
      const YAML::Node& pt = pts[i];
      std::optional<double> kb, pj;
      if (pt.IsSequence() && pt.size() == 2)
        kb = yamlu::convert<double>(pt[0]), pj = yamlu::convert<double>(pt[1]);
      std::string key = fmt::format("{}[{}]", s.key_path("points"), i);
      if (!kb || !pj || !(*kb > 0 && *kb <= (1 << 30)) || !(*pj > 0 && *pj <= 1e9)) {
        s.diag().error(
            pt, key,
            "expected [size_kb, pJ], both positive (at most 1 TiB and 1e9 pJ), got " + yamlu::describe(pt));
        continue;
      }
      if (!sram.points.empty() && *kb <= sram.points.back().first)
        s.diag().error(pt, key, "sizes must increase");
      sram.points.emplace_back(*kb, *pj);
    }
  }
  s.done();
}

// The zero-skipping front end: required when skipping is enabled.
void read_frontend(Map& m, HwConfig& hw) {
  EnergyConfig& e = hw.energy;
  bool fe_needed = hw.sparsity.skip.enabled;
  if (!m.has("frontend") && !fe_needed) return;
  YAML::Node fn = section(m, "frontend");
  if (!fn.IsDefined()) return;
  Map f(fn, m.key_path("frontend"), m.diag());
  e.fe_zero_detect = read_entry(f, "zero_detect", fe_needed);
  e.fe_bitmap_op = read_entry(f, "bitmap_op", fe_needed);
  e.fe_fifo_elem = read_entry(f, "fifo_elem", fe_needed);
  e.fe_leak_group = read_entry(f, "leak_group_per_cycle", fe_needed);
  f.done();
}

void read_energy(Map& m, HwConfig& hw) {
  EnergyConfig& e = hw.energy;
  YAML::Node pd = section(m, "per_datatype");
  if (pd.IsDefined()) {
    Map p(pd, m.key_path("per_datatype"), m.diag());
    if (p.ok()) read_per_datatype(p, hw);
  }
  YAML::Node sn = section(m, "sram");
  if (sn.IsDefined()) {
    Map s(sn, m.key_path("sram"), m.diag());
    read_sram(s, e.sram);
  }
  e.dram_per_byte = read_entry(m, "dram_per_byte", true);
  YAML::Node ln = section(m, "leakage");
  if (ln.IsDefined()) {
    Map l(ln, m.key_path("leakage"), m.diag());
    e.leak_pe = read_entry(l, "pe_per_cycle", true);
    e.leak_sram_kb = read_entry(l, "sram_kb_per_cycle", true);
    l.done();
  }
  read_frontend(m, hw);
  e.accelergy_ert = m.get<std::string>("accelergy_ert", "");
  YAML::Node am = m.node("accelergy_map");
  if (am && !am.IsMap()) {
    m.diag().error(am, m.key_path("accelergy_map"), "expected a mapping EVENT: COMPONENT:ACTION");
  } else if (am) {
    for (const auto& kv : am) {
      const std::string ev = kv.first.as<std::string>("");
      const std::string key = m.key_path("accelergy_map") + "." + ev;
      auto v = yamlu::convert<std::string>(kv.second);
      bool known = false;
      for (const auto& a : accelergy_events()) known = known || ev == a.event;
      if (!known) {
        std::string all;
        for (const auto& a : accelergy_events()) all += (all.empty() ? "" : ", ") + std::string(a.event);
        m.diag().error(kv.first, key, fmt::format("not an eatsim event (one of {})", all));
      } else if (!v || v->find(':') == std::string::npos || v->front() == ':' || v->back() == ':') {
        m.diag().error(kv.second, key, "expected COMPONENT:ACTION (e.g. system.pe.mac:mac_random)");
      } else {
        e.accelergy_map[ev] = *v;
        e.accelergy_map_at[ev] =
            fmt::format(":{}:{}", kv.second.Mark().line + 1, kv.second.Mark().column + 1);
      }
    }
  }
  m.done();
}

// The buffers: one section per buffer, each required.
void read_buffers(Map& b, HwConfig& hw) {
  for (int i = 0; i < kNumBufs; ++i) {
    YAML::Node n = section(b, buffer_name(i));
    if (!n.IsDefined()) continue;
    Map bm(n, b.key_path(buffer_name(i)), b.diag());
    if (bm.ok()) read_buffer(bm, hw.buf[i], hw.elem_bits());
  }
  b.done();
}

void read_dram(Map& d, DramConfig& dram) {
  dram.bytes_per_cycle = req_int(d, "bytes_per_cycle", 1, int64_t(1) << 30);
  dram.latency = req_int(d, "latency", 0, int64_t(1) << 30);
  d.done();
}

void read_ppu(Map& p, PpuConfig& ppu) {
  ppu.width = static_cast<int>(req_int(p, "width", 1));
  ppu.fold_bn = p.req<bool>("fold_bn");
  p.done();
}

// Reads the required section `key` of `top` with `read` when it is present.
template <class F>
void read_section(Map& top, const char* key, F read) {
  YAML::Node n = section(top, key);
  if (!n.IsDefined()) return;
  Map m(n, key, top.diag());
  read(m);
}

}  // namespace

HwConfig parse_tree(const YAML::Node& root, const std::string& file, const Origins& origins) {
  yamlu::Diag diag;
  diag.file = kPlaceholderFile;
  HwConfig hw;
  Map top(root, "", diag);
  hw.name = top.req<std::string>("name");
  hw.description = top.req<std::string>("description");
  hw.scalesim_compat = top.req<bool>("scalesim_compat");
  hw.batch = static_cast<int>(req_int(top, "batch", 1));
  read_section(top, "array", [&](Map& m) {
    if (m.ok()) read_array(m, hw);
  });
  read_section(top, "buffers", [&](Map& m) { read_buffers(m, hw); });
  read_section(top, "dram", [&](Map& m) { read_dram(m, hw.dram); });
  read_section(top, "ppu", [&](Map& m) { read_ppu(m, hw.ppu); });
  read_section(top, "sparsity", [&](Map& m) {
    if (m.ok()) read_sparsity(m, hw);
  });
  read_section(top, "energy", [&](Map& m) {
    if (m.ok()) read_energy(m, hw);
  });
  top.done();
  if (!diag.errors.empty()) throw ConfigError(attribute(diag.errors, file, origins));
  resolve_relative(hw.sparsity.calibration, "sparsity.calibration", file, origins);
  EnergyConfig& e = hw.energy;
  if (!e.accelergy_ert.empty()) {
    resolve_relative(e.accelergy_ert, "energy.accelergy_ert", file, origins);
    std::string named_in = origin_of_key(origins, "energy.accelergy_map", file);
    std::map<std::string, std::string> at;  // where each mapping entry was written
    for (const auto& [ev, pos] : e.accelergy_map_at) at[ev] = named_in + pos;
    e.ert_pj =
        read_ert(e.accelergy_ert, accelergy_names(e.accelergy_map, named_in), hw.sparsity.skip.enabled, at);
  } else if (!e.accelergy_map.empty()) {
    throw ConfigError(fmt::format("{}: energy.accelergy_map needs energy.accelergy_ert (the ERT to read)",
                                  origin_of_key(origins, "energy.accelergy_map", file)));
  }
  return hw;
}

}  // namespace eatsim::sim
