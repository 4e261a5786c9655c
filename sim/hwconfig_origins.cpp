// Hwconfig error attribution: every key path knows the file (or --set) it came from, so an error
// names that file, and a relative path names a file beside it.
#include <cctype>
#include <filesystem>

#include "sim/hwconfig_parse.hpp"

namespace eatsim::sim {
namespace {

// Longest key-path prefix with a recorded origin.
std::string origin_of(const Origins& o, std::string key) {
  auto br = key.find('[');
  if (br != std::string::npos) key = key.substr(0, br);
  for (;;) {
    auto it = o.find(key);
    if (it != o.end()) return it->second;
    auto dot = key.rfind('.');
    if (dot == std::string::npos) return "";
    key = key.substr(0, dot);
  }
}

}  // namespace

std::string origin_of_key(const Origins& o, const std::string& key, const std::string& file) {
  std::string s = origin_of(o, key);
  return s.empty() ? file : s;
}

std::vector<std::string> attribute(const std::vector<std::string>& errors, const std::string& file,
                                   const Origins& o) {
  std::vector<std::string> out;
  for (const auto& e : errors) {
    std::string rest = e.substr(1);  // after the one-character placeholder
    std::string pos;
    size_t i = 0;
    if (!rest.empty() && rest[0] == ':' && rest.size() > 1 && isdigit(static_cast<unsigned char>(rest[1]))) {
      size_t j = rest.find(": ");
      pos = rest.substr(0, j), i = j;
    }
    std::string body = rest.substr(i + 2);  // "key: message"
    std::string key = body.substr(0, body.find(": "));
    std::string src = origin_of(o, key);
    if (src.empty()) src = file;
    if (src.rfind("--set ", 0) == 0) pos.clear();  // a value from the command line has no line
    out.push_back(src + pos + ": " + body);
  }
  return out;
}

void resolve_relative(std::string& cal, const std::string& key, const std::string& file,
                      const Origins& origins) {
  if (cal.empty() || cal[0] == '/') return;
  std::string from = origin_of(origins, key);
  if (from.empty()) from = file;
  std::error_code ec;  // an embedded preset's name is no file on disk: the working directory then
  if (from.rfind("--set", 0) != 0 && std::filesystem::is_regular_file(from, ec)) {
    std::string dir =
        from.substr(0, from.find_last_of('/') == std::string::npos ? 0 : from.find_last_of('/') + 1);
    cal = dir + cal;
  }
}

}  // namespace eatsim::sim
