// File-system helpers for crash-safe outputs: atomic file replacement and directory staging.
#pragma once
#include <string>

namespace eatsim {

// A unique temporary name next to `path` (same directory, so rename is atomic).
std::string temp_name_for(const std::string& path);
// fsync a file or directory by path; errors are ignored where the OS does not support it.
void fsync_path(const std::string& path);
// Writes `data` to `path` atomically: temp file, fsync, rename, fsync of the directory.
void atomic_write(const std::string& path, const std::string& data);
// Renames a fully written staging directory onto `final_dir`. When `final_dir` exists and
// `replace` is true it is swapped out and removed; otherwise throws.
void publish_dir(const std::string& staging, const std::string& final_dir, bool replace);
std::string read_text(const std::string& path);  // throws TraceError when unreadable

}  // namespace eatsim
