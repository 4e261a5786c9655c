// The committed reference traces against their goldens: the untouched tree passes `eatsim check`
// on every (trace, preset); a deliberate change to an energy table entry is caught (exit 1).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <tuple>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

std::string ref() { return test::source_dir() + "/traces/reference"; }

// (trace, preset, golden path) for every golden.
std::vector<std::tuple<std::string, std::string, std::string>> goldens() {
  std::vector<std::string> presets;
  std::string list = test::read_file(ref() + "/presets.txt");
  for (size_t s = 0, e; s < list.size(); s = e + 1) {
    e = list.find('\n', s);
    if (e == std::string::npos) e = list.size();
    if (e > s) presets.push_back(list.substr(s, e - s));
  }
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  for (auto& t : fs::directory_iterator(ref() + "/traces"))
    for (const auto& p : presets)
      out.emplace_back(t.path().string(), p,
                       ref() + "/goldens/" + t.path().filename().string() + "-" + p + ".json");
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ReferenceGoldens, EveryTraceOnEveryPresetMatchesItsGolden) {
  auto all = goldens();
  ASSERT_GE(all.size(), 12u) << "traces/reference is missing traces or presets (tools/regen_reference.sh)";
  test::TempDir d("ref");
  for (const auto& [trace, preset, golden] : all) {
    ASSERT_TRUE(fs::exists(golden)) << golden;
    std::string out = d / (fs::path(golden).stem().string());
    auto s = test::run_cli("sim --hw " + preset + " --trace " + trace + " --out " + out);
    ASSERT_EQ(s.code, 0) << s.err;
    auto c = test::run_cli("check " + out + ".json " + golden);
    EXPECT_EQ(c.code, 0) << golden << "\n" << c.out << c.err;
  }
}

TEST(ReferenceGoldens, AnAlteredEnergyEntryIsCaught) {
  auto all = goldens();
  auto it =
      std::find_if(all.begin(), all.end(), [](const auto& g) { return std::get<1>(g) == "dense_fp32"; });
  ASSERT_NE(it, all.end());
  const auto& [trace, preset, golden] = *it;
  test::TempDir d("ref");
  // The SRAM table's largest point, 100 pJ per 64-bit access at 1 MB, altered by 1 % (dense_fp32's
  // banks lie between the 32 KB and 1 MB points, so their access energy moves).
  auto s = test::run_cli("sim --hw " + preset + " --trace " + trace + " --out " + (d / "r") +
                         " --set 'energy.sram.points=[[8, 10], [32, 20], [1024, 101]]'");
  ASSERT_EQ(s.code, 0) << s.err;
  auto c = test::run_cli("check " + (d / "r.json") + " " + golden);
  EXPECT_EQ(c.code, 1) << c.out << c.err;
  EXPECT_TRUE(std::regex_search(c.out, std::regex(R"(total\s+energy_sram_\w+_pj .*REGRESSION)"))) << c.out;
}

}  // namespace
}  // namespace eatsim

#include "sim/hwconfig.hpp"
#include "sim/regression.hpp"
#include "sim/report.hpp"
#include "sim/run.hpp"
#include "sim/sparse.hpp"
#include "traces/trace.hpp"

namespace eatsim {
namespace {

// Residual-add operands fetched from DRAM are compressed like the layer input (and as their
// producer wrote them): on a 10 %-dense trace the identity shortcut (a ReLU output) arrives in far
// fewer bytes than raw; the projection shortcuts (BN outputs, dense) in more — bitmap compression
// of a dense tensor costs its metadata; the MAC work does not change.
TEST(ReferenceGoldens, ResidualOperandsArriveCompressed) {
  TraceReader tr(ref() + "/traces/resnet8-syn10");
  sim::HwConfig on = sim::load_hwconfig("cnvlutin_ws16");
  sim::HwConfig off = sim::load_hwconfig("cnvlutin_ws16", {"sparsity.compress.format=none"});
  sim::SimResult a = sim::simulate(on, tr), b = sim::simulate(off, tr);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  int with_residual = 0;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const sim::LayerGroup& g = a.layers[i].group;
    if (g.residual_elems == 0 || g.gemm < 0) continue;
    ++with_residual;
    int64_t raw = g.residual_elems * on.elem_bytes();
    EXPECT_EQ(b.layers[i].samples[0].dram_psum_rd_bytes, raw) << g.name;
    EXPECT_NE(a.layers[i].samples[0].dram_psum_rd_bytes, raw) << g.name;
    EXPECT_GT(a.layers[i].samples[0].meta_dram_bytes, 0) << g.name;
    if (g.name == "layer1.0.conv2") {
      EXPECT_LT(a.layers[i].samples[0].dram_psum_rd_bytes, raw / 2);
    }
    EXPECT_EQ(a.layers[i].samples[0].mac_effective, b.layers[i].samples[0].mac_effective) << g.name;
  }
  EXPECT_GE(with_residual, 3);
}

// A changed skip rule (the engine's own test hook) moves a reference trace's counters on the
// skipping preset, and the check against the committed golden reports it.
TEST(ReferenceGoldens, AnAlteredSkipRuleIsCaught) {
  std::string trace = ref() + "/traces/resnet8-syn10",
              golden = ref() + "/goldens/resnet8-syn10-cnvlutin_ws16.json";
  sim::HwConfig hw = sim::load_hwconfig("cnvlutin_ws16");
  TraceReader tr(trace);
  test::TempDir d("ref");
  auto report = [&](const std::string& name, bool perturbed) {
    sim::SimOptions o;
    o.scan.perturbed_skip = perturbed;
    test::write_file(d / name, sim::to_json(sim::simulate(hw, tr, o)));
    return sim::read_report(d / name);
  };
  sim::Report gold = sim::read_report(golden);
  EXPECT_EQ(sim::compare(report("same.json", false), gold, sim::Tolerances{}).failures, 0);
  sim::Report changed = report("changed.json", true);
  sim::CheckOutcome c = sim::compare(changed, gold, sim::Tolerances{});
  EXPECT_GT(c.failures, 0);
  bool moved = false;
  for (const auto& m : c.moved) moved |= m.layer == "total" && m.metric == "mac_skipped" && m.fail;
  EXPECT_TRUE(moved) << sim::format_outcome(c);
}

}  // namespace
}  // namespace eatsim
