// Simulating a trace: the operand values of every GEMM layer (its input activations per sample and
// its weights) loaded once from the trace and handed to the engine, plus the report's provenance.
#pragma once
#include <cstdint>

#include "sim/report.hpp"

namespace eatsim {
class TraceReader;
}

namespace eatsim::sim {

// Every sample of the trace (or the first `max_samples` when > 0), with its values.
SimResult simulate_trace(const HwConfig& hw, const TraceReader& tr, Fidelity f = Fidelity::fast,
                         int64_t max_samples = 0);

}  // namespace eatsim::sim
