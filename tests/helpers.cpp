// Test helpers: see helpers.hpp.
#include "tests/helpers.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "models/graph.hpp"

namespace eatsim::test {

std::vector<float> normal_inputs(const Graph& g, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> x(n * numel(g.input_shape));
  for (auto& v : x) v = nd(rng);
  return x;
}
namespace fs = std::filesystem;

CliResult run_cli(const std::string& args, const std::string& cwd) {
  TempDir io("cli");
  std::string cmd = (cwd.empty() ? "" : "cd '" + cwd + "' && ") + std::string(EATSIM_BIN) + " " + args +
                    " >" + (io / "out") + " 2>" + (io / "err");
  int st = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = read_file(io / "out");
  r.err = read_file(io / "err");
  return r;
}

TempDir::TempDir(const std::string& tag) {
  static std::mt19937_64 rng(std::random_device{}());
  fs::path base = fs::temp_directory_path() / "eatsim-tests";
  fs::create_directories(base);
  for (;;) {
    fs::path p = base / (tag + "-" + std::to_string(getpid()) + "-" + std::to_string(rng() % 1000000000));
    if (fs::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary);
  f << contents;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string source_dir() { return EATSIM_SOURCE_DIR; }
std::string shared_dir() { return EATSIM_SHARED_DIR; }
std::string python() { return EATSIM_PYTHON; }

bool python_has(const std::string& module) {
  std::string cmd = python() + " -c 'import " + module + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace eatsim::test
