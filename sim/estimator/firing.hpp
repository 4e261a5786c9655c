// Firing analysis (the EAT paper's Figures 1-2): per layer, the fraction of non-zero outputs,
// element-weighted in total and by layer type. BatchNorm and flatten are left out, as in the paper.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sim/estimator/estimator.hpp"

namespace eatsim::sponge {

struct FiringCount {
  int64_t numel = 0, nnz = 0;  // over every sample
  double firing() const { return numel ? static_cast<double>(nnz) / numel : 0.0; }
};

struct FiringRow {
  int node = -1;
  std::string name;
  Op op = Op::identity;
  FiringCount count;
};

struct Firing {
  std::vector<FiringRow> rows;                               // execution order
  FiringCount total;                                         // element-weighted over the rows
  std::vector<std::pair<std::string, FiringCount>> by_type;  // op name -> element-weighted, first-seen order
};

// reference: module nodes only (what hooks on leaf modules see); graph: every node.
Firing firing(const Census& c, Convention conv);

}  // namespace eatsim::sponge
