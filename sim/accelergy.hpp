// Accelergy interop: eatsim's priced events as Accelergy (component, action) pairs. Energy tables
// come in as an ERT (`energy: {accelergy_ert: FILE}` in a hwconfig) and go out as one
// (`eatsim hw ert`); a run's counts go out in Accelergy's action_counts format
// (`eatsim sim --accelergy-counts`). docs/accelergy.md has the mapping.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "sim/counters.hpp"
#include "sim/energy.hpp"

namespace eatsim::sim {

// One priced event: an EnergyTable entry, and its default Accelergy component and action.
struct AccelergyEvent {
  const char* event;      // "mac", "sram_ifmap", ...: the key of accelergy_map
  const char* component;  // default, under kAccelergyRoot
  const char* action;
  bool frontend;  // a sparse front-end event (needed only with skipping on)
};
inline constexpr char kAccelergyRoot[] = "system.eatsim.";
const std::vector<AccelergyEvent>& accelergy_events();

// Per event (accelergy_events() order): the counts in `c` (on an array of `pe_count` PEs) and the pJ
// of `t`; the energy of a run is exactly Σ counts × prices (energy_of's total).
std::vector<double> event_counts(const Counters& c, int64_t pe_count);
std::vector<double> event_prices(const EnergyTable& t);
// Sets the entry of `t` for event index i.
void set_price(EnergyTable& t, size_t i, double pj);

// "component:action" per event: the defaults with `overrides` (event -> "component:action") applied.
// An unknown event in overrides, or a value without ':', is a ConfigError naming `where`.
std::vector<std::pair<std::string, std::string>> accelergy_names(
    const std::map<std::string, std::string>& overrides = {}, const std::string& where = "");

// An ERT (Accelergy's energy reference table, version 0.3/0.4) of `t`, one table per component.
std::string ert_yaml(const EnergyTable& t, const std::vector<std::pair<std::string, std::string>>& names);
// Accelergy action_counts (version 0.3, `local` components) of the given per-event counts.
std::string action_counts_yaml(const std::vector<double>& counts,
                               const std::vector<std::pair<std::string, std::string>>& names);

// Reads ERT `path` and returns the pJ of every event (index -> pJ) under `names`; a component or
// action the ERT lacks is a ConfigError "path: ..." naming the event, one line each (front-end
// events only when `need_frontend`).
// `named_at`: where an event's name was given (event -> "file:line:col" of its accelergy_map
// entry); the error for that event names that place, and the ERT's `tables:` for the others.
std::map<size_t, double> read_ert(const std::string& path,
                                  const std::vector<std::pair<std::string, std::string>>& names,
                                  bool need_frontend,
                                  const std::map<std::string, std::string>& named_at = {});

}  // namespace eatsim::sim
