// Error types: joins several diagnostics into one what() string.
#include "base/errors.hpp"

#include <algorithm>

namespace eatsim {
namespace {
std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}
}  // namespace

Error::Error(std::vector<std::string> lines)
    : std::runtime_error(join_lines(lines)), lines_(std::move(lines)) {}

namespace {
template <ErrorKind K>
[[noreturn]] void throw_as(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t a = 0, b; a <= text.size(); a = b + 1) {
    b = std::min(text.find('\n', a), text.size());
    lines.push_back(text.substr(a, b - a));
  }
  throw ErrorOf<K>(std::move(lines));
}
}  // namespace

void throw_error(ErrorKind kind, const std::string& text) {
  switch (kind) {
    case ErrorKind::config:
      throw_as<ErrorKind::config>(text);
    case ErrorKind::model:
      throw_as<ErrorKind::model>(text);
    case ErrorKind::trace:
      throw_as<ErrorKind::trace>(text);
    case ErrorKind::data:
      throw_as<ErrorKind::data>(text);
    case ErrorKind::numeric:
      throw_as<ErrorKind::numeric>(text);
    case ErrorKind::file:
      throw_as<ErrorKind::file>(text);
    case ErrorKind::usage:
      throw_as<ErrorKind::usage>(text);
    case ErrorKind::general:
      break;
  }
  throw Error(text);
}

}  // namespace eatsim
