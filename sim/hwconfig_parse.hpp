// Internal to the hwconfig loader: the merged YAML tree -> typed HwConfig with every error
// collected (validate), messages attributed to the file each key came from.
#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "sim/hwconfig.hpp"

namespace eatsim::sim {

using Origins = std::map<std::string, std::string>;  // key path -> file (or "--set k=v")

// Throws ConfigError listing every problem.
HwConfig parse_tree(const YAML::Node& root, const std::string& file, const Origins& origins);

// parse_tree records errors under this file name; attribute() replaces it with the file (or --set)
// each error's key came from, `file` when none is recorded.
inline constexpr char kPlaceholderFile[] = "\x01";
std::vector<std::string> attribute(const std::vector<std::string>& errors, const std::string& file,
                                   const Origins& o);

// A relative path (sparsity.calibration, energy.accelergy_ert) is relative to the file that names
// it (the working directory for --set and embedded presets).
// The file (or "--set k=v") a key came from, `file` when none is recorded.
std::string origin_of_key(const Origins& o, const std::string& key, const std::string& file);
void resolve_relative(std::string& path, const std::string& key, const std::string& file,
                      const Origins& origins);

}  // namespace eatsim::sim
