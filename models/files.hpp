// Reading input files defensively: only regular files (not /dev/zero, a FIFO or a directory), and
// never more than a stated size, so a wrong path cannot hang or exhaust memory.
#pragma once
#include <cstdint>
#include <string>

namespace eatsim {

constexpr int64_t kMaxTextBytes = int64_t(64) << 20;  // YAML, JSON and CSV inputs

// Reads the whole file into `out`. Returns "" on success, else why not (for a message naming the
// file: "cannot open (...)", "is not a regular file (...)", "is larger than ...").
std::string read_regular_file(const std::string& path, std::string& out, int64_t max_bytes = kMaxTextBytes);

// "" when `path` may be replaced by a new file (it does not exist, or is a regular file), else why
// not: eatsim never renames over a link, a device, a FIFO or a directory.
std::string replaceable(const std::string& path);

}  // namespace eatsim
