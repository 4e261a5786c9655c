#!/usr/bin/python3
"""Test helper: the paper's estimator in its original form, on a PyTorch model — forward hooks on
every leaf module counting, per call, input/output elements and non-zeros (|x| > 2^-126), the
module's parameters and buffers, BatchNorm's second read of running_mean/running_var (2C elements,
their non-zeros as non-zero) and ops by module type; energy 1950 pJ per element moved, 3.7 pJ per op
scaled by f = param density x input density. An implementation independent of eatsim's, used to
write expected numbers for fixture cases (REFERENCES.md gives the rules).

Usage: sponge_reference.py ARCH DIR    (DIR from make_case.py; prints the whole-pass JSON)"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tools'))
import kuangliu_models  # noqa: E402
import torch2trace  # noqa: E402

MIN = 2.0 ** -126


def nnz(t):
    return int((t.detach().abs() > MIN).sum())


def estimate(model, x):
    c = dict(param_total=0, param_nnz=0, in_total=0, in_nnz=0, out_total=0, out_nnz=0, ops=0)

    def hook(m, inp, out):
        inp = inp if isinstance(inp, tuple) else (inp,)
        out = out if isinstance(out, tuple) else (out,)
        for t in inp:
            c['in_total'] += t.numel(); c['in_nnz'] += nnz(t)
        for t in out:
            c['out_total'] += t.numel(); c['out_nnz'] += nnz(t)
        for t in list(m.buffers()) + list(m.parameters()):
            c['param_total'] += t.numel(); c['param_nnz'] += nnz(t)
        if isinstance(m, torch.nn.Conv2d):
            c['ops'] += out[0].numel() * m.kernel_size[0] * m.kernel_size[1] * inp[0].shape[1]
        elif isinstance(m, torch.nn.Linear):
            c['ops'] += m.weight.numel() * (inp[0].numel() // inp[0].shape[-1])
        elif isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
            c['ops'] += out[0].numel() * k[0] * k[1]
        elif isinstance(m, torch.nn.AdaptiveAvgPool2d):
            c['ops'] += inp[0].numel()
        elif isinstance(m, torch.nn.BatchNorm2d):
            c['param_total'] += 2 * m.num_features
            c['param_nnz'] += nnz(m.running_mean) + nnz(m.running_var)
            c['ops'] += 4 * inp[0].numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    with torch.no_grad():
        model(torch.from_numpy(x))
    for h in handles:
        h.remove()
    f = (c['param_nnz'] / c['param_total']) * (c['in_nnz'] / c['in_total'])
    worst = 1950.0 * (c['param_total'] + c['in_total'] + c['out_total']) + 3.7 * c['ops']
    opt = 1950.0 * (c['param_nnz'] + c['in_nnz'] + c['out_nnz']) + 3.7 * c['ops'] * f
    return dict(batch=int(x.shape[0]), totals=c, energy_worst_pj=worst, energy_opt_pj=opt, ratio=opt / worst,
                compute_fraction=f)


if __name__ == '__main__':
    arch, d = sys.argv[1:3]
    torch.set_num_threads(1)
    model = torch2trace.load_weights(kuangliu_models.build(arch), os.path.join(d, 'weights')).eval()
    print(json.dumps({'arch': arch, 'convention': 'original', 'reduction': 'whole',
                      'whole': estimate(model, np.load(os.path.join(d, 'inputs.npy')))}, indent=1))
