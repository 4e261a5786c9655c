// Defensive input reading; see files.hpp.
#include "models/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace eatsim
