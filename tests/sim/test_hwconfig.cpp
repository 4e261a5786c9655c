// Hardware configurations: presets, include/--set resolution, and every schema violation reported
// with its file and line.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <regex>

#include "base/embedded.hpp"
#include "base/errors.hpp"
#include "sim/energy.hpp"
#include "sim/hwconfig.hpp"
#include "tests/helpers.hpp"

namespace eatsim::sim {
namespace {

// A complete valid config (energy from the embedded base) whose lines the tests edit.
std::string good_config() {
  return "include: base_45nm.yaml\n"                                                   // 1
         "name: t\n"                                                                   // 2
         "description: test\n"                                                         // 3
         "array:\n"                                                                    // 4
         "  rows: 8\n"                                                                 // 5
         "  cols: 8\n"                                                                 // 6
         "  dataflow: ws\n"                                                            // 7
         "  datatype: int8\n"                                                          // 8
         "  clock_mhz: 500\n"                                                          // 9
         "  preload_overlap: true\n"                                                   // 10
         "  k_order: cin_inner\n"                                                      // 11
         "buffers:\n"                                                                  // 12
         "  ifmap: {size_kb: 64, banks: 2, word_bits: 64, double_buffered: true}\n"    // 13
         "  weights: {size_kb: 64, banks: 2, word_bits: 64, double_buffered: true}\n"  // 14
         "  psum: {size_kb: 64, banks: 2, word_bits: 64, double_buffered: true}\n"     // 15
         "dram: {bytes_per_cycle: 16, latency: 20}\n";                                 // 16
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

// Parses and returns every error line (empty when it parsed).
std::vector<std::string> errors_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    parse_hwconfig(text, "cfg.yaml", sets);
  } catch (const ConfigError& e) {
    return e.lines();
  }
  return {};
}

// Expects exactly one error, at `line`, naming `key`, containing `what`.
void expect_one_error(const std::string& text, int line, const std::string& key, const std::string& what) {
  auto errs = errors_of(text);
  ASSERT_EQ(errs.size(), 1u) << (errs.empty() ? "no error" : errs[0]);
  EXPECT_TRUE(errs[0].rfind("cfg.yaml:" + std::to_string(line) + ":", 0) == 0) << errs[0];
  EXPECT_NE(errs[0].find(key + ": "), std::string::npos) << errs[0];
  EXPECT_NE(errs[0].find(what), std::string::npos) << errs[0];
}

TEST(HwConfig, EveryPresetLoadsAndValidates) {
  auto names = embedded_preset_names();
  ASSERT_GE(names.size(), 4u);
  for (const auto& n : names) {
    HwConfig hw = load_hwconfig(n);
    EXPECT_EQ(hw.name, n);
    EXPECT_TRUE(hw.energy.per_datatype.count(hw.array.datatype)) << n;
  }
  HwConfig tpu = load_hwconfig("tpu_ws32");
  EXPECT_EQ(tpu.array.rows, 32);
  EXPECT_EQ(tpu.array.dataflow, Dataflow::ws);
  EXPECT_EQ(tpu.array.datatype, DataType::int8);
  EXPECT_EQ(load_hwconfig("eyeriss_os16").array.dataflow, Dataflow::os);
  EXPECT_TRUE(load_hwconfig("cnvlutin_ws16").sparsity.skip.enabled);
  EXPECT_EQ(load_hwconfig("dense_fp32").array.datatype, DataType::fp32);
  EXPECT_FALSE(load_hwconfig("dense_fp32").sparsity.any());
}

TEST(HwConfig, EveryEnergyNumberCitesASource) {
  for (const auto& n : embedded_preset_names()) {
    HwConfig hw = load_hwconfig(n);
    for (const auto& [dt, e] : hw.energy.per_datatype)
      for (const EnergyEntry* x : {&e.mac, &e.mac_gated, &e.psum_add, &e.reg_access, &e.ppu_op}) {
        EXPECT_GE(x->pj, 0);
        EXPECT_FALSE(x->source.empty());
      }
    EXPECT_FALSE(hw.energy.sram.source.empty());
    EXPECT_FALSE(hw.energy.dram_per_byte.source.empty());
  }
}

TEST(HwConfig, ResolvedOutputParsesBackToTheSameConfig) {
  HwConfig a = load_hwconfig("tpu_ws32");
  HwConfig b = parse_hwconfig(hwconfig_to_yaml(a), "resolved.yaml");
  EXPECT_EQ(hwconfig_to_yaml(a).substr(hwconfig_to_yaml(a).find('\n')),
            hwconfig_to_yaml(b).substr(hwconfig_to_yaml(b).find('\n')));
}

TEST(HwConfig, IncludedBaseIsOverriddenKeyByKey) {
  // The base sets ppu {width: 32, fold_bn: false}; overriding one key keeps the other.
  HwConfig hw = parse_hwconfig(good_config() + "ppu: {width: 4}\n", "cfg.yaml");
  EXPECT_EQ(hw.ppu.width, 4);
  EXPECT_FALSE(hw.ppu.fold_bn);
  EXPECT_DOUBLE_EQ(hw.energy.dram_per_byte.pj, 243.75);
}

TEST(HwConfig, IncludeOfAFileBesideTheConfig) {
  test::TempDir d;
  test::write_file(d / "base.yaml", "include: base_45nm.yaml\nbatch: 7\n");
  test::write_file(d / "top.yaml", replace(good_config(), "include: base_45nm.yaml", "include: base.yaml"));
  HwConfig hw = load_hwconfig(d / "top.yaml");
  EXPECT_EQ(hw.batch, 7);
}

TEST(HwConfig, ErrorsInAnIncludedFileNameThatFile) {
  test::TempDir d;
  test::write_file(d / "base.yaml", "include: base_45nm.yaml\nbatch: 0\n");
  test::write_file(d / "top.yaml", replace(good_config(), "include: base_45nm.yaml", "include: base.yaml"));
  try {
    load_hwconfig(d / "top.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.lines().size(), 1u);
    EXPECT_EQ(e.lines()[0].rfind(d / "base.yaml:2:8: batch: must be positive", 0), 0u) << e.lines()[0];
  }
}

TEST(HwConfig, SetOverridesAValueAndNamesItselfInErrors) {
  HwConfig hw = parse_hwconfig(good_config(), "cfg.yaml", {"array.rows=16", "dram.latency=0"});
  EXPECT_EQ(hw.array.rows, 16);
  EXPECT_EQ(hw.dram.latency, 0);
  auto errs = errors_of(good_config(), {"array.rows=many"});
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], "--set array.rows=many: array.rows: expected an integer, got 'many'");
  errs = errors_of(good_config(), {"array.nope=1"});
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("array.nope: unknown key"), std::string::npos) << errs[0];
  EXPECT_THROW(parse_hwconfig(good_config(), "cfg.yaml", {"array.rows"}), ConfigError);
  EXPECT_THROW(parse_hwconfig(good_config(), "cfg.yaml", {"array.rows.x=1"}), ConfigError);
}

TEST(HwConfig, WrongTypeIsReportedWithItsLine) {
  expect_one_error(replace(good_config(), "rows: 8", "rows: eight"), 5, "array.rows", "expected an integer");
  expect_one_error(replace(good_config(), "preload_overlap: true", "preload_overlap: 3"), 10,
                   "array.preload_overlap", "expected true or false");
}

TEST(HwConfig, UnknownKeyIsAnError) {
  expect_one_error(replace(good_config(), "  cols: 8\n", "  cols: 8\n  colz: 8\n"), 7, "array.colz",
                   "unknown key");
  expect_one_error(good_config() + "extra_section: {a: 1}\n", 17, "extra_section", "unknown key");
}

TEST(HwConfig, MissingRequiredKeyIsAnErrorNotADefault) {
  expect_one_error(replace(good_config(), "  clock_mhz: 500\n", ""), 5, "array.clock_mhz",
                   "missing required key");
  expect_one_error(replace(good_config(), "dram: {bytes_per_cycle: 16, latency: 20}", "dram: {latency: 20}"),
                   16, "dram.bytes_per_cycle", "missing required key");
}

TEST(HwConfig, ZeroOrNegativeSizesAreRejected) {
  expect_one_error(replace(good_config(), "rows: 8", "rows: 0"), 5, "array.rows", "must be positive");
  expect_one_error(replace(good_config(), "ifmap: {size_kb: 64", "ifmap: {size_kb: -2"), 13,
                   "buffers.ifmap.size_kb", "must be positive");
  expect_one_error(replace(good_config(), "psum: {size_kb: 64, banks: 2", "psum: {size_kb: 64, banks: 0"), 15,
                   "buffers.psum.banks", "must be positive");
  expect_one_error(replace(good_config(), "bytes_per_cycle: 16", "bytes_per_cycle: 0"), 16,
                   "dram.bytes_per_cycle", "must be positive");
  expect_one_error(replace(good_config(), "latency: 20", "latency: -1"), 16, "dram.latency", "at least 0");
  expect_one_error(replace(good_config(), "clock_mhz: 500", "clock_mhz: 0"), 9, "array.clock_mhz",
                   "must be positive");
}

TEST(HwConfig, UnknownDataflowOrDatatypeIsRejected) {
  expect_one_error(replace(good_config(), "dataflow: ws", "dataflow: rs"), 7, "array.dataflow",
                   "unknown dataflow 'rs' (one of ws, os, is)");
  expect_one_error(replace(good_config(), "datatype: int8", "datatype: fp8"), 8, "array.datatype",
                   "unknown datatype 'fp8'");
}

// good_config() with the base's contents inlined instead of included, so entries can be cut.
std::string inline_config() {
  std::string base = find_embedded("hwconfigs/base_45nm.yaml");
  return replace(good_config(), "include: base_45nm.yaml\n", "") +
         base.substr(base.find("\nscalesim_compat") + 1);
}

std::string cut_line(const std::string& s, const std::string& start) {
  auto p = s.find(start);
  EXPECT_NE(p, std::string::npos) << start;
  return s.substr(0, p) + s.substr(s.find('\n', p) + 1);
}

TEST(HwConfig, MissingEnergyEntryIsReported) {
  ASSERT_TRUE(errors_of(inline_config()).empty());
  auto errs = errors_of(cut_line(inline_config(), "      mac: {pj: 0.3"));
  ASSERT_EQ(errs.size(), 1u) << (errs.empty() ? "" : errs[0]);
  EXPECT_NE(errs[0].find("energy.per_datatype.int8.mac: missing energy entry"), std::string::npos) << errs[0];
  EXPECT_TRUE(std::regex_search(errs[0], std::regex("^cfg\\.yaml:[0-9]+:[0-9]+: "))) << errs[0];
  // An entry without its source.
  errs = errors_of(
      replace(inline_config(), "dram_per_byte: {pj: 243.75, source:", "dram_per_byte: {pj: 243.75, src:"));
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_NE(errs[0].find("energy.dram_per_byte.source: missing required key"), std::string::npos) << errs[0];
  EXPECT_NE(errs[1].find("energy.dram_per_byte.src: unknown key"), std::string::npos) << errs[1];
  // The array's datatype has no table at all.
  std::string no16 = replace(inline_config(), "datatype: int8", "datatype: int16");
  auto p = no16.find("    int16:");
  no16 = no16.substr(0, p) + no16.substr(no16.find("    fp16:"));
  errs = errors_of(no16);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("energy.per_datatype.int16: missing energy entries"), std::string::npos) << errs[0];
}

TEST(HwConfig, BadIncludeIsReportedWithItsLine) {
  auto errs = errors_of(replace(good_config(), "include: base_45nm.yaml", "include: nowhere.yaml"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].rfind("cfg.yaml:1:10: include: cannot find 'nowhere.yaml'", 0), 0u) << errs[0];
  errs = errors_of(replace(good_config(), "include: base_45nm.yaml", "include: [a, b]"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("include: expected a file name"), std::string::npos) << errs[0];
  test::TempDir d;
  test::write_file(d / "a.yaml", "include: b.yaml\n");
  test::write_file(d / "b.yaml", "include: a.yaml\n");
  try {
    load_hwconfig(d / "a.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("include cycle"), std::string::npos) << e.what();
  }
}

TEST(HwConfig, AllErrorsAreCollectedAtOnce) {
  std::string t = replace(good_config(), "rows: 8", "rows: -1");
  t = replace(t, "datatype: int8", "datatype: int3");
  t = replace(t, "latency: 20", "latency: x");
  EXPECT_EQ(errors_of(t).size(), 3u);
}

TEST(HwConfig, SparsitySettingsAreValidatedAgainstTheDataflow) {
  std::string on = good_config() +
                   "sparsity:\n  gate: false\n  skip: {enabled: true, group: 3, fifo_depth: 4, "
                   "lookahead: 2, acc_ports: 1}\n  compress: {format: none}\n";
  expect_one_error(on, 19, "sparsity.skip.group", "must divide array.rows");
  std::string is = replace(replace(on, "dataflow: ws", "dataflow: is"), "group: 3, fifo_depth: 4, ", "");
  is = replace(is, "lookahead: 2, acc_ports: 1", "group: 2");
  expect_one_error(is, 19, "sparsity.skip.group", "does not apply to the is dataflow");
  expect_one_error(
      good_config() + "sparsity: {gate: false, skip: {enabled: false}, compress: {format: zip}}\n", 17,
      "sparsity.compress.format", "unknown compression format");
}

TEST(HwConfig, SramEnergyInterpolatesTheCitedTable) {
  SramTable t;
  t.table_word_bits = 64;
  t.points = {{8, 10}, {32, 20}, {1024, 100}};
  EXPECT_DOUBLE_EQ(t.access_pj(8, 64), 10);
  EXPECT_DOUBLE_EQ(t.access_pj(32, 64), 20);
  EXPECT_NEAR(t.access_pj(16, 64), 10 * std::sqrt(2.0), 1e-9);  // power law between points
  EXPECT_NEAR(t.access_pj(2, 64), 5, 1e-9);                     // extended below with the first segment
  EXPECT_DOUBLE_EQ(t.access_pj(8, 128), 20);                    // linear in word width
}

TEST(HwConfig, RandomlyDamagedConfigsGiveConfigErrorsNeverACrash) {
  std::string text = inline_config();
  std::vector<std::string> lines;
  for (size_t p = 0, e; p < text.size(); p = e + 1) {
    e = text.find('\n', p);
    if (e == std::string::npos) e = text.size();
    lines.push_back(text.substr(p, e - p));
  }
  const std::vector<std::string> junk = {"-1", "0",     "abc",  "[1, 2]", "{}",
                                         "",   "1e400", "true", "\"\"",   "{pj: x}"};
  std::mt19937 rng(11);
  int errors = 0;
  for (int t = 0; t < 300; ++t) {
    std::vector<std::string> l = lines;
    size_t i = rng() % l.size();
    switch (rng() % 3) {
      case 0:
        l.erase(l.begin() + static_cast<long>(i));
        break;   // a missing line
      case 1: {  // a value replaced
        auto c = l[i].rfind(": ");
        if (c != std::string::npos) l[i] = l[i].substr(0, c + 2) + junk[rng() % junk.size()];
        break;
      }
      default:
        l.insert(l.begin() + static_cast<long>(i), l[rng() % l.size()]);  // a line repeated
    }
    std::string damaged;
    for (const auto& x : l) damaged += x + "\n";
    try {
      parse_hwconfig(damaged, "cfg.yaml");
    } catch (const ConfigError& e) {
      ++errors;
      for (const auto& line : e.lines()) EXPECT_EQ(line.rfind("cfg.yaml", 0), 0u) << line;
    }
  }
  EXPECT_GT(errors, 100);
}

TEST(HwCheckCli, PrintsTheResolvedConfigAndExitsTwoOnBadInput) {
  auto r = test::run_cli("hw check tpu_ws32 --set array.rows=16");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("rows: 16"), std::string::npos) << r.out;
  r = test::run_cli("hw check tpu_ws32 --set array.dataflow=diagonal");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown dataflow 'diagonal'"), std::string::npos) << r.err;
  r = test::run_cli("hw check no_such_preset");
  EXPECT_EQ(r.code, 2);
}

// The 28 nm table is the 45 nm one by its stated rule: on-chip energies x 28/45 (to the 4
// significant digits written), DRAM and leakage unchanged; a preset selects it by include.
TEST(HwConfig, The28nmBaseIsThe45nmTableByItsScalingRule) {
  test::TempDir d("hw28");
  std::string tpu = find_embedded("hwconfigs/tpu_ws32.yaml");
  tpu.replace(tpu.find("include: base_45nm.yaml"), 23, "include: base_28nm.yaml");
  test::write_file(d / "tpu28.yaml", tpu);
  const HwConfig a = load_hwconfig("tpu_ws32"), b = load_hwconfig(d / "tpu28.yaml");
  const EnergyTable ta = EnergyTable::from(a), tb = EnergyTable::from(b);
  const double f = 28.0 / 45.0;
  for (DataType dt : {DataType::int8, DataType::int16, DataType::fp16, DataType::fp32, DataType::bf16}) {
    const auto &x = a.energy.per_datatype.at(dt), &y = b.energy.per_datatype.at(dt);
    for (auto m : {&DatatypeEnergy::mac, &DatatypeEnergy::mac_gated, &DatatypeEnergy::psum_add,
                   &DatatypeEnergy::reg_access, &DatatypeEnergy::ppu_op})
      EXPECT_NEAR((y.*m).pj, (x.*m).pj * f, (x.*m).pj * f * 5e-4);
  }
  for (int buf = 0; buf < kNumBufs; ++buf)
    EXPECT_NEAR(tb.sram_access[buf], ta.sram_access[buf] * f, ta.sram_access[buf] * 1e-3);
  EXPECT_EQ(tb.dram_byte, ta.dram_byte);
  EXPECT_EQ(tb.leak_per_cycle, ta.leak_per_cycle);
  EXPECT_NE(b.energy.per_datatype.at(DataType::int8).mac.source.find("28/45"), std::string::npos);
}

}  // namespace
}  // namespace eatsim::sim
