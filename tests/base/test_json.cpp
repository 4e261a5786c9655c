// base/json: one layout for every JSON eatsim writes, exact numbers, and checked reading.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "base/errors.hpp"
#include "base/json.hpp"

namespace eatsim {
namespace {

TEST(BaseJson, ScalarContainersStayOnOneLineOthersBreak) {
  Json j{{"name", "a"}, {"hw", Json{{"rows", 16}, {"on", true}}}, {"list", Json::array({1, 2.5})}};
  j["nested"] = Json{{"x", Json{{"min", 1.0}, {"max", 2.0}}}};
  j["empty"] = Json::object();
  EXPECT_EQ(write_json(j),
            "{\n"
            "  \"name\": \"a\",\n"
            "  \"hw\": {\"rows\": 16, \"on\": true},\n"
            "  \"list\": [1, 2.5],\n"
            "  \"nested\": {\n"
            "    \"x\": {\"min\": 1, \"max\": 2}\n"
            "  },\n"
            "  \"empty\": {}\n"
            "}\n");
}

TEST(BaseJson, EveryDoubleReadsBackExactly) {
  std::mt19937_64 rng(3);
  Json a = Json::array();
  std::vector<double> want;
  for (int i = 0; i < 20000; ++i) {
    uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    if (!std::isfinite(v)) continue;
    want.push_back(v);
    a.push_back(v);
  }
  Json back = parse_json<ConfigError>(write_json(a), "x.json");
  ASSERT_EQ(back.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(back[i].get<double>(), want[i]) << i;
}

TEST(BaseJson, StringsAreEscapedEvenWhenHostile) {
  std::string nasty =
      "a\"b\\c\nd\x01"
      "e\xff";
  std::string text = write_json(Json{{"name", nasty}});
  Json back = parse_json<ConfigError>(text, "x.json");  // still valid JSON
  EXPECT_EQ(back["name"].get<std::string>().substr(0, 8), nasty.substr(0, 8));
  EXPECT_EQ(json_quote("q\""), "\"q\\\"\"");
}

TEST(BaseJson, BadDocumentsNameFileLineAndColumnInTheCallersDomain) {
  try {
    parse_json<TraceError>("{\n  \"a\": 1,\n  oops\n}\n", "r.json");
    FAIL() << "no throw";
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("r.json:3:3: not valid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_json<ConfigError>("{\"a\": [1, 2", "t.json"), ConfigError);
  EXPECT_THROW(parse_json<ConfigError>(std::string(5000, '[') + std::string(5000, ']'), "deep.json"),
               ConfigError);
  Json j = parse_json<ConfigError>("{\"n\": \"x\"}", "f.json");
  auto get_int = [&](const char* key) { return json_get<int64_t, ConfigError>(j, key, "f.json"); };
  EXPECT_THROW(get_int("n"), ConfigError);
  EXPECT_THROW(get_int("missing"), ConfigError);
  auto get_str = [&](const char* key) { return json_get<std::string, ConfigError>(j, key, "f.json"); };
  EXPECT_EQ(get_str("n"), "x");
}

}  // namespace
}  // namespace eatsim
