// Files in and out, for every area. Inputs are read defensively: only regular files (not /dev/zero, a
// FIFO or a directory), and never more than a stated size, so a wrong path cannot hang or exhaust
// memory. Outputs are written crash-safely: atomic file replacement and directory staging.
#pragma once
#include <cstdint>
#include <string>

#include "base/errors.hpp"

namespace eatsim {

constexpr int64_t kMaxTextBytes = int64_t(64) << 20;  // YAML, JSON and CSV inputs

// Reads the whole file into `out`. Returns "" on success, else why not (for a message naming the
// file: "cannot open (...)", "is not a regular file (...)", "is larger than ...").
std::string read_regular_file(const std::string& path, std::string& out, int64_t max_bytes = kMaxTextBytes);

// "" when `path` may be replaced by a new file (it does not exist, or is a regular file), else why
// not: eatsim never renames over a link, a device, a FIFO or a directory.
std::string replaceable(const std::string& path);

// The whole text of `path`; a file that cannot be read is an `E` (the caller's domain: a trace, a
// sweep file, a golden report) whose one line names the file and why.
template <class E>
std::string read_text(const std::string& path) {
  std::string out, why = read_regular_file(path, out);
  if (!why.empty()) throw E(path + ": " + why);
  return out;
}

// A unique temporary name next to `path` (same directory, so rename is atomic).
std::string temp_name_for(const std::string& path);
// fsync a file or directory by path; errors are ignored where the OS does not support it.
void fsync_path(const std::string& path);
// Writes `data` to `path` atomically: temp file, fsync, rename, fsync of the directory. Throws
// FileError when it cannot.
void atomic_write(const std::string& path, const std::string& data);
// Renames a fully written staging directory onto `final_dir`. When `final_dir` exists and
// `replace` is true it is swapped out and removed; otherwise throws FileError.
void publish_dir(const std::string& staging, const std::string& final_dir, bool replace);

}  // namespace eatsim
