// The committed reference traces against their goldens: the untouched tree passes `eatsim check`
// on every (trace, preset); a deliberate change to an energy table entry is caught (exit 1).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

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
      out.emplace_back(t.path().string(), p, ref() + "/goldens/" + t.path().filename().string() + "-" + p + ".json");
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
  ASSERT_FALSE(all.empty());
  const auto& [trace, preset, golden] = all.front();
  test::TempDir d("ref");
  // The SRAM table's largest point, 100 pJ per 64-bit access at 1 MB, altered by 1 %.
  auto s = test::run_cli("sim --hw " + preset + " --trace " + trace + " --out " + (d / "r") +
                         " --set 'energy.sram.points=[[8, 10], [32, 20], [1024, 101]]'");
  ASSERT_EQ(s.code, 0) << s.err;
  auto c = test::run_cli("check " + (d / "r.json") + " " + golden);
  EXPECT_EQ(c.code, 1) << c.out << c.err;
  EXPECT_TRUE(std::regex_search(c.out, std::regex(R"(total\s+energy_sram_\w+_pj .*REGRESSION)"))) << c.out;
}

}  // namespace
}  // namespace eatsim
