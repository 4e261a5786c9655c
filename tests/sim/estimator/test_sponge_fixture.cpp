// The key acceptance check of the sponge estimator: on the fixture's weights and inputs, a trace
// written from the PyTorch forward pass (tools/torch2trace.py) gives exactly the original
// estimator's totals, per-leaf counts and ratio (tests/fixtures/sponge/expected_*.json).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>

#include "sim/estimator/estimator.hpp"
#include "tests/helpers.hpp"
#include "traces/trace.hpp"

namespace eatsim::sponge {
namespace {

std::string fixture(const std::string& f) { return test::source_dir() + "/tests/fixtures/sponge/" + f; }

void sh(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

// Writes the fixture case and two traces: the forward pass on all 4 inputs at once (what the
// original's one-pass `analyse` saw) and one image at a time (what its per-image scoring saw;
// PyTorch's kernels round differently at batch 1, and a few values near zero flip).
void make_traces(const std::string& arch, const test::TempDir& d, const std::string& case_flags = "") {
  sh(test::python() + " " + fixture("make_case.py") + " --arch " + arch + " --out " + d.path() + " " +
     case_flags);
  std::string cmd = test::python() + " " + test::source_dir() + "/tests/sim/estimator/fixture_traces.py " +
                    arch + " " + d.path() + " " + EATSIM_BIN;
  ASSERT_EQ(std::system(cmd.c_str()), 0)
      << cmd << "\nfailed: the fixture test needs numpy and torch in " << test::python()
      << " (Debian python3-torch); it does not skip without them";
}

void expect_rel(double got, double want, double tol, const std::string& what) {
  EXPECT_LE(std::fabs(got - want), tol * std::fabs(want)) << what << ": got " << got << ", expected " << want;
}

void expect_totals(const Totals& t, const YAML::Node& e, const std::string& what) {
  EXPECT_EQ(t.param_total, e["param_total"].as<int64_t>()) << what;
  EXPECT_EQ(t.param_nnz, e["param_nnz"].as<int64_t>()) << what;
  EXPECT_EQ(t.in_total, e["in_total"].as<int64_t>()) << what;
  EXPECT_EQ(t.in_nnz, e["in_nnz"].as<int64_t>()) << what;
  EXPECT_EQ(t.out_total, e["out_total"].as<int64_t>()) << what;
  EXPECT_EQ(t.out_nnz, e["out_nnz"].as<int64_t>()) << what;
  EXPECT_EQ(t.ops, e["ops"].as<int64_t>()) << what;
}

Shape shape_of(const YAML::Node& n) {
  Shape s;
  for (const auto& d : n) s.push_back(d.as<int64_t>());
  return s;
}

void expect_pass(const Estimate& got, const YAML::Node& e, const std::string& what, bool leaves) {
  EXPECT_EQ(got.samples, e["batch"].as<int64_t>()) << what;
  expect_totals(got.totals, e["totals"], what);
  expect_rel(got.ratio, e["ratio"].as<double>(), 1e-12, what + " ratio");
  expect_rel(got.energy_worst_pj, e["energy_worst_pj"].as<double>(), 1e-12, what + " worst-case energy");
  expect_rel(got.energy_opt_pj, e["energy_opt_pj"].as<double>(), 1e-12, what + " optimised energy");
  expect_rel(got.f(), e["compute_fraction"].as<double>(), 1e-12, what + " f");
  if (!leaves) return;
  const YAML::Node el = e["leaves"];
  ASSERT_EQ(got.layers.size(), el.size()) << what << ": number of hooked leaf calls";
  std::vector<std::string> unsupported;
  for (size_t i = 0; i < el.size(); ++i) {
    const LayerCount& l = got.layers[i];
    const YAML::Node x = el[i];
    std::string w = what + " leaf " + x["name"].as<std::string>();
    EXPECT_EQ(l.name, x["name"].as<std::string>()) << w;
    EXPECT_EQ(l.type, x["type"].as<std::string>()) << w;
    EXPECT_EQ(l.rule, x["op_rule"].as<std::string>()) << w;
    EXPECT_EQ(l.in_shape, shape_of(x["in_shapes"][0])) << w;
    EXPECT_EQ(l.out_shape, shape_of(x["out_shapes"][0])) << w;
    EXPECT_EQ(l.in_total, x["in_total"].as<int64_t>()) << w;
    EXPECT_EQ(l.in_nnz, x["in_nnz"].as<int64_t>()) << w;
    EXPECT_EQ(l.out_total, x["out_total"].as<int64_t>()) << w;
    EXPECT_EQ(l.out_nnz, x["out_nnz"].as<int64_t>()) << w;
    EXPECT_EQ(l.param_total, x["param_total"].as<int64_t>()) << w;
    EXPECT_EQ(l.param_nnz, x["param_nnz"].as<int64_t>()) << w;
    EXPECT_EQ(l.surcharge, x["surcharge_total"].as<int64_t>()) << w;
    EXPECT_EQ(l.ops, x["ops"].as<int64_t>()) << w;
    if (!l.supported) unsupported.push_back(l.name);
  }
  std::vector<std::string> want;
  for (const auto& u : e["unsupported_leaves"]) want.push_back(u.as<std::string>());
  EXPECT_EQ(unsupported, want) << what;
}

void check_arch(const std::string& arch) {
  test::TempDir d("sponge-" + arch);
  make_traces(arch, d);
  if (::testing::Test::HasFatalFailure()) return;
  YAML::Node whole = YAML::LoadFile(fixture("expected_" + arch + "_whole.json"));
  YAML::Node per = YAML::LoadFile(fixture("expected_" + arch + "_per-sample.json"));
  ASSERT_EQ(whole["reduction"].as<std::string>(), "whole");

  Census batch4 = census_from_trace(TraceReader(d / "trace0"), 32);
  Report r = analyse(batch4, {Convention::reference, Reduction::whole, 0});
  expect_pass(r.whole, whole["whole"], arch + " whole", true);
  expect_rel(r.ratio, whole["whole"]["ratio"].as<double>(), 1e-12, arch + " whole ratio");
  expect_pass(r.whole, per["whole"], arch + " per-sample file, whole pass", true);

  Census batch1 = census_from_trace(TraceReader(d / "trace1"), 32);
  Report p = analyse(batch1, {Convention::reference, Reduction::per_sample, 0});
  const YAML::Node ch = per["chunked"];
  ASSERT_EQ(p.chunks.size(), ch["per_chunk"].size());
  for (size_t i = 0; i < p.chunks.size(); ++i)
    expect_pass(p.chunks[i], ch["per_chunk"][i], arch + " sample " + std::to_string(i), false);
  expect_rel(p.ratio, ch["ratio_mean"].as<double>(), 1e-12, arch + " mean of per-sample ratios");
  expect_rel(p.ratio_std, ch["ratio_std"].as<double>(), 1e-9, arch + " std of per-sample ratios");
  expect_rel(p.energy_opt_mean_pj, ch["energy_opt_pj_mean"].as<double>(), 1e-12,
             arch + " mean optimised energy");
  expect_rel(p.energy_worst_mean_pj, ch["energy_worst_pj_mean"].as<double>(), 1e-12,
             arch + " mean worst energy");
}

// Running statistics with exact zeros (pruned or EAT-trained networks): BN's second read of them
// counts their non-zeros, not 2C. expected_<arch>_zero-stats_whole.json comes from
// tests/sim/estimator/sponge_reference.py, which reproduces expected_<arch>_whole.json exactly.
void check_zero_stats(const std::string& arch) {
  test::TempDir d("sponge0-" + arch);
  make_traces(arch, d, "--zero-stats");
  if (::testing::Test::HasFatalFailure()) return;
  YAML::Node whole = YAML::LoadFile(fixture("expected_" + arch + "_zero-stats_whole.json"));
  Census c = census_from_trace(TraceReader(d / "trace0"), 32);
  Report r = analyse(c, {Convention::reference, Reduction::whole, 0});
  expect_pass(r.whole, whole["whole"], arch + " zero statistics", false);
}

TEST(SpongeFixture, ZeroRunningStatisticsCountAsTheOriginalCountsThem) {
  check_zero_stats("resnet18");
  check_zero_stats("vgg16");
}

TEST(SpongeFixture, ReferenceConventionReproducesTheOriginalOnResNet18) { check_arch("resnet18"); }
TEST(SpongeFixture, ReferenceConventionReproducesTheOriginalOnVgg16) { check_arch("vgg16"); }

}  // namespace
}  // namespace eatsim::sponge
