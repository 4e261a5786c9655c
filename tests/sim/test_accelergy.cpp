// Accelergy interop: a run's action counts (`sim --accelergy-counts`) priced with the ERT eatsim
// writes from the same hwconfig (`hw ert`) give the run's energy to 1e-9; a hwconfig priced by that
// ERT (`energy: {accelergy_ert: FILE}`) gives the same energy; an edited ERT changes exactly the
// component it prices; mapping overrides and bad ERTs are checked with file:line:col.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <nlohmann/json.hpp>

#include "base/errors.hpp"
#include "sim/accelergy.hpp"
#include "sim/energy.hpp"
#include "sim/hwconfig.hpp"
#include "tests/helpers.hpp"

namespace eatsim {
namespace {
using test::run_cli;

const std::string kTrace = test::source_dir() + "/traces/reference/traces/smallcnn-eat";

// Total energy of a report (the "total" row's mean per sample × samples).
double report_energy(const std::string& json_file) {
  auto j = nlohmann::json::parse(test::read_file(json_file));
  for (const auto& l : j["layers"])
    if (l["name"] == "total")
      return l["derived"]["energy_pj"]["mean"].get<double>() * j["samples"].get<double>();
  ADD_FAILURE() << "no total row in " << json_file;
  return 0;
}

// Σ counts × ERT energy, read as Accelergy would read the two files.
double priced(const std::string& counts_file, const std::string& ert_file) {
  YAML::Node ert = YAML::LoadFile(ert_file), counts = YAML::LoadFile(counts_file);
  std::map<std::pair<std::string, std::string>, double> price;
  for (const auto& t : ert["ERT"]["tables"])
    for (const auto& a : t["actions"])
      price[{t["name"].as<std::string>(), a["name"].as<std::string>()}] = a["energy"].as<double>();
  double e = 0;
  for (const auto& c : counts["action_counts"]["local"])
    for (const auto& a : c["action_counts"]) {
      auto it = price.find({c["name"].as<std::string>(), a["name"].as<std::string>()});
      EXPECT_NE(it, price.end()) << c["name"] << " " << a["name"];
      if (it != price.end()) e += a["counts"].as<double>() * it->second;
    }
  return e;
}

TEST(Accelergy, CountsPricedWithOurOwnErtGiveOurEnergyAndTheErtPricesAHwconfig) {
  test::TempDir d("accelergy");
  for (const char* hw : {"cnvlutin_ws16", "tpu_ws32", "eyeriss_os16"}) {
    const std::string ert = d / (std::string(hw) + ".ert.yaml"),
                      counts = d / (std::string(hw) + ".counts.yaml");
    ASSERT_EQ(run_cli("hw ert " + std::string(hw) + " --out " + ert).code, 0);
    auto r = run_cli("sim --hw " + std::string(hw) + " --trace " + kTrace + " --out " + (d / hw) +
                     " --accelergy-counts " + counts);
    ASSERT_EQ(r.code, 0) << r.err;
    const double e = report_energy(d / (std::string(hw) + ".json"));
    EXPECT_NEAR(priced(counts, ert) / e, 1.0, 1e-9) << hw;
    // The same hardware priced by the ERT.
    test::write_file(d / "via.yaml", "include: " + std::string(hw) +
                                         ".yaml\nname: via_ert\nenergy:\n  accelergy_ert: " +
                                         std::string(hw) + ".ert.yaml\n");
    r = run_cli("sim --hw " + (d / "via.yaml") + " --trace " + kTrace + " --out " + (d / "via"));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NEAR(report_energy(d / "via.json") / e, 1.0, 1e-12) << hw;
  }
}

TEST(Accelergy, AnEditedErtChangesExactlyTheComponentItPrices) {
  test::TempDir d("accelergy_edit");
  ASSERT_EQ(run_cli("hw ert tpu_ws32 --out " + (d / "ert.yaml")).code, 0);
  std::string ert = test::read_file(d / "ert.yaml");
  const std::string from = "    - name: mac_random\n      arguments: {}\n      energy: 0.3\n";
  ASSERT_NE(ert.find(from), std::string::npos) << ert;
  ert.replace(ert.find(from), from.size(),
              "    - name: mac_random\n      arguments: {}\n      energy: 0.6\n");
  test::write_file(d / "ert2.yaml", ert);
  test::write_file(d / "hw.yaml",
                   "include: tpu_ws32.yaml\nname: doubled_mac\nenergy:\n  accelergy_ert: ert2.yaml\n");
  sim::HwConfig base = sim::load_hwconfig("tpu_ws32"), edited = sim::load_hwconfig(d / "hw.yaml");
  sim::EnergyTable a = sim::EnergyTable::from(base), b = sim::EnergyTable::from(edited);
  EXPECT_DOUBLE_EQ(b.mac, 2 * a.mac);
  auto pa = sim::event_prices(a), pb = sim::event_prices(b);
  for (size_t i = 1; i < pa.size(); ++i) EXPECT_EQ(pa[i], pb[i]) << sim::accelergy_events()[i].event;
  // Reads and writes are priced apart: a psum-buffer write made dearer prices the writes alone.
  const std::string w =
      "  - name: system.eatsim.psum_buffer\n    actions:\n    - name: read\n      arguments: {}\n"
      "      energy: ";
  const size_t at = ert.find(w);
  ASSERT_NE(at, std::string::npos) << ert;
  const size_t wr = ert.find("    - name: write\n      arguments: {}\n      energy: ", at);
  const size_t num = ert.find("energy: ", wr) + 8, end = ert.find('\n', num);
  const double read_pj = std::stod(ert.substr(num, end - num));
  ert.replace(num, end - num, std::to_string(read_pj * 3));
  test::write_file(d / "ert3.yaml", ert);
  test::write_file(d / "hw3.yaml",
                   "include: tpu_ws32.yaml\nname: dear_writes\nenergy:\n  accelergy_ert: ert3.yaml\n");
  sim::EnergyTable c = sim::EnergyTable::from(sim::load_hwconfig(d / "hw3.yaml"));
  sim::Counters k;
  k.sram_psum_rd = 5, k.sram_psum_wr = 10;
  EXPECT_NEAR(sim::energy_of(c, k).sram[sim::kPsum], 5 * read_pj + 10 * 3 * read_pj, 1e-9 * read_pj);
  EXPECT_NEAR(sim::energy_of(a, k).sram[sim::kPsum], 15 * read_pj, 1e-9 * read_pj);
  // Idle MAC slots are free in eatsim's own table; an ERT that prices them adds exactly that.
  sim::Counters busy;
  busy.cycles_stream = 10, busy.mac_effective = 1000, busy.mac_gated = 200, busy.mac_pad = 40;
  EXPECT_EQ(sim::idle_mac_slots(busy, base.pe_count()), 1024 * 10 - 1240);
  sim::EnergyTable idle = a;
  idle.mac_idle = 0.5;
  EXPECT_NEAR(sim::energy_of(idle, busy).leakage - sim::energy_of(a, busy).leakage, 0.5 * (10240 - 1240),
              1e-9);
}

TEST(Accelergy, MappingOverridesAndBadErtsAreCheckedWithTheirPlace) {
  test::TempDir d("accelergy_bad");
  ASSERT_EQ(run_cli("hw ert tpu_ws32 --out " + (d / "ert.yaml")).code, 0);
  std::string ert = test::read_file(d / "ert.yaml");
  // A team's own component name for the MACs, mapped in the hwconfig.
  std::string renamed = ert;
  renamed.replace(renamed.find("system.eatsim.mac_array"), 23, "system.chip.PE.mac");
  test::write_file(d / "renamed.yaml", renamed);
  test::write_file(
      d / "mapped.yaml",
      "include: tpu_ws32.yaml\nname: mapped\nenergy:\n  accelergy_ert: renamed.yaml\n  accelergy_map:\n"
      "    mac: system.chip.PE.mac:mac_random\n    mac_gated: system.chip.PE.mac:mac_gated\n"
      "    mac_idle: system.chip.PE.mac:idle\n");
  EXPECT_EQ(sim::EnergyTable::from(sim::load_hwconfig(d / "mapped.yaml")).mac, 0.3);
  // Without the mapping the renamed ERT lacks eatsim's component: one line per event.
  test::write_file(d / "unmapped.yaml",
                   "include: tpu_ws32.yaml\nname: unmapped\nenergy:\n  accelergy_ert: renamed.yaml\n");
  auto r = run_cli("hw check " + (d / "unmapped.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(
      r.err.find("renamed.yaml:4:3: tables: no table 'system.eatsim.mac_array' for eatsim's mac (map it with "
                 "energy.accelergy_map.mac)"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("eatsim's mac_gated"), std::string::npos) << r.err;
  // A mapping entry naming a table the ERT lacks: the entry's own place.
  test::write_file(
      d / "wrongmap.yaml",
      "include: tpu_ws32.yaml\nname: wrongmap\nenergy:\n  accelergy_ert: ert.yaml\n  accelergy_map:\n"
      "    mac: system.nowhere.pe:mac\n");
  r = run_cli("hw check " + (d / "wrongmap.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("wrongmap.yaml:6:10: energy.accelergy_map.mac: no table 'system.nowhere.pe' in "),
            std::string::npos)
      << r.err;
  // An unknown event and a malformed value in the map: file:line:col.
  test::write_file(
      d / "badmap.yaml",
      "include: tpu_ws32.yaml\nname: badmap\nenergy:\n  accelergy_ert: ert.yaml\n  accelergy_map:\n"
      "    macs: a:b\n    mac: nocolon\n");
  r = run_cli("hw check " + (d / "badmap.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("badmap.yaml:6:5: energy.accelergy_map.macs: not an eatsim event"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("badmap.yaml:7:10: energy.accelergy_map.mac: expected COMPONENT:ACTION"),
            std::string::npos)
      << r.err;
  // A negative energy and broken YAML in the ERT.
  std::string neg = ert;
  neg.replace(neg.find("energy: 0.3"), 11, "energy: -1");
  test::write_file(d / "neg.yaml", neg);
  test::write_file(d / "hwneg.yaml",
                   "include: tpu_ws32.yaml\nname: neg\nenergy:\n  accelergy_ert: neg.yaml\n");
  r = run_cli("hw check " + (d / "hwneg.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("neg.yaml:8:15: energy '-1': expected a non-negative number"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("has no action"), std::string::npos) << r.err;
  test::write_file(d / "broken.yaml", "ERT:\n  tables: [\n");
  test::write_file(d / "hwbroken.yaml",
                   "include: tpu_ws32.yaml\nname: broken\nenergy:\n  accelergy_ert: broken.yaml\n");
  r = run_cli("hw check " + (d / "hwbroken.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("broken.yaml:"), std::string::npos) << r.err;
  // A missing ERT file, and a map without an ERT.
  test::write_file(d / "hwmissing.yaml",
                   "include: tpu_ws32.yaml\nname: m\nenergy:\n  accelergy_ert: nowhere.yaml\n");
  r = run_cli("hw check " + (d / "hwmissing.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nowhere.yaml: cannot open"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace eatsim
