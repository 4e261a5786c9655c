#!/usr/bin/python3
"""Write an eatsim trace (traces/FORMAT.md, v1) from a PyTorch model and a batch of inputs.

The model's structure must match an eatsim model graph: every module node of the graph is a module
of the same name (the PyTorch module path), and every functional node (F.relu, residual add, pooling,
view/flatten) is found in the model's torch.fx trace by its op and inputs. The forward pass runs in
eval mode; every graph node's output is copied as it is produced (so an in-place ReLU does not alter
the BatchNorm output stored before it). Needs numpy and torch only. See docs/torch2trace.md.

  /usr/bin/python3 tools/torch2trace.py --arch resnet18 --width 0.25 --in-channels 1 \\
      --weights DIR | --state-dict FILE.pt  --inputs X.npy [--labels Y.npy] --out TRACE [--force]

  /usr/bin/python3 tools/torch2trace.py --model-py mynet.py:make --state-dict mynet.pt --inputs X.npy --out T
      (any net: the graph is derived from its torch.fx trace, tools/fxgraph.py)

  /usr/bin/python3 tools/torch2trace.py --torchvision mobilenet_v2 --random-inputs 2 --input-size 224 --out T
      (a torchvision architecture, built without downloading weights: random init unless --state-dict)

Library use (e.g. from a notebook):  from torch2trace import write_trace, resolved_graph, graph_from_fx
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fxgraph import Torch2TraceError, fx_graph, graph_from_fx, parse_graph, run_graph  # noqa: E402,F401

PRODUCER = "torch2trace.py"


def find_eatsim():
    for cand in (os.environ.get('EATSIM'), os.path.join(HERE, '..', 'build', 'eatsim'), shutil.which('eatsim')):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise Torch2TraceError("cannot find the eatsim binary (set EATSIM=path, or pass --graph FILE)")


def resolved_graph(arch, width=1.0, in_channels=3, input_size=32, classes=10, eatsim=None):
    """The resolved graph text of a built-in or .yaml model, from `eatsim model show --yaml`."""
    cmd = [eatsim or find_eatsim(), 'model', 'show', arch, '--width', repr(float(width)), '--in-channels',
           str(in_channels), '--input-size', str(input_size), '--classes', str(classes), '--yaml']
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise Torch2TraceError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return r.stdout


# --- writing the trace (atomically, manifest last) ----------------------------------------------

def _file_name(name):
    return re.sub(r'[^A-Za-z0-9._-]', '_', name)


def _quote(s):
    return '"' + str(s).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n') + '"'


def _num(v):
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _save(staging, fname, array, durable):
    tmp = os.path.join(staging, fname + '.tmp')
    with open(tmp, 'wb') as f:
        np.save(f, np.asarray(array, order="C"))  # (ascontiguousarray would make a 0-d array 1-d)
        f.flush()
        if durable:
            os.fsync(f.fileno())
    os.rename(tmp, os.path.join(staging, fname))


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_trace(model, graph_text, inputs, out_dir, labels=None, ids=None, force=False, dtype='float32',
                model_params=None, meta=None, producer=PRODUCER, forward_batch=0, durable=True, acts=None):
    """Runs `model` on `inputs` ([N, C, H, W]) and writes a v1 trace to `out_dir`.

    graph_text: the resolved graph (`eatsim model show NAME --yaml`); labels/ids: N integers (labels
    default to -1 = unknown, ids to 0..N-1); dtype: 'float32' (exact) or 'float16' for activations;
    model_params: the informational manifest params (width, ...); meta: dataset, split, lambda, sigma,
    accuracy, checkpoint, extra (a dict of strings); forward_batch: run the forward pass on chunks
    of this many samples (0: all at once; 1 reproduces per-image scoring exactly); durable=False
    skips the fsyncs (tests: the manifest is still written last and the directory renamed into place);
    acts: the graph nodes' outputs when already computed (FxGraph.values), else found by run_graph.
    """
    graph = parse_graph(graph_text)
    inputs = np.ascontiguousarray(np.asarray(inputs, dtype=np.float32))
    n = inputs.shape[0]
    labels = [-1] * n if labels is None else [int(x) for x in labels]
    ids = list(range(n)) if ids is None else [int(x) for x in ids]
    if len(labels) != n or len(ids) != n:
        raise Torch2TraceError(f"labels and ids need {n} entries (one per input)")
    if dtype not in ('float32', 'float16'):
        raise Torch2TraceError(f"dtype {dtype}: torch2trace writes float32 or float16")
    if os.path.exists(out_dir) and not force:
        raise Torch2TraceError(f"{out_dir}: already exists (use --force to replace it)")
    parent = os.path.dirname(os.path.abspath(out_dir))
    if not os.path.isdir(parent):
        raise Torch2TraceError(f"{out_dir}: the parent directory does not exist")
    if acts is None:
        acts = run_graph(model, graph, torch.from_numpy(inputs), forward_batch)
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    out = acts.get(graph['output'])
    predictions = [int(x) for x in out.reshape(n, -1).argmax(axis=1)] if out is not None else []

    staging = f"{out_dir.rstrip('/')}.tmp-{os.getpid()}-0"
    os.makedirs(staging)
    try:
        entries = []

        def add(name, kind, array, file_prefix):
            if kind != 'param' and dtype == 'float16':
                array = array.astype(np.float16)
            elif array.dtype != np.int64:
                array = array.astype(np.float32)
            fname = file_prefix + _file_name(name) + '.npy'
            _save(staging, fname, array, durable)
            dt = {np.dtype('float32'): 'float32', np.dtype('float16'): 'float16', np.dtype('int64'): 'int64'}[array.dtype]
            entries.append(f'  - {{name: {_quote(name)}, kind: {kind}, file: {_quote(fname)}, dtype: {dt}, '
                           f'shape: [{", ".join(str(d) for d in array.shape)}]}}')

        add('input', 'input', inputs, '')
        for node in graph['nodes']:
            add(node['name'], 'activation', acts[node['name']], 'act.')
        for key, v in state.items():
            add(key, 'param', v, 'param.')
        mp = dict(graph['params'])
        mp.update({k: _num(v) for k, v in (model_params or {}).items()})
        meta = dict(meta or {})
        extra = dict(meta.get('extra') or {})
        extra.setdefault('torch', torch.__version__)
        extra.setdefault('forward_batch', str(forward_batch or n))
        lines = ['# eatsim trace (format: traces/FORMAT.md). Tensors are .npy files beside this manifest.',
                 'format: eatsim-trace', 'version: 1', f'producer: {_quote(producer)}', 'model:',
                 f'  name: {_quote(graph["name"])}',
                 '  params: {' + ', '.join(f'{k}: {mp[k]}' for k in ('width', 'in_channels', 'input_size', 'classes')
                                           if k in mp) + '}',
                 '  graph: |']
        lines += ['    ' + line for line in graph_text.rstrip('\n').split('\n')]
        lines += ['samples:', f'  count: {n}', f'  ids: [{", ".join(map(str, ids))}]',
                  f'  labels: [{", ".join(map(str, labels))}]']
        if predictions:
            lines.append(f'  predictions: [{", ".join(map(str, predictions))}]')
        lines += ['meta:', f'  dataset: {_quote(meta.get("dataset", "custom"))}',
                  f'  split: {_quote(meta.get("split", ""))}', f'  lambda: {_num(meta.get("lambda", 0))}',
                  f'  sigma: {_num(meta.get("sigma", 0))}', f'  accuracy: {_num(meta.get("accuracy", -1))}',
                  f'  checkpoint: {_quote(meta.get("checkpoint", ""))}', '  extra:']
        lines += [f'    {_quote(k)}: {_quote(v)}' for k, v in sorted(extra.items())]
        lines += ['tensors:'] + entries
        tmp = os.path.join(staging, 'trace.yaml.tmp')
        with open(tmp, 'w') as f:
            f.write('\n'.join(lines) + '\n')
            f.flush()
            if durable:
                os.fsync(f.fileno())
                _fsync_dir(staging)
        os.rename(tmp, os.path.join(staging, 'trace.yaml'))
        if durable:
            _fsync_dir(staging)
        if os.path.exists(out_dir):  # --force: swap directories, then drop the old one
            old = f"{out_dir.rstrip('/')}.tmp-{os.getpid()}-old"
            os.rename(out_dir, old)
            os.rename(staging, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, out_dir)
        if durable:
            _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def load_weights(model, weights_dir=None, state_dict=None):
    """Loads one .npy per state_dict key from a directory (make_case.py, eatsim checkpoints) or a .pt file."""
    if state_dict:
        sd = torch.load(state_dict, map_location='cpu')
        sd = sd.get('state_dict', sd) if isinstance(sd, dict) else sd
    else:
        sd = {}
        for key in model.state_dict():
            p = os.path.join(weights_dir, key + '.npy')
            if not os.path.isfile(p):
                raise Torch2TraceError(f"{p}: missing (the weights do not match the model)")
            sd[key] = torch.from_numpy(np.load(p))
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        detail = ' '.join(line.strip() for line in str(e).splitlines()[1:3])
        raise Torch2TraceError(f"the weights do not match the model: {detail[:300]}")
    return model


def _load_factory(spec):
    path, _, func = spec.rpartition(':')
    if not path or not func:
        raise Torch2TraceError(f"--model-py {spec}: expected FILE.py:FACTORY")
    import importlib.util
    loader = importlib.util.spec_from_file_location('user_model', path)
    if loader is None:
        raise Torch2TraceError(f"{path}: cannot load it as a Python module")
    mod = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(mod)
    if not callable(getattr(mod, func, None)):
        raise Torch2TraceError(f"{path}: has no function '{func}'")
    return getattr(mod, func)


def torchvision_model(name, classes, seed=0):
    """torchvision.models.NAME with its own random initialisation (seeded); never downloads weights."""
    try:
        import torchvision
    except ImportError:
        raise Torch2TraceError("--torchvision needs torchvision (Debian: apt-get install python3-torchvision)")
    builder = getattr(torchvision.models, name, None)
    if not callable(builder) or name.startswith('_') or name[0].isupper():
        raise Torch2TraceError(f"--torchvision {name}: torchvision {torchvision.__version__} has no such model")
    torch.manual_seed(seed)
    kw = {'weights': None, 'num_classes': classes}
    if name in ('googlenet', 'inception_v3'):
        kw.update(aux_logits=False, init_weights=True)
    return builder(**kw)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    m = ap.add_mutually_exclusive_group(required=True)
    m.add_argument('--arch', help='resnet18 | vgg16 (tools/kuangliu_models.py)')
    m.add_argument('--model-py', help='FILE.py:FACTORY, a function returning your nn.Module (graph from torch.fx)')
    m.add_argument('--torchvision', metavar='NAME',
                   help='a torchvision.models architecture (resnet50, mobilenet_v2, ...; graph from torch.fx)')
    ap.add_argument('--width', type=float, default=1.0)
    ap.add_argument('--in-channels', type=int, default=3)
    ap.add_argument('--input-size', type=int, default=None, help='default: the inputs\' size')
    ap.add_argument('--classes', type=int, default=None, help='default: 10 (torchvision: 1000)')
    w = ap.add_mutually_exclusive_group()
    w.add_argument('--weights', help='directory with one .npy per state_dict key')
    w.add_argument('--state-dict', help='a torch.save()d state_dict (.pt)')
    i = ap.add_mutually_exclusive_group(required=True)
    i.add_argument('--inputs', help='.npy of shape [N, C, H, W], float')
    i.add_argument('--random-inputs', type=int, metavar='N',
                   help='N standard-normal inputs of --in-channels x --input-size (default 224 for --torchvision)')
    ap.add_argument('--seed', type=int, default=0, help='seed of random weights and inputs')
    ap.add_argument('--labels', help='.npy of N integer labels (default: -1, unknown)')
    ap.add_argument('--out', required=True, help='trace directory to write')
    ap.add_argument('--force', action='store_true', help='replace an existing trace')
    ap.add_argument('--graph', help='resolved graph file (default: ask `eatsim model show ... --yaml`)')
    ap.add_argument('--graph-from-fx', action='store_true',
                    help='derive the graph from the model\'s torch.fx trace (default with --model-py)')
    ap.add_argument('--eatsim', help='path of the eatsim binary (default: $EATSIM, build/eatsim, PATH)')
    ap.add_argument('--dtype', default='float32', choices=['float32', 'float16'])
    ap.add_argument('--forward-batch', type=int, default=0,
                    help='run the forward pass on chunks of this many samples (default: all at once)')
    ap.add_argument('--dataset', default='custom')
    ap.add_argument('--split', default='')
    ap.add_argument('--lambda', dest='lam', type=float, default=0.0)
    ap.add_argument('--sigma', type=float, default=0.0)
    ap.add_argument('--accuracy', type=float, default=-1.0)
    a = ap.parse_args(argv)
    try:
        sys.path.insert(0, HERE)
        import kuangliu_models
        classes = a.classes or (1000 if a.torchvision else 10)
        if a.inputs:
            x = np.load(a.inputs)
            if x.ndim != 4:
                raise Torch2TraceError(f"{a.inputs}: expected [N, C, H, W], got shape {x.shape}")
        else:
            s = a.input_size or (224 if a.torchvision else 32)
            if a.random_inputs < 1:
                raise Torch2TraceError("--random-inputs: give a positive sample count")
            x = np.random.default_rng(a.seed).standard_normal((a.random_inputs, a.in_channels, s, s)).astype(np.float32)
        size = a.input_size or x.shape[-1]
        if a.model_py:
            model = _load_factory(a.model_py)()
            name = a.model_py.rsplit(':', 1)[-1]
        elif a.torchvision:
            model = torchvision_model(a.torchvision, classes, a.seed)
            name = a.torchvision
        else:
            model = kuangliu_models.build(a.arch, a.width, a.in_channels, size, classes)
            name = a.arch
        if a.weights or a.state_dict:
            load_weights(model, a.weights, a.state_dict)
        elif not a.torchvision:
            raise Torch2TraceError("give the weights: --weights DIR or --state-dict FILE.pt")
        acts = None
        if a.graph:
            text = open(a.graph).read()
        elif a.graph_from_fx or a.model_py or a.torchvision:
            fg = fx_graph(model, torch.from_numpy(x[:1].astype(np.float32)), name)
            text, acts = fg.text, fg.values(x.astype(np.float32), a.forward_batch)
        else:
            text = resolved_graph(a.arch, a.width, a.in_channels, size, classes, a.eatsim)
        labels = np.load(a.labels).reshape(-1) if a.labels else None
        write_trace(model, text, x, a.out, labels=labels, force=a.force, dtype=a.dtype,
                    model_params={'width': a.width}, forward_batch=a.forward_batch, acts=acts,
                    meta={'dataset': a.dataset, 'split': a.split, 'lambda': a.lam, 'sigma': a.sigma,
                          'accuracy': a.accuracy, 'checkpoint': a.weights or a.state_dict})
        print(f"wrote {a.out} ({x.shape[0]} samples of {name}, width {a.width})")
        return 0
    except (Torch2TraceError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
