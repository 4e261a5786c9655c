// A plain float tensor (C order, NCHW for activations, PyTorch layouts for parameters): what the
// trainer hands out and takes in at its boundaries. oneDNN layouts never leave the trainer.
#pragma once
#include <vector>

#include "models/graph.hpp"

namespace eatsim {

struct Tensor {
  Shape shape;
  std::vector<float> data;  // numel(shape) values
  Tensor() = default;
  explicit Tensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(eatsim::numel(shape)), 0.0f) {}
  int64_t numel() const { return eatsim::numel(shape); }
};

}  // namespace eatsim
