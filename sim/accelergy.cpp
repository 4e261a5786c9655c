// Accelergy ERTs and action counts; see accelergy.hpp and docs/accelergy.md.
#include "sim/accelergy.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "base/errors.hpp"
#include "base/files.hpp"
#include "base/yaml_util.hpp"

namespace eatsim::sim {

const std::vector<AccelergyEvent>& accelergy_events() {
  static const std::vector<AccelergyEvent> e = {{"mac", "mac_array", "mac_random", false},
                                                {"mac_gated", "mac_array", "mac_gated", false},
                                                {"mac_idle", "mac_array", "idle", false},
                                                {"psum_add", "psum_adder", "add", false},
                                                {"reg_access", "pe_registers", "access", false},
                                                {"ppu_op", "ppu", "op", false},
                                                {"sram_ifmap_read", "ifmap_buffer", "read", false},
                                                {"sram_ifmap_write", "ifmap_buffer", "write", false},
                                                {"sram_weights_read", "weights_buffer", "read", false},
                                                {"sram_weights_write", "weights_buffer", "write", false},
                                                {"sram_psum_read", "psum_buffer", "read", false},
                                                {"sram_psum_write", "psum_buffer", "write", false},
                                                {"metadata_bit", "ifmap_buffer", "metadata_bit", false},
                                                {"dram_read_byte", "dram", "read_byte", false},
                                                {"dram_write_byte", "dram", "write_byte", false},
                                                {"leak", "accelerator", "leak", false},
                                                {"zero_detect", "frontend", "zero_detect", true},
                                                {"bitmap_op", "frontend", "bitmap_op", true},
                                                {"fifo_access", "frontend", "fifo_access", true}};
  return e;
}

std::vector<double> event_counts(const Counters& c, int64_t pe_count) {
  return {double(c.mac_effective + c.mac_pad),
          double(c.mac_gated),
          double(idle_mac_slots(c, pe_count)),
          double(c.psum_add + c.realign_add),
          double(c.reg_read + c.reg_write + c.realign_acc_rd + c.realign_acc_wr),
          double(c.ppu_ops),
          double(c.sram_ifmap_rd),
          double(c.sram_ifmap_wr),
          double(c.sram_weights_rd),
          double(c.sram_weights_wr),
          double(c.sram_psum_rd),
          double(c.sram_psum_wr),
          double(c.meta_sram_bits),
          double(c.dram_rd_bytes()),
          double(c.dram_wr_bytes),
          double(c.total_cycles()),
          double(c.fe_zero_detect),
          double(c.fe_bitmap_ops),
          double(c.fe_fifo_push + c.fe_fifo_pop)};
}

namespace {
double* field(EnergyTable& t, size_t i) {
  double* f[] = {&t.mac,
                 &t.mac_gated,
                 &t.mac_idle,
                 &t.psum_add,
                 &t.reg_access,
                 &t.ppu_op,
                 &t.sram_access[kIfmap],
                 &t.sram_write[kIfmap],
                 &t.sram_access[kWeights],
                 &t.sram_write[kWeights],
                 &t.sram_access[kPsum],
                 &t.sram_write[kPsum],
                 &t.meta_bit,
                 &t.dram_byte,
                 &t.dram_write_byte,
                 &t.leak_per_cycle,
                 &t.zero_detect,
                 &t.bitmap_op,
                 &t.fifo_access};
  return f[i];
}
}  // namespace

std::vector<double> event_prices(const EnergyTable& t) {
  std::vector<double> p;
  EnergyTable copy = t;
  for (size_t i = 0; i < accelergy_events().size(); ++i) p.push_back(*field(copy, i));
  return p;
}

void set_price(EnergyTable& t, size_t i, double pj) { *field(t, i) = pj; }

std::vector<std::pair<std::string, std::string>> accelergy_names(
    const std::map<std::string, std::string>& overrides, const std::string& where) {
  std::vector<std::pair<std::string, std::string>> names;
  std::set<std::string> known;
  for (const auto& e : accelergy_events()) {
    known.insert(e.event);
    names.emplace_back(kAccelergyRoot + std::string(e.component), e.action);
  }
  std::vector<std::string> errors;
  for (const auto& [ev, ca] : overrides) {
    if (!known.count(ev)) {
      std::string all;
      for (const auto& e : accelergy_events()) all += (all.empty() ? "" : ", ") + std::string(e.event);
      errors.push_back(
          fmt::format("{}: accelergy_map: '{}' is not an eatsim event (one of {})", where, ev, all));
      continue;
    }
    const size_t colon = ca.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == ca.size()) {
      errors.push_back(fmt::format("{}: accelergy_map: {}: '{}' should be COMPONENT:ACTION", where, ev, ca));
      continue;
    }
    for (size_t i = 0; i < accelergy_events().size(); ++i)
      if (ev == accelergy_events()[i].event) names[i] = {ca.substr(0, colon), ca.substr(colon + 1)};
  }
  if (!errors.empty()) throw ConfigError(errors);
  return names;
}

namespace {
// One YAML list entry per component (in first-use order) with its (action, value) entries: the
// shape both Accelergy files share.
std::string by_component(const std::vector<std::pair<std::string, std::string>>& names,
                         const std::vector<double>& values, const char* list, const char* value_key,
                         const char* extra) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::pair<std::string, double>>> comps;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!comps.count(names[i].first)) order.push_back(names[i].first);
    comps[names[i].first].emplace_back(names[i].second, values[i]);
  }
  std::string out;
  for (const auto& c : order) {
    out += fmt::format("  - name: {}\n    {}:\n", c, list);
    for (const auto& [a, v] : comps[c])
      out += fmt::format("    - name: {}\n{}      {}: {}\n", a, extra, value_key, v);
  }
  return out;
}
}  // namespace

std::string ert_yaml(const EnergyTable& t, const std::vector<std::pair<std::string, std::string>>& names) {
  return "ERT:\n  version: 0.3\n  tables:\n" +
         by_component(names, event_prices(t), "actions", "energy", "      arguments: {}\n");
}

std::string action_counts_yaml(const std::vector<double>& counts,
                               const std::vector<std::pair<std::string, std::string>>& names) {
  return "action_counts:\n  version: 0.3\n  local:\n" +
         by_component(names, counts, "action_counts", "counts", "");
}

std::map<size_t, double> read_ert(const std::string& path,
                                  const std::vector<std::pair<std::string, std::string>>& names,
                                  bool need_frontend, const std::map<std::string, std::string>& named_at) {
  const YAML::Node root = yamlu::parse<ConfigError>(read_text<ConfigError>(path), path);
  auto at = [&](const YAML::Node& n) {
    return n.Mark().is_null() ? path : fmt::format("{}:{}:{}", path, n.Mark().line + 1, n.Mark().column + 1);
  };
  const YAML::Node ert = root.IsMap() ? root["ERT"] : YAML::Node();
  if (!ert || !ert.IsMap() || !ert["tables"] || !ert["tables"].IsSequence())
    throw ConfigError(
        fmt::format("{}: not an Accelergy ERT (expected ERT: {{version, tables: [...]}})", at(root)));
  // (component, action) -> (pJ, where)
  std::map<std::pair<std::string, std::string>, std::pair<double, std::string>> pj;
  std::set<std::string> components;
  std::set<std::pair<std::string, std::string>> invalid;  // present, but its energy was refused
  std::vector<std::string> errors;
  for (const auto& table : ert["tables"]) {
    if (!table.IsMap() || !table["name"] || !table["actions"] || !table["actions"].IsSequence()) {
      errors.push_back(at(table) + ": a table needs a name and a list of actions");
      continue;
    }
    const std::string comp = table["name"].as<std::string>("");
    components.insert(comp);
    for (const auto& a : table["actions"]) {
      if (!a.IsMap() || !a["name"] || !a["energy"]) {
        errors.push_back(at(a) + ": an action needs a name and an energy");
        continue;
      }
      const YAML::Node args = a["arguments"];
      if (args && !args.IsNull() && !(args.IsMap() && args.size() == 0))
        continue;  // argument variants: unused
      auto e = yamlu::convert<double>(a["energy"]);
      if (!e || !std::isfinite(*e) || *e < 0) {
        errors.push_back(fmt::format("{}: energy {}: expected a non-negative number (pJ)", at(a["energy"]),
                                     yamlu::describe(a["energy"])));
        invalid.insert({comp, a["name"].as<std::string>("")});
        continue;
      }
      pj[{comp, a["name"].as<std::string>("")}] = {*e, at(a)};
    }
  }
  std::map<size_t, double> out;
  for (size_t i = 0; i < names.size(); ++i) {
    const AccelergyEvent& ev = accelergy_events()[i];
    auto it = pj.find(names[i]);
    if (it != pj.end()) {
      out[i] = it->second.first;
      continue;
    }
    if ((ev.frontend && !need_frontend) || invalid.count(names[i])) continue;
    auto given = named_at.find(ev.event);
    const std::string where = given != named_at.end()
                                  ? fmt::format("{}: energy.accelergy_map.{}", given->second, ev.event)
                                  : at(ert["tables"]) + ": tables";
    const std::string in_ert = given != named_at.end() ? " in " + path : "";
    if (!components.count(names[i].first))
      errors.push_back(fmt::format(
          "{}: no table '{}'{} for eatsim's {}{}", where, names[i].first, in_ert, ev.event,
          given != named_at.end() ? ""
                                  : " (map it with energy.accelergy_map." + std::string(ev.event) + ")"));
    else
      errors.push_back(fmt::format("{}: table '{}'{} has no action '{}' without arguments for eatsim's {}",
                                   where, names[i].first, in_ert, names[i].second, ev.event));
  }
  if (!errors.empty()) throw ConfigError(errors);
  return out;
}

}  // namespace eatsim::sim
