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
    params = dict(re.findall(r'(\w+): (\[[^\]]*\]|[^,]+)', p.group(1))) if p else {}
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


def _num(v):
    return repr(float(v))


# Activation modules and their eatsim ops (with the attributes the graph keeps).
def _activation(m):
    ip = {'inplace': 'true'} if getattr(m, 'inplace', False) else {}
    if isinstance(m, nn.ReLU):
        return 'relu', {'inplace': 'true' if m.inplace else 'false'}
    if isinstance(m, nn.ReLU6):
        return 'relu6', ip
    if isinstance(m, nn.Hardtanh):
        return 'hardtanh', dict(min_val=_num(m.min_val), max_val=_num(m.max_val), **ip)
    if isinstance(m, nn.LeakyReLU):
        return 'leaky_relu', dict(negative_slope=_num(m.negative_slope), **ip)
    for cls, op in ((nn.Sigmoid, 'sigmoid'), (nn.SiLU, 'silu'), (nn.Hardswish, 'hardswish'),
                    (nn.Hardsigmoid, 'hardsigmoid')):
        if isinstance(m, cls):
            return op, ip
    return None, None


def _module_line(name, m, ins, shape_in, shape_out):
    """The graph line of a leaf module, or None when eatsim's graph format cannot express it."""
    if isinstance(m, nn.Conv2d):
        pad = [0, 0] if m.padding == 'valid' else m.padding
        if isinstance(pad, str) or m.padding_mode != 'zeros':
            return None
        attrs = dict(out_channels=m.out_channels, kernel=_yaml_list(_pair(m.kernel_size)),
                     stride=_yaml_list(_pair(m.stride)), pad=_yaml_list(_pair(pad)),
                     bias='true' if m.bias is not None else 'false')
        if _pair(m.dilation) != [1, 1]:
            attrs['dilation'] = _yaml_list(_pair(m.dilation))
        if m.groups != 1:
            attrs['groups'] = m.groups
        return _node_line(name, 'conv2d', ins, True, **attrs)
    if isinstance(m, nn.BatchNorm2d):
        if not (m.affine and m.track_running_stats):
            return None
        return _node_line(name, 'batchnorm2d', ins, True, eps=repr(float(m.eps)), momentum=repr(float(m.momentum or 0.1)))
    op, attrs = _activation(m)
    if op:
        return _node_line(name, op, ins, True, **attrs)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        # ceil_mode: max pooling only (an average's divisor would differ at the clipped edge)
        if (m.ceil_mode and isinstance(m, nn.AvgPool2d)) or (isinstance(m, nn.MaxPool2d) and _pair(m.dilation) != [1, 1]) \
                or (isinstance(m, nn.AvgPool2d) and not m.count_include_pad):
            return None
        stride = m.stride if m.stride is not None else m.kernel_size
        extra = {'ceil_mode': 'true'} if m.ceil_mode else {}
        return _node_line(name, 'maxpool2d' if isinstance(m, nn.MaxPool2d) else 'avgpool2d', ins, True,
                          kernel=_yaml_list(_pair(m.kernel_size)), stride=_yaml_list(_pair(stride)),
                          pad=_yaml_list(_pair(m.padding)), **extra)
    if isinstance(m, nn.AdaptiveAvgPool2d) and len(shape_out) == 4:
        if tuple(shape_out[2:]) == (1, 1):
            return _node_line(name, 'global_avgpool', ins, True)
        if tuple(shape_out[2:]) == tuple(shape_in[2:]):
            return _node_line(name, 'identity', ins, True)  # e.g. VGG's 7x7 pool on a 7x7 map
        return None
    if isinstance(m, nn.Linear):
        if len(shape_in) != 2:
            return None
        return _node_line(name, 'linear', ins, True, out_features=m.out_features,
                          bias='true' if m.bias is not None else 'false')
    if isinstance(m, nn.Flatten) and len(shape_out) == 2:
        return _node_line(name, 'flatten', ins, True)
    if isinstance(m, nn.Dropout):
        return _node_line(name, 'dropout', ins, True, p=_num(m.p))
    if isinstance(m, nn.Identity) or (isinstance(m, nn.Sequential) and len(m) == 0) \
            or type(m).__name__ == 'StochasticDepth':  # torchvision's: the identity in eval mode
        return _node_line(name, 'identity', ins, True)
    return None


_FN_ACTIVATIONS = {
    F.relu6: 'relu6', F.hardswish: 'hardswish', F.hardsigmoid: 'hardsigmoid', F.silu: 'silu',
    torch.sigmoid: 'sigmoid', F.sigmoid: 'sigmoid',
}


def _arg(n, i, key, default=None):
    return n.args[i] if len(n.args) > i else n.kwargs.get(key, default)


def _function_line(nm, n, ins, shape_in, shape_out, modules):
    """The graph line of a functional call (F.relu, +, *, torch.cat, flatten, pooling), or None."""
    if _is_op(n, 'relu', modules):
        return _node_line(nm, 'relu', ins, False)
    if n.op == 'call_function' and n.target in _FN_ACTIVATIONS:
        return _node_line(nm, _FN_ACTIVATIONS[n.target], ins, False)
    if n.op == 'call_method' and n.target in ('sigmoid', 'sigmoid_'):
        return _node_line(nm, 'sigmoid', ins, False)
    if n.op == 'call_function' and n.target is F.hardtanh:
        return _node_line(nm, 'hardtanh', ins, False, min_val=_num(_arg(n, 1, 'min_val', -1.0)),
                          max_val=_num(_arg(n, 2, 'max_val', 1.0)))
    if n.op == 'call_function' and n.target is F.leaky_relu:
        return _node_line(nm, 'leaky_relu', ins, False, negative_slope=_num(_arg(n, 1, 'negative_slope', 0.01)))
    if n.op == 'call_function' and getattr(n.target, '__name__', '') == 'stochastic_depth' \
            and not _arg(n, 3, 'training', True):
        return _node_line(nm, 'identity', ins, False)  # torchvision's stochastic depth, eval mode
    if n.op == 'call_function' and n.target is F.dropout:
        return _node_line(nm, 'dropout', ins, False, p=_num(_arg(n, 1, 'p', 0.5)))
    tensor_args = len(ins) == 2 and len([a for a in n.args if isinstance(a, fx.Node)]) == 2
    if _is_op(n, 'add', modules) and tensor_args:
        return _node_line(nm, 'add', ins, False)
    is_mul = (n.op == 'call_function' and n.target in (operator.mul, operator.imul, torch.mul)) or \
        (n.op == 'call_method' and n.target in ('mul', 'mul_'))
    if is_mul and tensor_args:
        return _node_line(nm, 'mul', ins, False)
    if n.op == 'call_function' and n.target is torch.cat:
        dim = _arg(n, 1, 'dim', 0)
        if len(ins) == 1:
            return _node_line(nm, 'identity', ins, False)  # DenseNet's torch.cat([x], 1)
        if dim in (1, -len(shape_out) + 1) and len(shape_out) in (2, 4):
            return _node_line(nm, 'concat', ins, False)
        return None
    if _is_op(n, 'flatten', modules) and len(shape_out) == 2 and len(ins) == 1:
        return _node_line(nm, 'flatten', ins, False)
    if len(shape_in) == 4 and len(shape_out) == 4 and tuple(shape_out[2:]) == (1, 1) and \
            n.op == 'call_function' and n.target in (F.avg_pool2d, F.adaptive_avg_pool2d):
        if n.target is F.avg_pool2d:  # only a kernel covering the whole input is a global pool
            k = _pair(_arg(n, 1, 'kernel_size'))
            if (k[0], k[1]) != tuple(shape_in[2:]):
                return None
        return _node_line(nm, 'global_avgpool', ins, False)
    return None


def _is_spatial_mean(n):
    is_mean = (n.op == 'call_method' and n.target == 'mean') or (n.op == 'call_function' and n.target is torch.mean)
    if not is_mean:
        return False
    dims = _arg(n, 1, 'dim')
    dims = tuple(dims) if isinstance(dims, (list, tuple)) else (dims,)
    return sorted(d % 4 for d in dims if isinstance(d, int)) == [2, 3]


class FxGraph:
    """An eatsim graph derived from a model's torch.fx trace: the graph text, the GraphModule, and
    which fx node holds each graph node's output (with the shape the graph gives it)."""

    def __init__(self, text, gm, bindings):
        self.text, self.gm, self.bindings = text, gm, bindings

    def values(self, inputs, forward_batch=0):
        """Runs the traced model (eval mode) on `inputs`: {graph node name or 'input': numpy array}."""
        n = inputs.shape[0]
        if 0 < forward_batch < n:
            parts = [self.values(inputs[s:s + forward_batch]) for s in range(0, n, forward_batch)]
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        rec = _Recorder(self.gm)
        with torch.no_grad():
            try:
                rec.run(torch.as_tensor(inputs))
            except RuntimeError as e:
                raise Torch2TraceError(f"the forward pass failed on inputs of shape {tuple(inputs.shape)}: "
                                       f"{str(e).splitlines()[0]}")
        by_name = {k.name: v for k, v in rec.values.items()}
        out = {'input': np.asarray(inputs)}
        for name, (fxname, shape) in self.bindings.items():
            out[name] = by_name[fxname].cpu().numpy().reshape((n,) + tuple(shape))
        return out


def fx_graph(model, example_input, name='model'):
    """Derives an eatsim graph (resolved, width 1) from the model's torch.fx trace. Module nodes are
    named by module path; a parameter-free module called more than once (torchvision's ResNet calls
    one ReLU three times per block) becomes one node per call: PATH, PATH.call2, PATH.call3, ...
    Functional calls are named by fx. Raises Torch2TraceError naming every operation the graph format
    cannot express, or what torch.fx could not trace and where."""
    model = model.eval()
    try:
        gm = fx.GraphModule(model, _Tracer().trace(model))
    except Exception as e:  # noqa: BLE001 - any tracing failure means the model is not traceable
        where = ''
        tb = e.__traceback__
        while tb is not None:  # the innermost frame in the model's own code
            if 'torch/fx' not in tb.tb_frame.f_code.co_filename and 'torch/nn' not in tb.tb_frame.f_code.co_filename:
                where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno} ({tb.tb_frame.f_code.co_name})"
            tb = tb.tb_next
        raise Torch2TraceError(f"torch.fx cannot trace the model: {type(e).__name__}: {str(e).splitlines()[0]}{where} "
                               f"(data-dependent control flow or shape arithmetic; rewrite that part with traceable "
                               f"ops, or give the graph with --graph)")
    modules = dict(gm.named_modules())
    rec = _Recorder(gm)
    x = torch.as_tensor(example_input)
    if x.ndim != 4:
        raise Torch2TraceError(f"fx_graph needs [N, C, H, W] inputs, got {tuple(x.shape)}")
    with torch.no_grad():
        rec.run(x)
    names, lines, output, bindings = {}, [], None, {}
    taken, calls, unsupported = set(), {}, []
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
        for a in n.args:  # torch.cat([a, b, ...], 1)
            if isinstance(a, (list, tuple)):
                targs += [b for b in a if isinstance(b, fx.Node) and b in rec.values]
        ins = [names.get(a, '?') for a in targs]
        shape_in = tuple(rec.values[targs[0]].shape) if targs else ()
        shape_out = tuple(rec.values[n].shape)
        if n.op == 'call_module':
            m = modules[n.target]
            calls[n.target] = calls.get(n.target, 0) + 1
            nm = n.target if calls[n.target] == 1 else f'{n.target}.call{calls[n.target]}'
            line = _module_line(nm, m, ins, shape_in, shape_out)
            what = type(m).__name__
            if calls[n.target] > 1 and any(True for _ in m.parameters()):
                unsupported.append(f"'{nm}' ({what} called again: its parameters cannot be shared by two graph nodes)")
                line = None
        elif _is_spatial_mean(n) and len(shape_in) == 4:
            # x.mean([2, 3]): a global average pool, then (without keepdim) a flatten
            nm = re.sub(r'[^A-Za-z0-9_.-]', '_', n.name)
            what = 'mean'
            if len(shape_out) == 4:
                line = _node_line(nm, 'global_avgpool', ins, False)
            else:
                lines.append(_node_line(nm + '.pool', 'global_avgpool', ins, False))
                bindings[nm + '.pool'] = (n.name, (shape_out[1], 1, 1))
                taken.add(nm + '.pool')
                line = _node_line(nm, 'flatten', [nm + '.pool'], False)
        else:
            nm = re.sub(r'[^A-Za-z0-9_.-]', '_', n.name)
            line = _function_line(nm, n, ins, shape_in, shape_out, modules)
            what = getattr(n.target, '__name__', str(n.target))
            if line is None:
                unsupported.append(f"'{nm}' ({what})")
        if line is None and not (unsupported and unsupported[-1].startswith(f"'{nm}'")):
            unsupported.append(f"'{nm}' ({what})")
        if nm in taken or nm == 'input':
            raise Torch2TraceError(f"two graph nodes would be called '{nm}'")
        taken.add(nm)
        names[n] = nm
        if line is not None:
            lines.append(line)
            bindings[nm] = (n.name, shape_out[1:])
    if unsupported:
        raise Torch2TraceError(f"{len(unsupported)} operation(s) have no eatsim graph op: " + ', '.join(unsupported) +
                               " (supported: Conv2d incl. groups/dilation, BatchNorm2d, ReLU, ReLU6, Hardtanh, Sigmoid, "
                               "SiLU, Hardswish, Hardsigmoid, LeakyReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), "
                               "Linear, Flatten, Dropout, Identity; +, * (same shape or a (C, 1, 1) scale), "
                               "torch.cat on channels, flatten/view)")
    if output is None:
        raise Torch2TraceError("the model's output is not a tensor the graph can name")
    out_shape = tuple(rec.values[next(k for k, v in names.items() if v == output)].shape)
    classes = out_shape[-1] if len(out_shape) == 2 else 1
    size = str(x.shape[2]) if x.shape[2] == x.shape[3] else f'[{x.shape[2]}, {x.shape[3]}]'
    head = [f'name: {name}',
            f'params: {{width: 1, in_channels: {x.shape[1]}, input_size: {size}, classes: {classes}}}',
            f'output: {output}', 'nodes:']
    return FxGraph('\n'.join(head + lines) + '\n', gm, bindings)


def graph_from_fx(model, example_input, name='model'):
    """The graph text of fx_graph (kept for library users)."""
    return fx_graph(model, example_input, name).text
