// JSON writer and checked reading: see json.hpp.
#include "base/json.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace eatsim {
namespace {

bool scalar(const Json& j) { return !j.is_structured(); }

std::string scalar_text(const Json& j) {
  if (j.is_number_float()) return fmt::format("{}", j.get<double>());
  // Strings: nlohmann escapes quotes, backslashes and control characters; a byte sequence that is
  // not UTF-8 is written with U+FFFD rather than failing the whole report.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void write(std::string& o, const Json& j, int indent) {
  if (scalar(j)) {
    o += scalar_text(j);
    return;
  }
  const bool obj = j.is_object();
  if (j.empty()) {
    o += obj ? "{}" : "[]";
    return;
  }
  const bool flat = std::all_of(j.begin(), j.end(), scalar);
  const std::string pad(size_t(indent + 2), ' ');
  o += obj ? '{' : '[';
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it, first = false) {
    o += first ? (flat ? "" : "\n") : (flat ? ", " : ",\n");
    if (!flat) o += pad;
    if (obj) o += scalar_text(Json(it.key())) + ": ";
    write(o, it.value(), indent + 2);
  }
  if (!flat) o += "\n" + std::string(size_t(indent), ' ');
  o += obj ? '}' : ']';
}

}  // namespace

std::string json_quote(const std::string& s) { return scalar_text(Json(s)); }

std::string write_json(const Json& j) {
  std::string o;
  write(o, j, 0);
  return o + "\n";
}

}  // namespace eatsim
