// SGD with momentum (PyTorch semantics: weight decay added to the gradient, momentum buffer
// starts at the first gradient, optional Nesterov), over a Net's trainable tensors.
#pragma once
#include <map>
#include <string>

#include "trainer/net.hpp"

namespace eatsim {

struct SgdConfig {
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
};

class Sgd {
 public:
  explicit Sgd(SgdConfig c) : c_(c) {}
  void step(Net& net);
  SgdConfig& config() { return c_; }
  // Momentum buffers by state_dict key (for checkpoints); empty until the first step.
  std::map<std::string, Tensor>& state() { return buf_; }

 private:
  SgdConfig c_;
  std::map<std::string, Tensor> buf_;
};

}  // namespace eatsim
