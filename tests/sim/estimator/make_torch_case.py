#!/usr/bin/python3
"""Test helper: a kuangliu model with seeded random weights (BN statistics non-trivial) saved as a
torch state_dict, plus random inputs. Usage: make_torch_case.py ARCH WIDTH IN_CH SIZE N OUT_DIR"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tools'))
import kuangliu_models  # noqa: E402

arch, width, cin, size, n, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(
    sys.argv[5]), sys.argv[6]
torch.manual_seed(7)
m = kuangliu_models.build(arch, width, cin, size, 10)
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.uniform_(-0.2, 0.2)
        mod.running_var.uniform_(0.5, 1.5)
        mod.weight.data.uniform_(0.8, 1.2)
        mod.bias.data.uniform_(-0.2, 0.2)
os.makedirs(out, exist_ok=True)
torch.save(m.state_dict(), os.path.join(out, 'model.pt'))
np.save(os.path.join(out, 'inputs.npy'), np.random.default_rng(1).standard_normal((n, cin, size, size)).astype(np.float32))
