// JSON in and out for reports, sweep results and estimates, on nlohmann::json (Debian's
// nlohmann-json3-dev). Documents keep their members in insertion order. Written with one layout
// everywhere: a container holding only scalars stays on one line, any other puts one member per
// line; numbers are written as the shortest text that reads back to the same double (fmt), so a
// report's numbers survive a round trip exactly. Include this only where JSON is read or written:
// the library header is large.
#pragma once
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

namespace eatsim {

using Json = nlohmann::ordered_json;

// The document as text, ending in a newline.
std::string write_json(const Json& j);
// One string as a JSON (and YAML) double-quoted scalar.
std::string json_quote(const std::string& s);

// Parses `text` (the contents of `file`); a syntax error is an E whose line names the file, the
// line and column, and says it is not valid JSON.
template <class E>
Json parse_json(const std::string& text, const std::string& file) {
  constexpr int kMaxDepth = 100;  // eatsim's documents nest a handful of levels; a hostile one may not
  auto guard = [&](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxDepth)
      throw E(fmt::format("{}: not an eatsim document (nested deeper than {} levels)", file, kMaxDepth));
    return true;
  };
  try {
    return Json::parse(text, guard);
  } catch (const Json::parse_error& e) {
    // Byte offset -> line and column, for a message an editor can jump to.
    size_t at = std::min(e.byte > 0 ? e.byte - 1 : 0, text.size());
    size_t line = 1 + size_t(std::count(text.begin(), text.begin() + long(at), '\n'));
    size_t bol = at == 0 ? std::string::npos : text.rfind('\n', at - 1);
    size_t col = at - (bol == std::string::npos ? 0 : bol + 1) + 1;
    throw E(fmt::format("{}:{}:{}: not valid JSON ({}; truncated or edited?)", file, line, col,
                        at >= text.size() ? "unexpected end of file" : "unexpected character"));
  }
}

// The value at `key` of an object, as T; an E naming the file and the key when it is absent or of
// another type.
template <class T, class E>
T json_get(const Json& obj, const char* key, const std::string& file) {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  if (it == obj.end())
    throw E(fmt::format("{}: no '{}' (not the expected kind of file, or truncated?)", file, key));
  try {
    return it->template get<T>();
  } catch (const Json::exception&) {
    throw E(fmt::format("{}: '{}' is {}, not the expected type", file, key, it->type_name()));
  }
}

}  // namespace eatsim
