// SGD with momentum, written as torch.optim.SGD does it.
#include "trainer/sgd.hpp"

namespace eatsim {

void Sgd::step(Net& net) {
  float lr = static_cast<float>(c_.lr), mom = static_cast<float>(c_.momentum),
        wd = static_cast<float>(c_.weight_decay);
  for (const ParamRef& p : net.trainable()) {
    auto it = buf_.find(p.info->key);
    bool fresh = it == buf_.end();
    if (fresh) it = buf_.emplace(p.info->key, Tensor(p.info->shape)).first;
    float* b = it->second.data.data();
    for (int64_t i = 0; i < p.size; ++i) {
      float d = p.grad[i] + wd * p.value[i];
      if (mom != 0) {
        b[i] = fresh ? d : mom * b[i] + d;
        d = c_.nesterov ? d + mom * b[i] : b[i];
      }
      p.value[i] -= lr * d;
    }
  }
}

}  // namespace eatsim
