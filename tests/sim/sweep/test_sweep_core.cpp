// Sweep machinery with a deterministic stand-in evaluator: expansion, ranges, zip, constraints,
// shards, resume, merge, Pareto and bad sweep files. (The real simulator is exercised in
// test_sweep_cli.cpp.)
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "base/errors.hpp"
#include "sim/sweep/sweep.hpp"
#include "tests/helpers.hpp"

namespace eatsim::sweep {
namespace {
namespace fs = std::filesystem;

// energy = rows*cols + trace, cycles = 1e6 / (rows*cols): a clean trade-off.
class FakeEval : public Evaluator {
 public:
  std::vector<std::pair<std::string, double>> evaluate(const Point& p, size_t trace) const override {
    double rows = 1, cols = 1;
    for (const auto& [k, v] : p.assign) {
      if (k == "array.rows") rows = std::stod(v);
      if (k == "array.cols") cols = std::stod(v);
    }
    ++calls;
    return {{"energy_pj", rows * cols + static_cast<double>(trace)},
            {"cycles", 1e6 / (rows * cols)},
            {"pe_count", rows * cols}};
  }
  std::vector<std::pair<std::string, std::string>> trace_columns(size_t t) const override {
    return {{"lambda", t ? "1" : "0"}};
  }
  std::vector<std::string> pareto_metrics() const override { return {"energy_pj", "cycles", "pe_count"}; }
  mutable std::atomic<int> calls{0};
};

const char* kSweep = R"(name: grid
base: tpu_ws32
params:
  array.rows: [8, 16, 32]
  array.cols: {from: 8, to: 32, step: 8}
zip:
  - {buffers.ifmap.size_kb: [64, 128], buffers.weights.size_kb: [32, 64]}
constraints:
  - "array.rows * array.cols <= 512"
traces:
  - {name: st, path: /nonexistent/st}
  - {name: eat, path: /nonexistent/eat}
)";

TEST(SweepSpec, ExpandsCrossedAndZippedWithConstraints) {
  Spec s = parse_spec(kSweep, "s.yaml");
  ASSERT_EQ(s.keys().size(), 4u);
  int64_t grid = 0;
  auto pts = expand(s, &grid);
  EXPECT_EQ(grid, 3 * 4 * 2);
  // rows*cols <= 512 keeps: rows 8 (cols 8..32: 4), 16 (8..32: 4), 32 (8, 16: 2) → 10 × 2 zips.
  EXPECT_EQ(pts.size(), 20u);
  EXPECT_EQ(pts[0].assign[0], (std::pair<std::string, std::string>{"array.rows", "8"}));
  EXPECT_EQ(pts[1].assign[3].second, "64");  // the zipped pair moves together, fastest
  EXPECT_EQ(pts[1].assign[2].second, "128");
  // Ids are positions in the full grid, so they survive constraints.
  EXPECT_EQ(pts.back().id, 2 * 8 + 1 * 2 + 1);
}

TEST(SweepSpec, Log2RangeAndStringConstraints) {
  Spec s = parse_spec(R"(base: x
params:
  array.rows: {log2: [4, 64]}
  array.dataflow: [ws, os, is]
constraints: ["dataflow != 'is' or rows >= 32"]
traces: [{path: /t}]
)",
                      "s.yaml");
  auto pts = expand(s);
  EXPECT_EQ(pts.size(), 5u * 2 + 2);  // 4..64 is 5 values; 'is' only with rows 32, 64
}

struct BadSweep {
  const char* what;
  const char* yaml;
  const char* expect;
};
// Test names in listings (and so in ctest) show the case, not the object's bytes.
void PrintTo(const BadSweep& c, std::ostream* os) { *os << c.what; }
class BadSweepTest : public ::testing::TestWithParam<BadSweep> {};
TEST_P(BadSweepTest, ClearError) {
  try {
    Spec s = parse_spec(GetParam().yaml, "bad.yaml");
    expand(s);
    FAIL() << GetParam().what;
  } catch (const ConfigError& e) {
    EXPECT_TRUE(std::regex_search(e.what(), std::regex(GetParam().expect))) << e.what();
  }
}
INSTANTIATE_TEST_SUITE_P(
    Cases, BadSweepTest,
    ::testing::Values(
        BadSweep{"empty range", "base: x\nparams:\n  array.rows: {from: 8, to: 4}\ntraces: [{path: t}]\n",
                 R"(bad\.yaml:3:\d+: .*empty)"},
        BadSweep{"empty list", "base: x\nparams:\n  array.rows: []\ntraces: [{path: t}]\n", R"(no values)"},
        BadSweep{
            "all removed",
            "base: x\nparams:\n  array.rows: [8]\nconstraints: [\"array.rows > 8\"]\ntraces: [{path: t}]\n",
            R"(remove every one of the 1 grid points)"},
        BadSweep{
            "bad expression",
            "base: x\nparams:\n  array.rows: [8]\nconstraints: [\"array.rows >\"]\ntraces: [{path: t}]\n",
            R"(bad\.yaml:4: constraint .* at column)"},
        BadSweep{"unknown name in constraint",
                 "base: x\nparams:\n  array.rows: [8]\nconstraints: [\"colour == 1\"]\ntraces: [{path: t}]\n",
                 R"(unknown name 'colour')"},
        BadSweep{"unknown key", "base: x\nparams:\n  array.rows: [8]\ntraces: [{path: t}]\nshards: 3\n",
                 R"(shards: unknown key)"},
        BadSweep{"no traces", "base: x\nparams:\n  array.rows: [8]\n", R"(traces)"},
        BadSweep{"zip lengths", "base: x\nzip:\n  - {a: [1, 2], b: [1]}\ntraces: [{path: t}]\n",
                 R"(zipped parameters need equal)"}),
    [](const auto& i) {
      std::string s = i.param.what;
      for (auto& c : s)
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      return s;
    });

TEST(SweepRun, ResumesOnlyMissingResultsAndCsvIsIndependentOfJobs) {
  test::TempDir d("sweep");
  Spec s = parse_spec(kSweep, d / "s.yaml");
  FakeEval ev;
  RunOptions o;
  o.out_dir = d / "a", o.jobs = 1, o.progress = false;
  RunSummary r1 = run(s, ev, o);
  EXPECT_EQ(r1.computed, 40);
  EXPECT_EQ(ev.calls, 40);
  std::string csv1 = test::read_file(d / "a/results.csv");
  EXPECT_EQ(std::count(csv1.begin(), csv1.end(), '\n'), 41);
  EXPECT_EQ(csv1.substr(0, csv1.find('\n')),
            "point,trace,array.rows,array.cols,buffers.ifmap.size_kb,buffers.weights.size_kb,trace_lambda,"
            "energy_pj,cycles,pe_count");
  // Lose some results, as a kill would: only those are recomputed, the CSV comes out identical.
  int removed = 0;
  for (auto& e : fs::directory_iterator(d / "a/points"))
    if (removed < 7) fs::remove(e.path()), ++removed;
  RunSummary r2 = run(s, ev, o);
  EXPECT_EQ(r2.reused, 33);
  EXPECT_EQ(r2.computed, 7);
  EXPECT_EQ(test::read_file(d / "a/results.csv"), csv1);
  // Two jobs: byte-identical outputs.
  o.out_dir = d / "b", o.jobs = 2;
  run(s, ev, o);
  EXPECT_EQ(test::read_file(d / "b/results.csv"), csv1);
  // Another sweep into the same directory is refused.
  Spec other = parse_spec(std::string(kSweep) + "# changed\n", d / "s.yaml");
  EXPECT_THROW(run(other, ev, o), ConfigError);
}

TEST(SweepRun, ShardsPartitionTheGridAndMergeReportsGaps) {
  test::TempDir d("sweep");
  Spec s = parse_spec(kSweep, d / "s.yaml");
  FakeEval ev;
  std::vector<std::string> dirs;
  int64_t total = 0;
  for (int k = 1; k <= 3; ++k) {
    RunOptions o;
    o.out_dir = d / ("shard" + std::to_string(k)), o.shard = {k, 3}, o.progress = false;
    total += run(s, ev, o).in_shard;
    dirs.push_back(o.out_dir);
  }
  EXPECT_EQ(total, 20);
  MergeReport rep = merge(dirs, d / "merged");
  EXPECT_EQ(rep.expected, 40);
  EXPECT_EQ(rep.found, 40);
  EXPECT_TRUE(rep.missing.empty());
  RunOptions whole;
  whole.out_dir = d / "whole", whole.progress = false;
  run(s, ev, whole);
  EXPECT_EQ(test::read_file(d / "merged/results.csv"), test::read_file(d / "whole/results.csv"));
  // A shard missing, one given twice.
  MergeReport gap = merge({dirs[0], dirs[1], dirs[1]}, d / "gap");
  EXPECT_FALSE(gap.missing.empty());
  EXPECT_FALSE(gap.duplicated.empty());
  // Shards of another sweep file are refused.
  Spec other = parse_spec(std::string(kSweep) + "# another\n", d / "s.yaml");
  RunOptions o;
  o.out_dir = d / "other", o.progress = false;
  run(other, ev, o);
  EXPECT_THROW(merge({dirs[0], d / "other"}, d / "bad"), ConfigError);
}

TEST(SweepRun, ShardSpecValidation) {
  EXPECT_EQ(parse_shard("2/5").k, 2);
  EXPECT_THROW(parse_shard("0/5"), UsageError);
  EXPECT_THROW(parse_shard("6/5"), UsageError);
  EXPECT_THROW(parse_shard("1-5"), UsageError);
  EXPECT_THROW(parse_shard("1/0"), UsageError);
}

TEST(SweepPareto, KeepsOnlyNonDominatedRows) {
  std::vector<std::vector<double>> m = {{1, 5, 1}, {2, 2, 1}, {3, 3, 1}, {5, 1, 1}, {2, 2, 1}};
  auto f = pareto_front(m);
  EXPECT_EQ(f, (std::vector<size_t>{0, 1, 3, 4}));  // (3,3) is dominated by (2,2); equal rows both stay
}

}  // namespace
}  // namespace eatsim::sweep
