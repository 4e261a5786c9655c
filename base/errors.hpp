// Error types, one per domain. The CLI maps every eatsim::Error to exit code 2 and prints its lines.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace eatsim {

// Bad input of any kind. Holds one or more lines, each "file:line:col: key: message (hint)".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& line) : std::runtime_error(line), lines_{line} {}
  explicit Error(std::vector<std::string> lines);
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

struct ConfigError : Error {
  using Error::Error;
};  // hwconfigs, sweep files, tolerance files
struct ModelError : Error {
  using Error::Error;
};  // model graphs
struct TraceError : Error {
  using Error::Error;
};  // .npy files and traces
struct DataError : Error {
  using Error::Error;
};  // datasets and checkpoints
struct NumericError : Error {
  using Error::Error;
};  // NaN/inf during training, failed functional checks
struct FileError : Error {
  using Error::Error;
};  // outputs that cannot be written
struct UsageError : Error {
  using Error::Error;
};  // command-line arguments

// A check that ran and failed (a regression): exit code 1, not 2.
class CheckFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace eatsim
