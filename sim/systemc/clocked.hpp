// The clocked SystemC model (cycle fidelity) as seen from outside: no SystemC header here. The
// design is elaborated once per process, on first use, and runs one row after another (sc_start /
// sc_pause); rows of other processes (--jobs) run in forked workers.
#pragma once
#include <cstdint>
#include <functional>

#include "sim/systemc/dram_model.hpp"

namespace eatsim::sysc {

// Installs the SystemC model as sim::Fidelity::cycle (idempotent; elaborates on the first row).
void install();

// What happens on the wires, for testbenches (a scoreboard): `cycle` is the absolute clock.
struct WireEvent {
  enum Kind {
    request,     // the DMA took a transfer from the PE array
    response,    // the DMA routed a DRAM completion (reads: to their buffer; writes: to the array)
    fill,        // a buffer reported a read's data in to the PE array
    fold_start,  // the PE array began computing a fold (`fold`)
    row_end,     // the PE array finished its row
  } kind;
  int64_t cycle = 0;
  MemRequest req;    // request
  MemResponse resp;  // response, fill
  int64_t fold = 0;  // fold_start
};

// Front-end events the SparseFrontEnd module counted on its channel since the last reset (checked
// against the engine's fe_* counters by the testbench).
struct FrontEndTotals {
  int64_t push = 0, pop = 0, reader_stall = 0, port_wait = 0, feed_wait = 0;
  int64_t active_cycles = 0;  // clocks with any front-end activity
};
FrontEndTotals front_end_totals();
void reset_front_end_totals();

// Test hooks (default: none). Stalls change timing, never event counts.
void set_dram_stalls(const DramStalls& s);
void set_wire_observer(std::function<void(const WireEvent&)> f);

}  // namespace eatsim::sysc
