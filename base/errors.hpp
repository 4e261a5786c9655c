// Error types, one per domain. The CLI maps every eatsim::Error to exit code 2 and prints its lines.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace eatsim {

// The domains of bad input. Each error type carries its kind, so an error can cross a process
// boundary (simulation workers, sweep shards) as (kind, text) and be thrown again as itself.
enum class ErrorKind { general, config, model, trace, data, numeric, file, usage };

// Bad input of any kind. Holds one or more lines, each "file:line:col: key: message (hint)".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& line) : std::runtime_error(line), lines_{line} {}
  explicit Error(std::vector<std::string> lines);
  const std::vector<std::string>& lines() const { return lines_; }
  virtual ErrorKind kind() const { return ErrorKind::general; }

 private:
  std::vector<std::string> lines_;
};

template <ErrorKind K>
struct ErrorOf : Error {
  using Error::Error;
  ErrorKind kind() const override { return K; }
};
using ConfigError = ErrorOf<ErrorKind::config>;    // hwconfigs, sweep files, tolerance files, reports
using ModelError = ErrorOf<ErrorKind::model>;      // model graphs
using TraceError = ErrorOf<ErrorKind::trace>;      // .npy files and traces
using DataError = ErrorOf<ErrorKind::data>;        // datasets and checkpoints
using NumericError = ErrorOf<ErrorKind::numeric>;  // NaN/inf during training, failed functional checks
using FileError = ErrorOf<ErrorKind::file>;        // outputs that cannot be written
using UsageError = ErrorOf<ErrorKind::usage>;      // command-line arguments

// Throws the error type of `kind` with `text` (its lines joined by newlines).
[[noreturn]] void throw_error(ErrorKind kind, const std::string& text);

// A check that ran and failed (a regression): exit code 1, not 2.
class CheckFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace eatsim
