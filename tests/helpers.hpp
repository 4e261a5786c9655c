// Test helpers: run the eatsim binary, temporary directories, small file utilities.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace eatsim {
struct Graph;
}

namespace eatsim::test {

struct CliResult {
  int code = -1;
  std::string out, err;
};

// Runs `eatsim ARGS` (a shell-quoted string) with the given working directory.
CliResult run_cli(const std::string& args, const std::string& cwd = "");

// A fresh directory under the build's temp area, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "t");
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);
std::string source_dir();  // the repository root
std::string shared_dir();  // ../shared beside the repository (fixtures)
std::string python();      // Debian's python3 with numpy and torch
bool python_has(const std::string& module);

// n standard-normal network inputs for g (seeded), n × the graph's input shape.
std::vector<float> normal_inputs(const Graph& g, int n, uint64_t seed);

}  // namespace eatsim::test
