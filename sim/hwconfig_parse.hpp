// Internal to the hwconfig loader: the merged YAML tree -> typed HwConfig with every error
// collected (validate), messages attributed to the file each key came from.
#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>

#include "sim/hwconfig.hpp"

namespace eatsim::sim {

using Origins = std::map<std::string, std::string>;  // key path -> file (or "--set k=v")

// Throws ConfigError listing every problem.
HwConfig parse_tree(const YAML::Node& root, const std::string& file, const Origins& origins);

}  // namespace eatsim::sim
