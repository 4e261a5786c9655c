#!/usr/bin/python3
"""torchvision architectures end to end (run by tests/tools/test_torchvision.cpp):

  torchvision_coverage.py --eatsim BUILD/eatsim --out DIR [--models a,b,...] [--size 224]

For each model: tools/torch2trace.py --torchvision writes a one-sample trace at SIZE x SIZE with
random weights (never downloaded); `eatsim energy` and `eatsim sim` on every hardware preset must
succeed on it; the graph's trainable parameters and MACs (from `eatsim model show`) must equal an
independent count made here from the PyTorch module itself (parameters: sum of p.numel(); MACs:
forward hooks on Conv2d and Linear, out.numel() x in_channels/groups x kh x kw). Prints one line
per model and exits 1 on any failure.
"""
import argparse
import os
import re
import subprocess
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
import torch2trace  # noqa: E402

MODELS = ['resnet50', 'mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0', 'mnasnet0_5', 'squeezenet1_1',
          'densenet121', 'regnet_x_400mf', 'googlenet', 'vgg11_bn']
PRESETS = ['tpu_ws32', 'eyeriss_os16', 'cnvlutin_ws16', 'scalesim32', 'dense_fp32']


def independent_counts(model, size):
    """Trainable parameters and forward MACs per sample, counted on the PyTorch module."""
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    macs = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            macs[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            macs[0] += out.numel() * m.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    return params, macs[0]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--eatsim', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--size', type=int, default=224)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.environ['EATSIM'] = a.eatsim
    failures = []
    for name in a.models.split(','):
        trace = os.path.join(a.out, name)
        code, out = run([sys.executable, os.path.join(ROOT, 'tools', 'torch2trace.py'), '--torchvision', name,
                         '--random-inputs', '1', '--input-size', str(a.size), '--dtype', 'float16', '--out', trace,
                         '--force'])
        if code != 0:
            failures.append(f"{name}: torch2trace exited {code}: {out.strip()}")
            continue
        model = torch2trace.torchvision_model(name, 1000)
        params, macs = independent_counts(model, a.size)
        graph = torch2trace.fx_graph(model, torch.zeros(1, 3, a.size, a.size), name).text
        gfile = trace + '.graph.yaml'
        with open(gfile, 'w') as f:
            f.write(graph)
        code, out = run([a.eatsim, 'model', 'show', gfile])
        m = re.search(r'total: (\d+) nodes, ([\d,]+) trainable parameters, ([\d,]+) MACs per sample', out)
        if code != 0 or not m:
            failures.append(f"{name}: eatsim model show failed: {out.strip()[-300:]}")
            continue
        e_nodes, e_params, e_macs = int(m.group(1)), int(m.group(2).replace(',', '')), int(m.group(3).replace(',', ''))
        if (e_params, e_macs) != (params, macs):
            failures.append(f"{name}: eatsim counts {e_params} parameters and {e_macs} MACs, PyTorch {params} and {macs}")
        code, out = run([a.eatsim, 'energy', trace])
        if code != 0 or 'ratio (whole)' not in out:
            failures.append(f"{name}: eatsim energy exited {code}: {out.strip()[-300:]}")
        sims = []
        for hw in PRESETS:
            code, out = run([a.eatsim, 'sim', '--hw', hw, '--trace', trace])
            tot = re.search(r'^total\s+(\d+)\s+(\d+)', out, re.M)
            if code != 0 or not tot:
                failures.append(f"{name}: eatsim sim --hw {hw} exited {code}: {out.strip()[-300:]}")
                continue
            if int(tot.group(1)) != e_macs:
                failures.append(f"{name}: eatsim sim --hw {hw} reports {tot.group(1)} MACs, the graph {e_macs}")
            sims.append(f"{hw} {int(tot.group(2))}")
        print(f"{name}: {e_nodes} nodes, {e_params} parameters, {e_macs} MACs (PyTorch: {params}, {macs}); "
              f"cycles: {', '.join(sims)}", flush=True)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
