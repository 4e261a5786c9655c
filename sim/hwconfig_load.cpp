// Hwconfig loading: finds the text (file or embedded preset), resolves `include:` (a base file
// overridden key by key), applies --set overrides, and remembers which file each key came from so
// that every message names the right file and line.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/embedded.hpp"
#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/yaml_util.hpp"
#include "sim/hwconfig.hpp"
#include "sim/hwconfig_parse.hpp"

namespace eatsim::sim {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxIncludeDepth = 8;

struct Source {
  std::string text, name;  // name: a path, or "hwconfigs/X.yaml" for an embedded preset
  bool embedded = false;
};

// A key path -> file map; the longest recorded prefix of a key names where it came from.
void record_origins(const YAML::Node& n, const std::string& path, const std::string& file, Origins& o) {
  if (!path.empty()) o[path] = file;
  if (!n.IsMap()) return;
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string k = it->first.Scalar();
    record_origins(it->second, path.empty() ? k : path + "." + k, file, o);
  }
}

// Overrides `over` in place with every key of `base` it lacks; mappings merge recursively. The
// overriding file's nodes (and their line numbers) are kept.
void merge_into(YAML::Node over, const YAML::Node& base) {
  for (auto it = base.begin(); it != base.end(); ++it) {
    std::string k = it->first.Scalar();
    const YAML::Node& cover = over;
    YAML::Node mine = cover[k];
    if (!mine.IsDefined()) {
      over[k] = it->second;
    } else if (mine.IsMap() && it->second.IsMap()) {
      merge_into(mine, it->second);
    }
  }
}

Source find_include(const Source& from, const std::string& name, const YAML::Node& key_node) {
  auto where = [&](const YAML::Mark& m) {
    return m.is_null() ? from.name : fmt::format("{}:{}:{}", from.name, m.line + 1, m.column + 1);
  };
  if (name.empty() || name.find('\0') != std::string::npos)
    throw ConfigError(fmt::format("{}: include: expected a file name", where(key_node.Mark())));
  Source s;
  if (!from.embedded) {
    fs::path p = fs::path(from.name).parent_path() / name;
    std::error_code ec;
    if (fs::exists(p, ec)) {  // beside the including file: it must be readable, or say why
      if (std::string why = read_regular_file(p.string(), s.text); !why.empty())
        throw ConfigError(fmt::format("{}: include: {}: {}", where(key_node.Mark()), p.string(), why));
      s.name = p.lexically_normal().string();
      return s;
    }
  }
  std::string emb = "hwconfigs/" + fs::path(name).filename().string();
  if (const char* t = find_embedded(emb)) {
    s.text = t, s.name = emb, s.embedded = true;
    return s;
  }
  throw ConfigError(
      fmt::format("{}: include: cannot find '{}' (looked beside {} and among the embedded presets: {})",
                  where(key_node.Mark()), name, from.name, fmt::join(embedded_preset_names(), ", ")));
}

// Loads a source and everything it includes into one merged tree.
YAML::Node resolve(const Source& src, Origins& origins, int depth, std::vector<std::string>& chain) {
  for (const auto& c : chain)
    if (c == src.name)
      throw ConfigError(
          fmt::format("{}: include: include cycle ({} -> {})", src.name, fmt::join(chain, " -> "), src.name));
  if (depth > kMaxIncludeDepth)
    throw ConfigError(fmt::format("{}: include: more than {} nested includes", src.name, kMaxIncludeDepth));
  YAML::Node root = yamlu::parse<ConfigError>(src.text, src.name);
  if (!root.IsMap()) throw ConfigError(fmt::format("{}: (top level): expected a mapping", src.name));
  chain.push_back(src.name);
  const YAML::Node& croot = root;
  YAML::Node inc = croot["include"];
  if (inc.IsDefined()) {
    if (!inc.IsScalar())
      throw ConfigError(fmt::format("{}:{}:{}: include: expected a file name, got {}", src.name,
                                    inc.Mark().line + 1, inc.Mark().column + 1, yamlu::describe(inc)));
    Source base = find_include(src, inc.Scalar(), inc);
    YAML::Node merged = resolve(base, origins, depth + 1, chain);
    root.remove("include");
    record_origins(root, "", src.name, origins);
    merge_into(root, merged);
  } else {
    record_origins(root, "", src.name, origins);
  }
  chain.pop_back();
  return root;
}

void apply_override(YAML::Node root, const std::string& assignment, Origins& origins) {
  auto eq = assignment.find('=');
  std::string who = "--set " + assignment;
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(fmt::format("{}: expected key.path=value (e.g. --set array.rows=16)", who));
  std::string path = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  std::vector<std::string> parts;
  size_t s = 0, e;
  while ((e = path.find('.', s)) != std::string::npos) parts.push_back(path.substr(s, e - s)), s = e + 1;
  parts.push_back(path.substr(s));
  YAML::Node cur = root;
  std::string sofar;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty()) throw ConfigError(fmt::format("{}: empty key in '{}'", who, path));
    sofar += (sofar.empty() ? "" : ".") + parts[i];
    // Look the key up by iterating: yaml-cpp's const operator[] hands back an invalid node in some
    // merged trees, and its non-const one would insert on a mere lookup.
    YAML::Node next;
    auto find = [&] {
      for (auto it = cur.begin(); it != cur.end(); ++it)
        if (it->first.IsScalar() && it->first.Scalar() == parts[i]) return next.reset(it->second), true;
      return false;
    };
    if (!find()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      find();
    } else if (!next.IsMap()) {
      throw ConfigError(fmt::format("{}: {} is {}, not a mapping", who, sofar, yamlu::describe(next)));
    }
    cur.reset(next);
  }
  YAML::Node v;
  try {
    v = YAML::Load(value);
  } catch (const YAML::Exception& ex) {
    throw ConfigError(fmt::format("{}: cannot read value '{}': {}", who, value, ex.msg));
  }
  if (v.IsNull()) v = YAML::Node(value);
  cur[parts.back()] = v;
  origins[path] = who;
  for (auto it = origins.begin(); it != origins.end();)  // keys below a replaced node are gone
    it = it->first.rfind(path + ".", 0) == 0 ? origins.erase(it) : std::next(it);
}

Source find_top(const std::string& file_or_preset) {
  Source s;
  if (fs::exists(file_or_preset)) {
    if (std::string why = read_regular_file(file_or_preset, s.text); !why.empty())
      throw ConfigError(fmt::format("{}: {}", file_or_preset, why));
    s.name = file_or_preset;
    return s;
  }
  std::string stem = file_or_preset;
  if (stem.size() > 5 && stem.substr(stem.size() - 5) == ".yaml") stem = stem.substr(0, stem.size() - 5);
  if (stem.rfind("hwconfigs/", 0) == 0) stem = stem.substr(10);
  if (const char* t = find_embedded("hwconfigs/" + stem + ".yaml")) {
    s.text = t, s.name = "hwconfigs/" + stem + ".yaml", s.embedded = true;
    return s;
  }
  throw ConfigError(fmt::format("{}: no such file or preset (presets: {})", file_or_preset,
                                fmt::join(embedded_preset_names(), ", ")));
}

HwConfig load_source(const Source& src, const std::vector<std::string>& overrides) {
  Origins origins;
  std::vector<std::string> chain;
  YAML::Node root = resolve(src, origins, 0, chain);
  for (const auto& o : overrides) apply_override(root, o, origins);
  HwConfig hw = parse_tree(root, src.name, origins);
  hw.file = src.name;
  return hw;
}

}  // namespace

std::vector<std::string> embedded_preset_names() {
  std::vector<std::string> out;
  for (const auto& f : embedded_files()) {
    std::string p = f.path;
    if (p.rfind("hwconfigs/", 0) != 0 || p.size() <= 15 || p.rfind("hwconfigs/base_", 0) == 0) continue;
    out.push_back(p.substr(10, p.size() - 15));  // base_*.yaml are include-only
  }
  return out;
}

HwConfig load_hwconfig(const std::string& file_or_preset, const std::vector<std::string>& overrides) {
  return load_source(find_top(file_or_preset), overrides);
}

HwConfig parse_hwconfig(const std::string& text, const std::string& file,
                        const std::vector<std::string>& overrides) {
  Source s;
  s.text = text, s.name = file;
  return load_source(s, overrides);
}

}  // namespace eatsim::sim
