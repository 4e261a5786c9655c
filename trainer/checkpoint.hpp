// Checkpoints: a directory with one .npy per state_dict key (`layer1.0.conv1.weight.npy`) and
// nothing else named *.npy at its top level, extra tensors (optimiser state) as
// `optimizer/NAME.npy`, the resolved graph (model.yaml) and checkpoint.yaml (model, params, epoch,
// free-form metadata). Written atomically: a staging directory is filled, fsynced and renamed over
// the target; a state holding NaN or inf is refused (NumericError) and nothing is published.
#pragma once
#include <map>
#include <string>

#include "trainer/net.hpp"

namespace eatsim {

struct CheckpointMeta {
  std::string model;   // graph name
  ModelParams params;  // width, in_channels, input_size, classes
  int epoch = 0;
  std::map<std::string, std::string> info;  // metrics, optimiser settings, RNG state, ...
};

void save_checkpoint(const std::string& dir, const Net& net, const CheckpointMeta& meta,
                     const std::map<std::string, Tensor>& extra = {});
// Reads checkpoint.yaml only (to pick the model before building the Net). DataError when absent/bad.
CheckpointMeta read_checkpoint_meta(const std::string& dir);
// Loads into `net`: the model name must match and every key must be there with the graph's shape
// (DataError naming the tensor otherwise). Extra tensors are returned through `extra`.
CheckpointMeta load_checkpoint(const std::string& dir, Net& net,
                               std::map<std::string, Tensor>* extra = nullptr);

}  // namespace eatsim
