// The eatsim subcommand registry: each tools/eatsim/cmd_*.cpp registers one subcommand by name.
#pragma once
#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace eatsim::cli {

namespace po = boost::program_options;
using Args = std::vector<std::string>;

struct Command {
  std::string name;     // "model show"
  std::string summary;  // one line for `eatsim --help`
  int (*run)(const Args& args);
};

std::vector<Command>& registry();

struct Register {
  Register(const char* name, const char* summary, int (*run)(const Args&)) {
    registry().push_back({name, summary, run});
  }
};

// Parses args into vm; prints usage and returns false on --help. Unknown options and missing
// values throw UsageError naming the command.
bool parse(const std::string& command, const std::string& usage, const Args& args,
           po::options_description& opts, const po::positional_options_description& pos,
           po::variables_map& vm);

// A numeric option must lie in [lo, hi]: UsageError "--NAME V: must be <what>" otherwise (NaN too).
void require_range(const std::string& option, double value, double lo, double hi, const std::string& what);
// Threads and worker counts: at most this many (more is never useful and exhausts the machine).
constexpr int kMaxWorkers = 1024;

// Progress on long work goes to stderr; stays quiet when stderr is not a terminal unless forced.
bool stderr_is_tty();

}  // namespace eatsim::cli

namespace eatsim {
struct ParamOverrides;
struct Graph;
enum class DType;
}  // namespace eatsim

namespace eatsim::cli {
// --width, --in-channels, --input-size, --classes: shared by every command that builds a model.
void add_model_options(po::options_description& opts);
ParamOverrides model_overrides(const po::variables_map& vm);
// A model by name, .yaml path or .onnx file (shapes only: ONNX's weights are not read; --input-size
// and --in-channels fix an ONNX input's dynamic dimensions, --width and --classes do not apply).
Graph load_model(const std::string& model, const po::variables_map& vm);
bool is_onnx_path(const std::string& model);

// --dtype of trace export/synth: float32 | float16 | bfloat16 | int8 (UsageError otherwise).
DType storage_dtype(const std::string& name);
}  // namespace eatsim::cli
