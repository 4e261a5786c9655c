// eatsim sim end to end on a small synthetic trace: table, CSV and JSON; bad input exits 2 with
// the layer and the reason.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/helpers.hpp"

namespace eatsim {
namespace {

TEST(SimCli, ReplaysATraceAndWritesCsvAndJson) {
  test::TempDir d;
  auto r = test::run_cli("trace synth resnet8 --out " + (d / "tr") + " -n 3 --width 0.5");
  ASSERT_EQ(r.code, 0) << r.err;
  r = test::run_cli("sim --hw tpu_ws32 --trace " + (d / "tr") + " --out " + (d / "rep"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("total"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 sample(s)"), std::string::npos) << r.out;
  std::string csv = test::read_file(d / "rep.csv"), json = test::read_file(d / "rep.json");
  EXPECT_EQ(csv.rfind("layer,kind,fused,M,K,N,groups,mac_dense,", 0), 0u) << csv.substr(0, 200);
  EXPECT_NE(json.find("\"samples\": 3"), std::string::npos);
  EXPECT_NE(json.find("\"util_effective\""), std::string::npos);
  // The JSON is valid and its total row matches the CSV's.
  std::string py = test::python() +
                   " -c 'import json,csv,sys; j=json.load(open(sys.argv[1])); "
                   "rows=list(csv.DictReader(open(sys.argv[2]))); "
                   "assert j[\"layers\"][-1][\"name\"]==\"total\"; "
                   "assert "
                   "abs(j[\"layers\"][-1][\"derived\"][\"energy_pj\"][\"mean\"]-float(rows[-1][\"energy_pj\"]"
                   "))<1e-6*float(rows[-1][\"energy_pj\"])' " +
                   (d / "rep.json") + " " + (d / "rep.csv");
  EXPECT_EQ(std::system(py.c_str()), 0) << py;
  // Same numbers per clock.
  auto s =
      test::run_cli("sim --hw tpu_ws32 --trace " + (d / "tr") + " --fidelity step --out " + (d / "step"));
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(test::read_file(d / "step.csv"), csv);
}

TEST(SimCli, BadInputExitsTwoNamingLayerAndReason) {
  auto r = test::run_cli("sim --hw tpu_ws32 --model resnet18 --set buffers.weights.size_kb=0.25");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("layer conv1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("one RxC weight tile"), std::string::npos) << r.err;
  r = test::run_cli("sim --hw tpu_ws32");
  EXPECT_EQ(r.code, 2);
  r = test::run_cli("sim --hw cnvlutin_ws16 --model resnet8");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("need the trace's values"), std::string::npos) << r.err;
  r = test::run_cli("sim --hw tpu_ws32 --trace /nonexistent/trace");
  EXPECT_EQ(r.code, 2);
}

}  // namespace
}  // namespace eatsim
