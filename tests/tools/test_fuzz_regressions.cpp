// Every input a fuzzer of tools/fuzz once crashed, hung or tripped a sanitizer on, replayed through
// the same target body (tests/fixtures/fuzz/TARGET/*): each must now end cleanly (an eatsim::Error
// caught inside the target, or success), in well under a second.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "tests/helpers.hpp"
#include "tools/fuzz/targets.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

TEST(FuzzRegressions, EveryFoundInputEndsCleanly) {
  const fs::path root = test::source_dir() + "/tests/fixtures/fuzz";
  int replayed = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    const std::string target = dir.path().filename().string();
    for (const auto& f : fs::directory_iterator(dir.path())) {
      std::string bytes = test::read_file(f.path().string());
      auto t0 = std::chrono::steady_clock::now();
      bool known = false;
      EXPECT_NO_THROW(known = fuzz::run(target, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()))
          << f.path();
      EXPECT_TRUE(known) << target << ": no such fuzz target";
      EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0)
          << f.path();
      ++replayed;
    }
  }
  EXPECT_GE(replayed, 7);
}

}  // namespace
}  // namespace eatsim
