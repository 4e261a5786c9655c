// Hardware in the loop (eatsim train --hw, --report-hw): the simulator run on the network being
// trained, in memory. Each penalised tensor's EAT term is weighted by the simulator's energy per
// non-zero of that tensor on the chosen accelerator (sim/marginal.hpp), normalised so that the
// weights average 1 over the penalised elements (λ keeps its meaning); and the simulated energy per
// sample is reported per epoch.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/net.hpp"

namespace eatsim {

namespace sim {
struct HwConfig;
}

struct HwWeights {
  std::vector<std::string> tensors;    // penalised nodes, Net::penalised_nodes() order
  std::vector<double> pj_per_nonzero;  // the simulator's marginal energy of each (0: not seen)
  std::vector<int64_t> elements;       // per sample
  std::vector<bool> seen;              // read or written back by a GEMM row
  std::vector<double> weights;         // what the penalty uses: mean 1 over the elements
  bool uniform = false;                // no tensor costs energy here: all weights 1
  double energy_pj = 0;                // per sample, the network as it is
};

// Marginal energies and weights from `n` samples `x` (eval mode) of the net on `hw`. UsageError
// when hw's datatype cannot represent a tensor of the network (fp16 beyond 65504).
HwWeights hw_weights(const sim::HwConfig& hw, Net& net, const float* x, int n);

// Simulated energy per sample (pJ) of `n` samples `x` of the net on `hw`.
double hw_energy(const sim::HwConfig& hw, Net& net, const float* x, int n);

struct TrainConfig;
class Batcher;

// What train() does with --hw and --report-hw.
class HwLoop {
 public:
  // Loads the configurations and checks the run can use them (UsageError/DataError): called before
  // anything is written to the run directory.
  HwLoop(const TrainConfig& cfg, const Net& net);
  ~HwLoop();
  bool weighting() const { return hw_ != nullptr; }
  bool reporting() const { return report_ != nullptr; }
  // At the start of an epoch: this epoch's weights from the first hw_samples training samples (not
  // augmented), or `stored` (checkpoint info of a run stopped inside this epoch) when non-empty;
  // set on the net and logged to hw_weights.csv in the run directory.
  void refresh(int epoch, Net& net, const Batcher& train, int64_t train_samples, const std::string& stored);
  // The weights in use, for the checkpoint's info (shortest round-trip text).
  std::string stored(const Net& net) const;
  // Simulated energy per sample, µJ, over the first hw_report_samples test samples.
  double energy_uj(Net& net, const Batcher& test, int64_t test_samples);

 private:
  const TrainConfig& cfg_;
  std::unique_ptr<sim::HwConfig> hw_, report_;
  void log(int epoch, const HwWeights& w) const;
};

}  // namespace eatsim
