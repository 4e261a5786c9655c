"""torch.fx side of torch2trace: run a PyTorch model and find every node of an eatsim graph in its
forward pass (run_graph), or derive an eatsim graph from the model itself (graph_from_fx).
Needs numpy and torch only."""
import operator
import re

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F


class Torch2TraceError(Exception):
    """Bad input: the model, the graph or the arguments do not fit."""


# --- the resolved model graph (as printed by `eatsim model show NAME --yaml`) -------------------

def parse_graph(text):
    """Nodes of a resolved graph: [{name, op, inputs, module, inplace}], plus its params line."""
    nodes = []
    for m in re.finditer(r'^\s*- \{name: ([^,]+), op: (\w+), inputs: \[([^\]]*)\], module: (true|false)(.*)\}\s*$',
                         text, re.M):
        nodes.append({'name': m.group(1).strip(), 'op': m.group(2),
                      'inputs': [s.strip() for s in m.group(3).split(',') if s.strip()],
                      'module': m.group(4) == 'true', 'inplace': 'inplace: true' in m.group(5)})
    if not nodes:
        raise Torch2TraceError("the graph text has no nodes (expected the output of `eatsim model show NAME --yaml`)")
    p = re.search(r'^params: \{(.*)\}', text, re.M)
    params = dict(kv.split(': ') for kv in p.group(1).split(', ')) if p else {}
    name = re.search(r'^name: (.*)$', text, re.M)
    out = re.search(r'^output: (.*)$', text, re.M)
    return {'name': name.group(1).strip() if name else 'model', 'params': params, 'nodes': nodes,
            'output': out.group(1).strip() if out else nodes[-1]['name']}


# --- running the model and finding every graph node's output ------------------------------------

class _Tracer(fx.Tracer):
    # An empty nn.Sequential (kuangliu's identity shortcut) is a module node of its own.
    def is_leaf_module(self, m, qualname):
        return super().is_leaf_module(m, qualname) or (isinstance(m, nn.Sequential) and len(m) == 0)


class _Recorder(fx.Interpreter):
    def __init__(self, gm):
        super().__init__(gm)
        self.values = {}

    def run_node(self, n):
        out = super().run_node(n)
        if isinstance(out, torch.Tensor):
            self.values[n] = out.detach().clone()  # before any later in-place op changes it
        return out


_FUNCTIONAL = {
    'relu': ({F.relu, torch.relu, torch.relu_, F.relu_}, {'relu', 'relu_'}, (nn.ReLU,)),
    'add': ({operator.add, operator.iadd, torch.add}, {'add', 'add_', '__add__', '__iadd__'}, ()),
    'global_avgpool': ({F.avg_pool2d, F.adaptive_avg_pool2d, torch.mean}, {'mean'}, (nn.AdaptiveAvgPool2d,)),
    'avgpool2d': ({F.avg_pool2d}, set(), (nn.AvgPool2d,)),
    'maxpool2d': ({F.max_pool2d}, set(), (nn.MaxPool2d,)),
    'flatten': ({torch.flatten, torch.reshape}, {'view', 'reshape', 'flatten'}, (nn.Flatten,)),
    'identity': (set(), set(), (nn.Identity,)),
}


def _is_op(n, op, modules):
    fns, methods, mods = _FUNCTIONAL.get(op, (set(), set(), ()))
    if n.op == 'call_function':
        return n.target in fns
    if n.op == 'call_method':
        return n.target in methods
    if n.op == 'call_module':
        return isinstance(modules[n.target], mods)
    return False


def run_graph(model, graph, inputs, forward_batch=0):
    """Runs `model` on `inputs` in eval mode; returns {graph node name or 'input': numpy array}.
    forward_batch > 0 runs the inputs in chunks of that many samples (PyTorch's kernels can round
    differently for other batch sizes, so a value near zero can flip between runs)."""
    n = inputs.shape[0]
    if 0 < forward_batch < n:
        parts = [run_graph(model, graph, inputs[s:s + forward_batch]) for s in range(0, n, forward_batch)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    model = model.eval()
    try:
        gm = fx.GraphModule(model, _Tracer().trace(model))
    except Exception as e:  # noqa: BLE001 - any tracing failure means the model is not traceable
        raise Torch2TraceError(f"torch.fx cannot trace the model ({e}); torch2trace needs an fx-traceable model")
    modules = dict(gm.named_modules())
    rec = _Recorder(gm)
    with torch.no_grad():
        try:
            final = rec.run(torch.as_tensor(inputs))
        except RuntimeError as e:
            raise Torch2TraceError(f"the forward pass failed on inputs of shape {tuple(inputs.shape)}: "
                                   f"{str(e).splitlines()[0]}")
    fxnodes = [n for n in gm.graph.nodes if n in rec.values]
    by_module = {n.target: n for n in fxnodes if n.op == 'call_module'}
    placeholder = next(n for n in gm.graph.nodes if n.op == 'placeholder')
    where = {'input': placeholder}
    used = set()
    for node in graph['nodes']:
        name, op = node['name'], node['op']
        ins = [where.get(i) for i in node['inputs']]
        if None in ins:
            raise Torch2TraceError(f"graph node '{name}': an input was not found before it")
        if node['module']:
            n = by_module.get(name)
            if n is None:
                raise Torch2TraceError(f"graph node '{name}' is a module node, but the model has no module called "
                                       f"'{name}' (or it is never called)")
        elif op == 'identity' and not any(_is_op(n, op, modules) for n in fxnodes):
            n = ins[0]  # a functional identity leaves no trace of its own
        else:
            n = None
            for cand in fxnodes:
                if cand in used or not _is_op(cand, op, modules):
                    continue
                targs = [a for a in cand.args if isinstance(a, fx.Node) and a in rec.values]
                if set(targs) == set(ins) and len(targs) == len(ins):
                    n = cand
                    break
            if n is None:
                raise Torch2TraceError(f"graph node '{name}' ({op} of {', '.join(node['inputs'])}) has no matching "
                                       f"operation in the model's forward pass")
        used.add(n)
        where[name] = n
    out = {k: rec.values[n].cpu().numpy() for k, n in where.items()}
    if graph['output'] in out and not np.array_equal(out[graph['output']], final.detach().cpu().numpy()):
        raise Torch2TraceError(f"the graph's output '{graph['output']}' is not the model's output")
    return out


# --- deriving an eatsim graph from the model (for nets without a models/ file) -------------------

def _pair(v):
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def _node_line(name, op, inputs, module, **attrs):
    extra = ''.join(f', {k}: {v}' for k, v in attrs.items())
    return f'  - {{name: {name}, op: {op}, inputs: [{", ".join(inputs)}], module: {"true" if module else "false"}{extra}}}'


def _yaml_list(v):
    return '[' + ', '.join(str(int(x)) for x in v) + ']'


def _module_line(name, m, ins, shape_in, shape_out):
    """The graph line of a leaf module, or None when eatsim's graph format cannot express it."""
    if isinstance(m, nn.Conv2d):
        if m.groups != 1 or _pair(m.dilation) != [1, 1] or isinstance(m.padding, str) or m.padding_mode != 'zeros':
            return None
        return _node_line(name, 'conv2d', ins, True, out_channels=m.out_channels, kernel=_yaml_list(_pair(m.kernel_size)),
                          stride=_yaml_list(_pair(m.stride)), pad=_yaml_list(_pair(m.padding)),
                          bias='true' if m.bias is not None else 'false')
    if isinstance(m, nn.BatchNorm2d):
        if not (m.affine and m.track_running_stats):
            return None
        return _node_line(name, 'batchnorm2d', ins, True, eps=repr(float(m.eps)), momentum=repr(float(m.momentum or 0.1)))
    if isinstance(m, nn.ReLU):
        return _node_line(name, 'relu', ins, True, inplace='true' if m.inplace else 'false')
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        # ceil_mode: max pooling only (an average's divisor would differ at the clipped edge)
        if (m.ceil_mode and isinstance(m, nn.AvgPool2d)) or (isinstance(m, nn.MaxPool2d) and _pair(m.dilation) != [1, 1]):
            return None
        stride = m.stride if m.stride is not None else m.kernel_size
        extra = {'ceil_mode': 'true'} if m.ceil_mode else {}
        return _node_line(name, 'maxpool2d' if isinstance(m, nn.MaxPool2d) else 'avgpool2d', ins, True,
                          kernel=_yaml_list(_pair(m.kernel_size)), stride=_yaml_list(_pair(stride)),
                          pad=_yaml_list(_pair(m.padding)), **extra)
    if isinstance(m, nn.AdaptiveAvgPool2d) and _pair(m.output_size) == [1, 1]:
        return _node_line(name, 'global_avgpool', ins, True)
    if isinstance(m, nn.Linear):
        if len(shape_in) != 2:
            return None
        return _node_line(name, 'linear', ins, True, out_features=m.out_features,
                          bias='true' if m.bias is not None else 'false')
    if isinstance(m, nn.Flatten) and len(shape_out) == 2:
        return _node_line(name, 'flatten', ins, True)
    if isinstance(m, (nn.Identity, nn.Dropout)) or (isinstance(m, nn.Sequential) and len(m) == 0):
        return _node_line(name, 'identity', ins, True)  # eval-mode dropout is the identity
    return None


def _function_op(n, modules, shape_in, shape_out):
    for op in ('relu', 'add'):
        if _is_op(n, op, modules):
            return op
    if _is_op(n, 'flatten', modules) and len(shape_out) == 2:
        return 'flatten'
    if n.target in (F.avg_pool2d, F.adaptive_avg_pool2d) and len(shape_in) == 4 and len(shape_out) == 4 \
            and tuple(shape_out[2:]) == (1, 1):
        if n.target is F.avg_pool2d:  # only a kernel covering the whole input is a global pool
            k = _pair(n.args[1] if len(n.args) > 1 else n.kwargs.get('kernel_size'))
            if (k[0], k[1]) != tuple(shape_in[2:]):
                return None
        return 'global_avgpool'
    return None


def graph_from_fx(model, example_input, name='model'):
    """An eatsim graph (resolved, width 1) derived from the model's torch.fx trace: module paths name
    module nodes, fx node names name functional ones (relu, add, global average pool, flatten).
    Raises Torch2TraceError for anything the graph format cannot express (concatenation, grouped or
    dilated convolutions, functional pooling with a kernel, ...)."""
    model = model.eval()
    try:
        gm = fx.GraphModule(model, _Tracer().trace(model))
    except Exception as e:  # noqa: BLE001
        raise Torch2TraceError(f"torch.fx cannot trace the model ({e})")
    modules = dict(gm.named_modules())
    rec = _Recorder(gm)
    x = torch.as_tensor(example_input)
    if x.ndim != 4 or x.shape[2] != x.shape[3]:
        raise Torch2TraceError(f"graph_from_fx needs square [N, C, H, W] inputs, got {tuple(x.shape)}")
    with torch.no_grad():
        rec.run(x)
    names, lines, output = {}, [], None
    taken = set()
    for n in gm.graph.nodes:
        if n.op == 'placeholder':
            names[n] = 'input'
            continue
        if n.op == 'output':
            output = names.get(n.args[0])
            continue
        if n not in rec.values:
            continue  # sizes, shapes and other non-tensor values
        targs = [a for a in n.args if isinstance(a, fx.Node) and a in rec.values]
        if any(a not in names for a in targs):
            raise Torch2TraceError(f"fx node '{n.name}' reads a tensor the graph cannot name")
        ins = [names[a] for a in targs]
        shape_in = tuple(rec.values[targs[0]].shape) if targs else ()
        shape_out = tuple(rec.values[n].shape)
        if n.op == 'call_module':
            nm = n.target
            line = _module_line(nm, modules[n.target], ins, shape_in, shape_out)
            what = type(modules[n.target]).__name__
        else:
            nm = re.sub(r'[^A-Za-z0-9_.-]', '_', n.name)
            op = _function_op(n, modules, shape_in, shape_out)
            line = _node_line(nm, op, ins, False) if op else None
            what = getattr(n.target, '__name__', str(n.target))
        if line is None:
            raise Torch2TraceError(f"'{n.name}' ({what}) has no eatsim graph op; express it with supported modules "
                                   f"(Conv2d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Linear, "
                                   f"Flatten, Identity) or F.relu, +, flatten/view")
        if nm in taken or nm == 'input':
            raise Torch2TraceError(f"two graph nodes would be called '{nm}'")
        taken.add(nm)
        names[n] = nm
        lines.append(line)
    if output is None:
        raise Torch2TraceError("the model's output is not a tensor the graph can name")
    out_shape = tuple(rec.values[next(k for k, v in names.items() if v == output)].shape)
    classes = out_shape[-1] if len(out_shape) == 2 else 1
    head = [f'name: {name}',
            f'params: {{width: 1, in_channels: {x.shape[1]}, input_size: {x.shape[2]}, classes: {classes}}}',
            f'output: {output}', 'nodes:']
    return '\n'.join(head + lines) + '\n'
