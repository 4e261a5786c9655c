// Hostile command lines: every value out of range is refused with exit 2 and one line naming the
// option and what it must be, before any work starts (nothing is written).
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <ostream>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

struct Case {
  const char* args;  // after `eatsim`; OUT stands for a fresh directory
  const char* said;  // a part of the one-line error
};

// Test names in listings (and so in ctest) show the command, not the object's bytes.
void PrintTo(const Case& c, std::ostream* os) {
  for (const char* p = c.args; *p; ++p) *os << (std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_');
}

class HostileOption : public ::testing::TestWithParam<Case> {};

TEST_P(HostileOption, Exits2NamingTheOption) {
  test::TempDir d("hostile");
  std::string args = GetParam().args;
  for (size_t p; (p = args.find("OUT")) != std::string::npos;) args.replace(p, 3, d / "out");
  auto r = test::run_cli(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.out << r.err;
  EXPECT_NE(r.err.find(GetParam().said), std::string::npos) << args << "\n" << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(d / "out")) << args;
}

const Case kCases[] = {
    // Integers validated as 64-bit must not wrap into an int.
    {"sim --hw tpu_ws32 --model smallcnn --set array.rows=4294967296", "array.rows: must be at most 65536"},
    {"hw check tpu_ws32 --set array.rows=4294967328", "array.rows: must be at most 65536"},
    {"hw check tpu_ws32 --set dram.latency=99999999999", "dram.latency: must be at most"},
    {"hw check tpu_ws32 --set ppu.width=3000000000", "ppu.width: must be at most"},
    // Sizes, clocks and energies that would overflow into inf, nan or negative byte counts.
    {"hw check tpu_ws32 --set buffers.ifmap.size_kb=1e15",
     "buffers.ifmap.size_kb: must be positive and at most"},
    {"sim --hw tpu_ws32 --model smallcnn --set energy.dram_per_byte.pj=1e308", "at most 1e+09"},
    {"sim --hw tpu_ws32 --model smallcnn --set array.clock_mhz=1e-300", "must be at least 0.001 MHz"},
    {"hw check tpu_ws32 --set array.clock_mhz=.nan", "array.clock_mhz: expected a number"},
    // Worker counts.
    {"sim --hw tpu_ws32 --model smallcnn --jobs 100000", "--jobs 100000: must be"},
    {"train --model smallcnn --threads 100000 --out OUT", "--threads 100000: must be 1..1024"},
    {"demo --threads -3 --out OUT", "--threads -3: must be"},
    // Training options that would run on garbage.
    {"train --model smallcnn --momentum 10 --out OUT", "--momentum 10: must be in [0, 1)"},
    {"train --model smallcnn --gamma -1 --out OUT", "--gamma -1: must be positive"},
    {"train --model smallcnn --crop-pad -1 --out OUT", "--crop-pad -1: must be 0..64"},
    {"train --model smallcnn --train-limit -1 --out OUT", "--train-limit -1: must be zero (all) or positive"},
    {"train --model smallcnn --step-size 0 --out OUT", "--step-size 0: must be at least 1"},
    {"train --model smallcnn --weight-decay -0.1 --out OUT", "--weight-decay -0.1: must be in [0, 1]"},
    {"train --model smallcnn --rotate 400 --out OUT", "--rotate 400: must be 0..180"},
    {"train --model smallcnn --batch 0 --out OUT", "--batch 0: must be 1..65536"},
    {"train --model smallcnn --out ''", "--out '': give a run directory"},
};

INSTANTIATE_TEST_SUITE_P(Cli, HostileOption, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::to_string(i.index); });

}  // namespace
}  // namespace eatsim
