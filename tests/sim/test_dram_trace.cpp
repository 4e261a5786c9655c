// DRAM request traces (sim --dram-trace): every byte the run moves is in the trace, as 64-byte
// requests in cycle order inside the tensors of the address map; both formats parse as their
// simulators read them; gzip output reads back; bad destinations and the cycle fidelity exit 2.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;
using test::run_cli;

std::string gunzip(const std::string& path) {
  gzFile z = gzopen(path.c_str(), "rb");
  EXPECT_NE(z, nullptr) << path;
  std::string out;
  char buf[1 << 16];
  int n;
  while (z && (n = gzread(z, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  if (z) gzclose(z);
  return out;
}

// DRAM bytes read and written by a run, from its JSON report's total row (mean × samples).
std::pair<double, double> report_dram(const std::string& json) {
  auto j = nlohmann::json::parse(test::read_file(json));
  for (const auto& l : j["layers"])
    if (l["name"] == "total") {
      const double n = j["samples"].get<double>();
      const auto& c = l["counters"];
      double rd = c["dram_ifmap_rd_bytes"]["mean"].get<double>() +
                  c["dram_weights_rd_bytes"]["mean"].get<double>() +
                  c["dram_psum_rd_bytes"]["mean"].get<double>();
      return {rd * n, c["dram_wr_bytes"]["mean"].get<double>() * n};
    }
  return {-1, -1};
}

struct Region {
  uint64_t base;
  int64_t bytes;
};

void check_trace(const std::string& text, const std::string& map_csv, bool dramsim3, double rd_bytes,
                 double wr_bytes) {
  std::vector<Region> regions;
  std::istringstream m(map_csv);
  std::string line;
  std::getline(m, line);
  EXPECT_EQ(line, "region,base,bytes");
  while (std::getline(m, line)) {
    auto a = line.find(','), b = line.rfind(',');
    regions.push_back(
        {std::stoull(line.substr(a + 1, b - a - 1), nullptr, 16), std::stoll(line.substr(b + 1))});
  }
  ASSERT_FALSE(regions.empty());
  std::istringstream in(text);
  int64_t reads = 0, writes = 0, last = -1, outside = 0, unsorted = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string a, b;
    int64_t cycle = 0;
    if (dramsim3) {
      f >> a >> b >> cycle;
      ASSERT_TRUE(b == "READ" || b == "WRITE") << line;
      (b == "READ" ? reads : writes)++;
      if (cycle < last) ++unsorted;
      last = cycle;
    } else {
      f >> b >> a;
      ASSERT_TRUE(b == "LD" || b == "ST") << line;
      (b == "LD" ? reads : writes)++;
    }
    ASSERT_EQ(a.rfind("0x", 0), 0u) << line;
    const uint64_t addr = std::stoull(a.substr(2), nullptr, 16);
    EXPECT_EQ(addr % 64, 0u) << line;
    bool in_region = false;
    for (const auto& r : regions)
      in_region = in_region || (addr >= r.base && addr < r.base + uint64_t(r.bytes) + 63);
    outside += !in_region;
  }
  EXPECT_EQ(unsorted, 0);
  EXPECT_EQ(outside, 0);
  // Every byte the run moved is in a request (each transfer rounded up to whole 64-byte requests).
  EXPECT_GE(reads * 64.0, rd_bytes);
  EXPECT_GE(writes * 64.0, wr_bytes);
  EXPECT_LT(reads * 64.0, rd_bytes * 1.10 + 64 * 1000);
  EXPECT_LT(writes * 64.0, wr_bytes * 1.10 + 64 * 1000);
}

TEST(DramTrace, EveryByteTheRunMovesIsARequestInCycleOrderInsideItsTensor) {
  test::TempDir d("dram_trace");
  const std::string trace = test::source_dir() + "/traces/reference/traces/smallcnn-eat";
  for (const char* hw : {"tpu_ws32", "cnvlutin_ws16", "eyeriss_os16"}) {
    const std::string out = d / (std::string(hw) + ".trace");
    auto r = run_cli("sim --hw " + std::string(hw) + " --trace " + trace + " --out " + (d / hw) +
                     " --dram-trace " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    auto [rd, wr] = report_dram(d / (std::string(hw) + ".json"));
    ASSERT_GT(rd, 0);
    // The bytes the trace moved are exactly the run's DRAM bytes.
    const auto at = r.err.find(" bytes moved)");
    ASSERT_NE(at, std::string::npos) << r.err;
    const auto from = r.err.rfind('(', at);
    EXPECT_EQ(std::stod(r.err.substr(from + 1, at - from - 1)), rd + wr) << hw;
    check_trace(test::read_file(out), test::read_file(out + ".map.csv"), true, rd, wr);
  }
  // Ramulator 2's LoadStoreTrace, gzip-compressed, shapes only.
  const std::string gz = d / "r8.trace.gz";
  auto r = run_cli("sim --hw tpu_ws32 --model resnet8 --out " + (d / "r8") + " --dram-trace " + gz +
                   " --dram-trace-format ramulator2");
  ASSERT_EQ(r.code, 0) << r.err;
  auto [rd, wr] = report_dram(d / "r8.json");
  check_trace(gunzip(gz), test::read_file(gz + ".map.csv"), false, rd, wr);
}

TEST(DramTrace, BadDestinationsAndTheCycleFidelityExitTwoLeavingNothing) {
  test::TempDir d("dram_trace_bad");
  auto r = run_cli("sim --hw tpu_ws32 --model smallcnn --dram-trace " + (d / "no/such/dir/t.trace"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("cannot write the DRAM trace"), std::string::npos) << r.err;
  fs::create_directory(d / "adir");
  r = run_cli("sim --hw tpu_ws32 --model smallcnn --dram-trace " + (d / "adir"));
  EXPECT_EQ(r.code, 2) << r.err;
  r = run_cli("sim --hw tpu_ws32 --model smallcnn --fidelity cycle --dram-trace " + (d / "c.trace"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("fast and step fidelities"), std::string::npos) << r.err;
  r = run_cli("sim --hw tpu_ws32 --model smallcnn --dram-trace-format ddr --dram-trace " + (d / "f.trace"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_FALSE(fs::exists(d / "c.trace"));
  EXPECT_FALSE(fs::exists(d / "f.trace"));
  for (const auto& e : fs::directory_iterator(d.path())) EXPECT_EQ(e.path().filename(), "adir") << e.path();
}

}  // namespace
}  // namespace eatsim
