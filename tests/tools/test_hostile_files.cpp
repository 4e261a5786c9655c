// Hostile files: what eatsim reads must be a regular file of sane size and a single well-formed YAML
// document; resume state is checked, not trusted; outputs never replace a link or a device.
// Each case exits 2 with one line naming the file and the place, and loses nothing.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "tests/helpers.hpp"
#include "traces/npy.hpp"

namespace eatsim {
namespace {
namespace fs = std::filesystem;

void expect_refused(const test::CliResult& r, const std::string& said, const std::string& what) {
  EXPECT_EQ(r.code, 2) << what << "\n" << r.out << r.err;
  EXPECT_NE(r.err.find(said), std::string::npos) << what << "\n" << r.err;
}

TEST(HostileFiles, OnlyRegularFilesOfSaneSizeAreRead) {
  test::TempDir d("hostile");
  // Devices and FIFOs would grow without end or block forever.
  expect_refused(test::run_cli("hw check /dev/zero"), "/dev/zero: is not a regular file",
                 "device as hwconfig");
  ASSERT_EQ(::mkfifo((d / "fifo.yaml").c_str(), 0600), 0);
  expect_refused(test::run_cli("hw check " + (d / "fifo.yaml")), "is not a regular file", "FIFO as hwconfig");
  test::write_file(d / "inc.yaml", "include: /dev/zero\nname: x\n");
  expect_refused(test::run_cli("hw check " + (d / "inc.yaml")), "/dev/zero: is not a regular file",
                 "device as include");
  expect_refused(test::run_cli("model show " + (d / "fifo.yaml")), "is not a regular file", "FIFO as model");
  ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 1 --out " + (d / "t")).code, 0);
  fs::remove(d / "t/trace.yaml");
  fs::create_symlink("/dev/zero", d / "t/trace.yaml");
  expect_refused(test::run_cli("trace info " + (d / "t")), "is not a regular file", "device as manifest");
  // Larger than any text eatsim reads.
  std::string big(65 << 20, '#');
  test::write_file(d / "big.yaml", big);
  expect_refused(test::run_cli("hw check " + (d / "big.yaml")), "larger than the 64 MiB", "65 MiB hwconfig");
}

TEST(HostileFiles, YamlIsOneDocumentWithUniqueKeysAndNoAliasBomb) {
  test::TempDir d("hostile");
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c)
    bomb += fmt::format("{}: &{} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n", c, c,
                        fmt::arg("p", std::string(1, char(c - 1))));
  ASSERT_LT(bomb.size(), 1024u);
  test::write_file(d / "bomb.yaml", bomb);
  expect_refused(test::run_cli("hw check " + (d / "bomb.yaml")), "more than 1000000 YAML nodes",
                 "alias bomb");
  test::write_file(d / "dup.yaml", "include: tpu_ws32.yaml\nname: a\nname: b\n");
  expect_refused(test::run_cli("hw check " + (d / "dup.yaml")), "dup.yaml:3:1: duplicate key 'name'",
                 "duplicate key");
  ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 1 --out " + (d / "t")).code, 0);
  std::string m = test::read_file(d / "t/trace.yaml");
  test::write_file(d / "t/trace.yaml", m + "---\nformat: other\n");
  expect_refused(test::run_cli("trace info " + (d / "t")), "a second YAML document", "two documents");
}

TEST(HostileFiles, ResumeStateIsCheckedNotTrusted) {
  test::TempDir d("hostile");
  const std::string cfg =
      "train --model smallcnn --width 2 --train-limit 1024 --test-limit 200 --batch 128 "
      "--threads 1 -q --epochs 3 --ratio-samples 0 --out " +
      (d / "run");
  ASSERT_EQ(test::run_cli(cfg + " --max-steps 10").code, 0);  // epoch 1 (8 steps) and 2 steps of epoch 2
  const std::string ck = d / "run/checkpoint/checkpoint.yaml", csv = d / "run/metrics.csv";
  const std::string good_ck = test::read_file(ck), good_csv = test::read_file(csv);
  auto with = [&](const std::string& file, const std::string& text) {
    test::write_file(file, text);
    auto r = test::run_cli(cfg + " --resume");
    test::write_file(file, file == ck ? good_ck : good_csv);
    return r;
  };
  std::smatch mpos;
  ASSERT_TRUE(std::regex_search(good_ck, mpos, std::regex("position: \"?[0-9]+\"?")));
  expect_refused(
      with(ck, std::regex_replace(good_ck, std::regex("position: \"?[0-9]+\"?"), "position: \"-5\"")),
      "info.position is '-5'", "negative position");
  expect_refused(with(ck, std::regex_replace(good_ck, std::regex("position: \"?[0-9]+\"?"), "position: abc")),
                 "info.position is 'abc'", "non-numeric position");
  expect_refused(with(csv, good_csv + "x,1,2\n"), "metrics.csv:3: not the row of epoch 2",
                 "appended junk row");
  expect_refused(with(csv, std::regex_replace(good_csv, std::regex("\n1,"), "\nONE,")),
                 "metrics.csv:2: not the row of epoch 1", "non-numeric epoch");
  // A momentum file of another shape would be written past its end by the optimiser.
  const std::string mom = d / "run/checkpoint/optimizer/momentum.conv1.weight.npy";
  const std::string good_mom = test::read_file(mom);
  float two[2] = {0, 0};
  npy_save_f32(mom, {2}, two);
  expect_refused(test::run_cli(cfg + " --resume"), "momentum of the parameter 'conv1.weight' has shape [2]",
                 "momentum of another shape");
  test::write_file(mom, good_mom);
  // A blank line in metrics.csv is no row.
  test::write_file(csv, good_csv + "\n");
  // Nothing was lost: the run still resumes and finishes.
  auto r = test::run_cli(cfg + " --resume");
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(HostileFiles, OutputsNeverReplaceALinkOrADevice) {
  test::TempDir d("hostile");
  ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 1 --out " + (d / "t")).code, 0);
  test::write_file(d / "precious", "keep me");
  fs::create_symlink(d / "precious", d / "link.csv");
  expect_refused(test::run_cli("trace info " + (d / "t") + " --csv " + (d / "link.csv")),
                 "is a symbolic link", "CSV onto a symlink");
  EXPECT_TRUE(fs::is_symlink(d / "link.csv"));
  EXPECT_EQ(test::read_file(d / "precious"), "keep me");
  fs::create_directory(d / "dir.csv");
  expect_refused(test::run_cli("trace info " + (d / "t") + " --csv " + (d / "dir.csv")), "not a regular file",
                 "CSV onto a directory");
}

TEST(HostileFiles, AFullDiskFailsTheWriteAndLeavesNoTruncatedFile) {
  // A file-size limit of 1 KiB makes every larger write fail as a full disk would (SIGXFSZ ignored).
  test::TempDir d("hostile");
  ASSERT_EQ(test::run_cli("trace synth resnet8 --samples 1 --out " + (d / "t")).code, 0);
  for (const std::string& cmd :
       {std::string("energy ") + (d / "t") + " --csv " + (d / "e.csv"),
        std::string("energy ") + (d / "t") + " --json " + (d / "e.json"),
        std::string("trace info ") + (d / "t") + " --csv " + (d / "i.csv"),
        std::string("firing ") + (d / "t") + " --csv " + (d / "f.csv"),
        std::string("sim --hw tpu_ws32 --trace ") + (d / "t") + " --out " + (d / "s")}) {
    std::string sh = "bash -c \"trap '' XFSZ; ulimit -f 1; " + std::string(EATSIM_BIN) + " " + cmd + "\" >" +
                     (d / "out") + " 2>" + (d / "err");
    int st = std::system(sh.c_str());
    EXPECT_EQ(WEXITSTATUS(st), 2) << cmd << "\n" << test::read_file(d / "err");
    EXPECT_NE(test::read_file(d / "err").find("write failed (disk full?)"), std::string::npos) << cmd;
  }
  for (const char* f : {"e.csv", "e.json", "i.csv", "f.csv", "s.csv", "s.json"})
    EXPECT_FALSE(fs::exists(d / f)) << f;
  for (const auto& e : fs::directory_iterator(d.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(HostileFiles, AGoldenWithoutMetricsDoesNotPass) {
  test::TempDir d("hostile");
  ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 1 --out " + (d / "t")).code, 0);
  ASSERT_EQ(test::run_cli("sim --hw tpu_ws32 --trace " + (d / "t") + " --out " + (d / "r")).code, 0);
  // Every layer's metric groups emptied, the JSON otherwise intact.
  std::string py = test::python() +
                   " -c \"import json,sys; j=json.load(open(sys.argv[1]))\n"
                   "for l in j['layers']: l['counters']={}; l['derived']={}\n"
                   "json.dump(j, open(sys.argv[2], 'w'))\" " +
                   (d / "r.json") + " " + (d / "g.json");
  ASSERT_EQ(std::system(py.c_str()), 0);
  auto r = test::run_cli("check " + (d / "r.json") + " " + (d / "g.json"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find("has no metrics"), std::string::npos) << r.err;
}

TEST(HostileFiles, SweepGridsAreCountedBeforeTheyAreBuilt) {
  test::TempDir d("hostile");
  ASSERT_EQ(test::run_cli("trace synth smallcnn --samples 1 --out " + (d / "t")).code, 0);
  auto sweep = [&](const std::string& body) {
    test::write_file(d / "s.yaml", "base: tpu_ws32\ntraces: [{path: t}]\n" + body);
    return test::run_cli("sweep " + (d / "s.yaml") + " -q --out " + (d / "out"));
  };
  std::string huge = "params:\n";
  for (const char* k : {"array.rows", "array.cols", "buffers.ifmap.size_kb", "buffers.weights.size_kb"})
    huge += fmt::format("  {}: {{from: 1, to: 100000}}\n", k);
  expect_refused(sweep(huge), "the grid has 1e+20 points", "1e20-point grid");
  expect_refused(sweep("params:\n  array.rows: {from: 1, to: 1e12}\n"), "has more than 100000 values",
                 "huge range");
  std::string deep = "params:\n  array.rows: [16, 32]\nconstraints: [\"" + std::string(20000, '(') + "1" +
                     std::string(20000, ')') + "\"]\n";
  expect_refused(sweep(deep), "nested more than 200 deep", "deep constraint");
  expect_refused(sweep("params:\n  array.rows: [16, 32]\nconstraints: [\"rows / 0 > 1\"]\n"),
                 "division by zero", "x / 0");
  // The widest power-of-two range ends (and is refused only by the grid limit when crossed).
  auto r = sweep("params:\n  dram.latency: {log2: [1, 9223372036854775807]}\nmax_points: 2\n");
  expect_refused(r, "the grid has 63 points", "log2 to 2^63-1");
  EXPECT_FALSE(fs::exists(d / "out/results.csv"));
  // Results onto an existing file: a usage error, the file untouched.
  test::write_file(d / "afile", "keep");
  test::write_file(d / "s.yaml", "base: tpu_ws32\ntraces: [{path: t}]\nparams:\n  array.rows: [16]\n");
  expect_refused(test::run_cli("sweep " + (d / "s.yaml") + " -q --out " + (d / "afile")),
                 "exists and is not a directory", "sweep --out onto a file");
  EXPECT_EQ(test::read_file(d / "afile"), "keep");
}

}  // namespace
}  // namespace eatsim
