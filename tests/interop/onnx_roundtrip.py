#!/usr/bin/python3
"""torchvision models through torch.onnx and `eatsim model import` (run by tests/interop/test_onnx_roundtrip.cpp):

  onnx_roundtrip.py --eatsim BUILD/eatsim --out DIR [--models a,b,...] [--size 64]

For each model (random weights and BatchNorm statistics, never downloaded): torch.onnx.export with
BatchNormalization kept (training=PRESERVE, no constant folding), `eatsim model import`, then
`eatsim trace export --inputs` on 4 random images; the logits in the trace must equal PyTorch's
within 1e-4 relative to their largest magnitude. The imported graph's trainable parameters and MACs
(`eatsim model show`) must equal both an independent count on the PyTorch module (forward hooks)
and the counts of the torch2trace path (the torch.fx graph of tools/fxgraph.py). resnet18 is also
exported with PyTorch's defaults (BatchNorm folded into the convolutions by constant folding;
identical initial tensors shared through Identity nodes), and mobilenet_v3_small at opsets 11 and
17 (the ends of the range read directly), must give the same logits. Prints one
line per model and exits 1 on any failure.
"""
import argparse
import os
import re
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'tools'))
import torch2trace  # noqa: E402
from torchvision_coverage import independent_counts, run  # noqa: E402

MODELS = ['resnet18', 'mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0', 'squeezenet1_1', 'densenet121',
          'googlenet']


def randomise(model, seed):
    """Random BatchNorm parameters and statistics, so no BN is the identity and no two tensors coincide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model


def counts(eatsim, graph_file):
    code, out = run([eatsim, 'model', 'show', graph_file])
    m = re.search(r'total: (\d+) nodes, ([\d,]+) trainable parameters, ([\d,]+) MACs per sample', out)
    if code != 0 or not m:
        raise RuntimeError(f"eatsim model show {graph_file} failed: {out.strip()[-300:]}")
    return int(m.group(2).replace(',', '')), int(m.group(3).replace(',', ''))


def check(a, name, model, x, onnx_file, out_dir, export_kwargs, failures):
    torch.onnx.export(model, x, onnx_file, input_names=['x'], output_names=['logits'],
                      dynamic_axes={'x': {0: 'N'}}, **export_kwargs)
    ckpt = os.path.join(out_dir, 'ckpt')
    code, out = run([a.eatsim, 'model', 'import', onnx_file, '--out', ckpt, '--force', '-q'])
    if code != 0:
        failures.append(f"{name}: eatsim model import exited {code}: {out.strip()[-400:]}")
        return None
    xfile = os.path.join(out_dir, 'x.npy')
    np.save(xfile, x.numpy())
    trace = os.path.join(out_dir, 'trace')
    code, out = run([a.eatsim, 'trace', 'export', ckpt, '--inputs', xfile, '--samples', str(x.shape[0]), '--out',
                     trace, '--force'])
    if code != 0:
        failures.append(f"{name}: eatsim trace export exited {code}: {out.strip()[-400:]}")
        return None
    with open(os.path.join(ckpt, 'model.yaml')) as f:
        output = re.search(r'^output: (\S+)', f.read(), re.M).group(1)
    got = np.load(os.path.join(trace, f'act.{output}.npy'))
    with torch.no_grad():
        want = model(x).numpy()
    err = float(np.abs(got - want).max() / np.abs(want).max())
    if not err <= 1e-4:
        failures.append(f"{name}: logits differ from PyTorch's by {err:.2e} of their largest magnitude (> 1e-4)")
    return err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--eatsim', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--size', type=int, default=64)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.environ['EATSIM'] = a.eatsim
    failures = []
    torch.manual_seed(0)
    preserve = dict(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    for i, name in enumerate(a.models.split(',')):
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        model = randomise(torch2trace.torchvision_model(name, 10), i).eval()
        x = torch.randn(4, 3, a.size, a.size)
        err = check(a, name, model, x, os.path.join(d, f'{name}.onnx'), d, preserve, failures)
        if err is None:
            continue
        params, macs = independent_counts(model, a.size)
        e_params, e_macs = counts(a.eatsim, os.path.join(d, 'ckpt', 'model.yaml'))
        fx_file = os.path.join(d, 'fx.graph.yaml')
        with open(fx_file, 'w') as f:
            f.write(torch2trace.fx_graph(model, torch.zeros(1, 3, a.size, a.size), name).text)
        f_params, f_macs = counts(a.eatsim, fx_file)
        if not (e_params == params == f_params and e_macs == macs == f_macs):
            failures.append(f"{name}: the ONNX import counts {e_params} parameters and {e_macs} MACs; PyTorch "
                            f"{params} and {macs}; torch2trace {f_params} and {f_macs}")
        print(f"{name}: logits within {err:.1e} of PyTorch's; {e_params} parameters, {e_macs} MACs (PyTorch and "
              f"torch2trace agree)", flush=True)
    # The ends of the opset range this build reads directly (PyTorch's default above is 14).
    for opset in (11, 17):
        name = f'mobilenet_v3_small-opset{opset}'
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        model = randomise(torch2trace.torchvision_model('mobilenet_v3_small', 10), 7).eval()
        x = torch.randn(2, 3, a.size, a.size)
        err = check(a, name, model, x, os.path.join(d, f'{name}.onnx'), d, dict(preserve, opset_version=opset),
                    failures)
        if err is not None:
            print(f"{name}: logits within {err:.1e} of PyTorch's", flush=True)
    # PyTorch's default export: BatchNorm folded into the convolutions, equal tensors shared.
    d = os.path.join(a.out, 'resnet18-folded')
    os.makedirs(d, exist_ok=True)
    model = torch2trace.torchvision_model('resnet18', 10).eval()
    x = torch.randn(2, 3, a.size, a.size)
    err = check(a, 'resnet18-folded', model, x, os.path.join(d, 'resnet18-folded.onnx'), d, {}, failures)
    if err is not None:
        print(f"resnet18-folded: logits within {err:.1e} of PyTorch's", flush=True)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
