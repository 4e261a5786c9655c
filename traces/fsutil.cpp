// File-system helpers for crash-safe outputs.
#include "traces/fsutil.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/errors.hpp"
#include "models/files.hpp"

namespace eatsim {
namespace fs = std::filesystem;

std::string temp_name_for(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return fmt::format("{}.tmp-{}-{}", path, getpid(), counter++);
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

static std::string parent_of(const std::string& path) {
  fs::path p = fs::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

void atomic_write(const std::string& path, const std::string& data) {
  if (std::string why = replaceable(path); !why.empty()) throw TraceError(fmt::format("{}: {}", path, why));
  std::string tmp = temp_name_for(path);
  {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f)
      throw TraceError(
          fmt::format("{}: cannot create (check that the directory exists and is writable)", path));
    bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size() && std::fflush(f) == 0 &&
              ::fsync(fileno(f)) == 0;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      std::remove(tmp.c_str());
      throw TraceError(fmt::format("{}: write failed (disk full?)", path));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw TraceError(fmt::format("{}: cannot rename the finished file into place", path));
  }
  fsync_path(parent_of(path));
}

void publish_dir(const std::string& staging, const std::string& final_dir, bool replace) {
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    if (!replace) throw TraceError(fmt::format("{}: already exists (use --force to replace it)", final_dir));
    if (std::string why = replaceable(final_dir);
        !why.empty() && !fs::is_directory(fs::symlink_status(final_dir)))
      throw TraceError(fmt::format("{}: {}", final_dir, why));
    // Swap the two in one step: a kill at any moment leaves the old or the new directory in place.
    if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
      fs::remove_all(staging, ec);  // now the old one
      fsync_path(parent_of(final_dir));
      return;
    }
    // A file system without the exchange: move aside, move in (a kill between the two leaves the
    // old directory under its .old name, which the caller's next run can still find).
    std::string old = temp_name_for(final_dir) + ".old";
    fs::rename(final_dir, old, ec);
    if (ec)
      throw TraceError(fmt::format("{}: cannot move the old directory aside: {}", final_dir, ec.message()));
    fs::rename(staging, final_dir, ec);
    if (ec) {
      fs::rename(old, final_dir);
      throw TraceError(
          fmt::format("{}: cannot move the new directory into place: {}", final_dir, ec.message()));
    }
    fs::remove_all(old, ec);
  } else {
    fs::rename(staging, final_dir, ec);
    if (ec)
      throw TraceError(
          fmt::format("{}: cannot move the new directory into place: {}", final_dir, ec.message()));
  }
  fsync_path(parent_of(final_dir));
}

std::string read_text(const std::string& path) {
  std::string out, why = read_regular_file(path, out);
  if (!why.empty()) throw TraceError(fmt::format("{}: {}", path, why));
  return out;
}

}  // namespace eatsim
