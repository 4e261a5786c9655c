// A whole network on the accelerator: graph nodes grouped into report rows (a conv/linear with the
// PPU nodes fused on its output stream), what each row moves to and from DRAM, and the per-layer
// simulation in either fidelity.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/graph.hpp"
#include "sim/counters.hpp"
#include "sim/dataflow.hpp"
#include "sim/engine.hpp"
#include "sim/gemm.hpp"
#include "sim/hwconfig.hpp"
#include "sim/layer_data.hpp"

namespace eatsim::sim {

// fast: the engine jumps over known spans; step: one engine step() per clock in plain C++ (a
// debugging aid); cycle: the clocked SystemC model (sim/systemc) calls step() once per clock.
enum class Fidelity { fast, step, cycle };
const char* fidelity_name(Fidelity f);

// The clocked SystemC model plugs in here, because eatsim_sim does not link SystemC
// (sim/systemc/clocked.hpp installs it).
class ClockedModel {
 public:
  struct RowResult {
    int64_t ppu_tail = 0;         // cycles the PPU ran past the array (a PPU-only row: all it ran)
    int64_t stall = 0;            // PPU-only row: cycles it waited for DRAM after its own work
    int64_t dma_busy_cycles = 0;  // cycles the DRAM moved bytes, measured clock by clock
  };
  virtual ~ClockedModel() = default;
  // The DMA side an engine must be built on to be run by run(), set up for hw's DRAM.
  virtual MemoryPort& memory(const HwConfig& hw) = 0;
  // Runs one GEMM row clock by clock: `e` on the PE array, the PPU working `ppu_cycles` of
  // ppu.width operations on its output stream.
  virtual RowResult run(FoldEngine& e, int64_t ppu_cycles) = 0;
  // Runs a row of PPU work with no array layer: the PPU reads `read_bytes`, works `ppu_cycles`
  // and writes `write_bytes` back once both are done.
  virtual RowResult run_ppu_row(const HwConfig& hw, int64_t read_bytes, int64_t write_bytes,
                                int64_t ppu_cycles) = 0;
};
void install_clocked_model(ClockedModel* m);  // null uninstalls

// One report row.
struct LayerGroup {
  std::string name;
  int gemm = -1;                    // conv2d/linear node index; -1 for a row of PPU work alone
  bool linear = false;              // the GEMM is a linear layer (else conv2d)
  std::vector<int> ppu;             // nodes fused on the output stream, in execution order
  GemmShape shape;                  // gemm >= 0 only
  int64_t ppu_ops = 0;              // per sample (ReLU, pooling, residual add, bias add; BN apart)
  int64_t bn_ops = 0;               // per sample: BN scale and shift (none where hw folds BN)
  int64_t in_elems = 0;             // input tensor read from DRAM
  int64_t weight_elems = 0;         // weights + bias
  int64_t bn_params = 0;            // BN scale/shift per channel (none where hw folds BN)
  int64_t residual_elems = 0;       // residual-add operands produced outside the row
  std::vector<int> residual_nodes;  // their producers (identities resolved; -1: the graph input)
  int64_t out_elems = 0;            // tensors other rows (or the graph output) need
  std::vector<int> out_nodes;       // the nodes whose outputs those are
  std::string kind() const;         // "conv", "linear" or "ppu"
  std::string fused_names(const Graph& g) const;
  // On a given PPU: its element operations per sample, and the parameters the row loads.
  int64_t ppu_ops_on(const HwConfig& hw) const { return ppu_ops + (hw.ppu.fold_bn ? 0 : bn_ops); }
  int64_t weight_elems_on(const HwConfig& hw) const {
    return weight_elems + (hw.ppu.fold_bn ? 0 : bn_params);
  }
};

// The report rows of a graph: the same on every hardware (what the hardware changes, BN folding,
// is kept apart in each row).
std::vector<LayerGroup> group_layers(const Graph& g);

// Fails with ConfigError when the configuration turns on something this engine does not model.
void check_supported(const HwConfig& hw);

// One GEMM on the array; the counters of the array, buffers and DRAM, and the PPU tail of
// `ppu_cycles` of work on its output stream (cycles_ppu_tail; ppu_ops is left to the caller).
// `sp`: the layer's scanned operands (gate, skip), or null for the dense schedule.
struct SparseLayer;
// `facts`: the compressed input's fields (the MAC classes are filled in here).
Counters simulate_gemm(const HwConfig& hw, const GemmShape& g, const LayerIo& io, Fidelity f = Fidelity::fast,
                       const SparseLayer* sp = nullptr, int64_t ppu_cycles = 0, LayerFacts facts = {});

class WeightCache;
class CompressedSizes;
struct ScanOptions;

// What a row may be given beyond its shape.
struct RowInputs {
  const LayerData* data = nullptr;    // the operand values (null: shapes only)
  VerifyStats* verify = nullptr;      // run the functional verification, its figures land here
  WeightCache* weights = nullptr;     // the run's weight scans, kept across samples (one per worker)
  const ScanOptions* scan = nullptr;  // test switches (sim/sparse.hpp)
  CompressedSizes* sizes = nullptr;   // compressed sizes of this sample's tensors (null: computed here)
};

// One row for one sample: the GEMM plus its PPU work. `sample_in_batch` decides whether the
// weights are still resident (batch residency); ConfigError names the layer when it cannot run.
// With `in.verify`, a mismatch of the verification is a NumericError naming the layer and the
// worst element.
Counters simulate_group(const HwConfig& hw, const LayerGroup& grp, int64_t sample_in_batch,
                        Fidelity f = Fidelity::fast, const RowInputs& in = {});

// Reported cycles of a row: SCALE-Sim's convention (index of the last cycle) in compatible mode.
int64_t reported_cycles(const HwConfig& hw, const LayerGroup& grp, const Counters& c);

}  // namespace eatsim::sim
