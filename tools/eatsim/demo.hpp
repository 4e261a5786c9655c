// The end-to-end demo behind `eatsim demo`: train standard and EAT, export traces, estimate,
// simulate, compare, plot. Every stage reuses finished work in the output directory.
#pragma once
#include <string>

namespace eatsim::demo {

struct Options {
  std::string out = "eatsim-demo";
  std::string model = "resnet8";
  double width = 0.25;
  int epochs = 6;
  int batch = 128;
  double lr = 0.1;
  double lambda = 1.0, sigma = 1e-4;
  std::string penalty_layers = "relu";
  int64_t train_limit = 0, test_limit = 0;  // 0: the whole split
  int64_t samples = 8;                      // trace samples
  std::string preset = "cnvlutin_ws16";     // simulated with its sparsity features, and without
  int threads = 0;                          // 0: all cores
  bool plots = true;
};

// Runs every stage; prints progress to stderr and the comparison + headline to stdout.
void run(const Options& o);

}  // namespace eatsim::demo
