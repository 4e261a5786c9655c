// Files in and out; see files.hpp.
#include "base/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace eatsim {

std::string read_regular_file(const std::string& path, std::string& out, int64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fmt::format("cannot open ({}; check the path)", std::strerror(errno));
  struct stat st {};
  std::string why;
  if (::fstat(fd, &st) != 0)
    why = fmt::format("cannot read ({})", std::strerror(errno));
  else if (!S_ISREG(st.st_mode))
    why = "is not a regular file (a directory, device or pipe); give the path of a file";
  else if (st.st_size > max_bytes)
    why = fmt::format(
        "is {} bytes, larger than the {} MiB eatsim reads from such a file (is this the right file?)",
        static_cast<int64_t>(st.st_size), max_bytes >> 20);
  if (why.empty()) {
    out.clear();
    out.reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        why = fmt::format("cannot read ({})", std::strerror(errno));
        break;
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (static_cast<int64_t>(out.size()) > max_bytes) {  // grew while being read
        why = fmt::format("grew past {} MiB while being read", max_bytes >> 20);
        break;
      }
    }
  }
  ::close(fd);
  return why;
}

std::string replaceable(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return "";  // nothing there (or unreachable: the write will say)
  if (S_ISREG(st.st_mode)) return "";
  return S_ISLNK(st.st_mode)
             ? "is a symbolic link; eatsim does not replace links (give the real path)"
             : "exists and is not a regular file (a directory, device or pipe); give another path";
}

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
  if (std::string why = replaceable(path); !why.empty()) throw FileError(fmt::format("{}: {}", path, why));
  std::string tmp = temp_name_for(path);
  {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f)
      throw FileError(
          fmt::format("{}: cannot create (check that the directory exists and is writable)", path));
    bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size() && std::fflush(f) == 0 &&
              ::fsync(fileno(f)) == 0;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      std::remove(tmp.c_str());
      throw FileError(fmt::format("{}: write failed (disk full?)", path));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw FileError(fmt::format("{}: cannot rename the finished file into place", path));
  }
  fsync_path(parent_of(path));
}

void publish_dir(const std::string& staging, const std::string& final_dir, bool replace) {
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    if (!replace) throw FileError(fmt::format("{}: already exists (use --force to replace it)", final_dir));
    if (std::string why = replaceable(final_dir);
        !why.empty() && !fs::is_directory(fs::symlink_status(final_dir)))
      throw FileError(fmt::format("{}: {}", final_dir, why));
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
      throw FileError(fmt::format("{}: cannot move the old directory aside: {}", final_dir, ec.message()));
    fs::rename(staging, final_dir, ec);
    if (ec) {
      fs::rename(old, final_dir);
      throw FileError(
          fmt::format("{}: cannot move the new directory into place: {}", final_dir, ec.message()));
    }
    fs::remove_all(old, ec);
  } else {
    fs::rename(staging, final_dir, ec);
    if (ec)
      throw FileError(
          fmt::format("{}: cannot move the new directory into place: {}", final_dir, ec.message()));
  }
  fsync_path(parent_of(final_dir));
}

}  // namespace eatsim
