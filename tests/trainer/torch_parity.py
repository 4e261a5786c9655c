#!/usr/bin/env python3
"""PyTorch parity for the eatsim trainer (run by tests/trainer/test_torch_parity.cpp).

Defines the kuangliu-style CIFAR ResNet18 and VGG16-BN at a width multiplier (and torchvision's
MobileNetV2 with eatsim's CIFAR strides, full width), loads the weights the
C++ test saved (a checkpoint directory of .npy files named by state_dict keys), runs the same batch,
and compares with what the C++ trainer wrote:
  eval-mode logits (relative 1e-4); then, per training step (one per --step penalty setting, no
  weight update in between), CE, EAT penalty and loss (relative 1e-4) and every weight gradient
  against the same step in float64 (within 1e-3, or within 10x PyTorch's own float32 error there);
  BN running statistics after the steps (relative 1e-4).
Relative error = max|a - b| / max|b|. Exit 0 when all agree, 1 on a mismatch, 3 without torch.

The penalty is computed either like the public reference code (forward hooks on every leaf module,
an empty nn.Sequential shortcut included: --select reference) or on named node outputs listed in
DIR/penalised.txt (--select names). ReLUs are not in-place here: with in-place ReLUs a hook's
saved BN output would be overwritten before backward (autograd refuses); the values are the same.
"""
import argparse
import copy
import math
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"torch_parity.py: cannot import {e.name} with {sys.executable} (install python3-torch and python3-numpy)")
    sys.exit(3)

REC = {}  # node name -> output tensor, names as in models/*.yaml


def R(name, t):
    REC[name] = t
    return t


def ch(c, width):  # models/graph_parse.cpp: max(1, llround(c * width))
    return max(1, int(math.floor(c * width + 0.5)))


class BasicBlock(nn.Module):
    def __init__(self, inp, planes, stride, prefix):
        super().__init__()
        self.prefix = prefix
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or inp != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        p = self.prefix
        out = R(p + "relu1", F.relu(R(p + "bn1", self.bn1(R(p + "conv1", self.conv1(x))))))
        out = R(p + "bn2", self.bn2(R(p + "conv2", self.conv2(out))))
        if len(self.shortcut) == 0:
            sc = R(p + "shortcut", self.shortcut(x))
        else:
            sc = R(p + "shortcut.1", self.shortcut[1](R(p + "shortcut.0", self.shortcut[0](x))))
        out = R(p + "add", out + sc)  # kuangliu writes `out += ...`; not in place so hooks keep bn2's output
        return R(p + "relu2", F.relu(out))


class ResNet18(nn.Module):
    def __init__(self, width, in_channels, classes):
        super().__init__()
        c = [ch(v, width) for v in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(in_channels, c[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        inp = c[0]
        for i, (planes, stride) in enumerate(zip(c, (1, 2, 2, 2))):
            blocks = []
            for j, s in enumerate((stride, 1)):
                blocks.append(BasicBlock(inp, planes, s, f"layer{i + 1}.{j}."))
                inp = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(inp, classes)

    def forward(self, x):
        out = R("relu1", F.relu(R("bn1", self.bn1(R("conv1", self.conv1(x))))))
        for i in range(1, 5):
            out = getattr(self, f"layer{i}")(out)
        out = R("pool", F.avg_pool2d(out, out.shape[-1]))
        out = R("flatten", out.view(out.size(0), -1))
        return R("linear", self.linear(out))


class VGG16(nn.Module):
    CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

    def __init__(self, width, in_channels, classes):
        super().__init__()
        layers, inp = [], in_channels
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(inp, ch(v, width), 3, padding=1), nn.BatchNorm2d(ch(v, width)), nn.ReLU()]
                inp = ch(v, width)
        layers.append(nn.AvgPool2d(1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(inp, classes)

    def forward(self, x):
        for i, m in enumerate(self.features):
            x = R(f"features.{i}", m(x))
        x = R("flatten", x.view(x.size(0), -1))
        return R("classifier", self.classifier(x))


def mobilenetv2(width, in_channels, classes):
    """torchvision's MobileNetV2 with models/mobilenetv2.yaml's CIFAR strides (stem and the first
    24-channel stage at stride 1) and no dropout (a random mask cannot match); node outputs are
    recorded by module name with forward hooks. Full width only: torchvision rounds channel counts
    to multiples of 8, eatsim to the nearest integer."""
    import torchvision
    if width != 1.0:
        raise SystemExit("mobilenetv2 parity runs at width 1 (torchvision and eatsim round widths differently)")
    m = torchvision.models.mobilenet_v2(num_classes=classes)
    m.features[0][0] = nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False)
    m.features[2].conv[1][0].stride = (1, 1)
    m.classifier[0].p = 0.0
    for mod in m.modules():
        if isinstance(mod, nn.ReLU6):
            mod.inplace = False
    for name, mod in m.named_modules():
        if len(list(mod.children())) == 0:
            mod.register_forward_hook(lambda mod, inp, out, name=name: R(name, out))
    return m


def torchvision_net(arch):
    """A torchvision architecture ("tv:NAME") as tools/torch2trace.py builds it, with dropout off and
    node outputs recorded by module name (the graph came from tools/fxgraph.py)."""
    def build(width, in_channels, classes):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
        import torch2trace
        m = torch2trace.torchvision_model(arch, classes)
        for name, mod in m.named_modules():
            if isinstance(mod, nn.Dropout) or type(mod).__name__ == "StochasticDepth":
                mod.p = 0.0  # random in training: off on both sides (eatsim's graph has them as identities)
            if len(list(mod.children())) == 0:
                mod.register_forward_hook(lambda mod, inp, out, name=name: R(name, out))
        return m
    return build


def rel(a, b, floor=1e-12):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="resnet18 | vgg16 | mobilenetv2 | tv:NAME (torchvision)")
    ap.add_argument("--width", type=float, required=True)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--step", action="append", required=True,
                    help="SELECT:NORM:LAMBDA:SIGMA, one per training step in order; SELECT is reference (hooks) "
                    "or names (DIR/K/penalised.txt for step K)")
    a = ap.parse_args()
    torch.manual_seed(0)
    d = a.dir
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
    y = torch.from_numpy(np.load(os.path.join(d, "y.npy")))
    builders = {"resnet18": ResNet18, "vgg16": VGG16, "mobilenetv2": mobilenetv2}
    build = torchvision_net(a.model[3:]) if a.model.startswith("tv:") else builders[a.model]
    model = build(a.width, x.shape[1], a.classes)
    keys = list(model.state_dict().keys())
    state = {k: torch.from_numpy(np.load(os.path.join(d, "ckpt", k + ".npy"))) for k in keys}
    model.load_state_dict(state, strict=True)
    failures = []

    def check(what, err, tol):
        ok = err <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {what}: relative error {err:.3g} (tolerance {tol:g})")
        if not ok:
            failures.append(what)

    model.eval()
    with torch.no_grad():
        z = model(x)
    check("eval logits", rel(np.load(os.path.join(d, "cxx", "logits_eval.npy")), z.numpy()), 1e-4)

    # The same steps in float64 give the reference gradients: a gradient counts as matching when
    # eatsim's float32 error against it is within 1e-3, or within 10x PyTorch's own float32 error
    # where that is larger. Deep networks with batch statistics can be ill-conditioned (MobileNetV2
    # with random BN parameters: PyTorch float32 is 10 % off float64 on some expand-conv gradients).
    model64 = copy.deepcopy(model).double()
    hooked = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: hooked.append(out))
             for mm in (model, model64) for m in mm.modules() if len(list(m.children())) == 0]
    grads = dict(model.named_parameters())
    grads64 = dict(model64.named_parameters())

    def step(m, xx, select, norm, lam, sigma, sd):
        m.train()
        m.zero_grad()
        REC.clear()
        hooked.clear()
        z = m(xx)
        acts = hooked if select == "reference" else [REC[n] for n in open(os.path.join(sd, "penalised.txt")).read().split()]
        ce = F.cross_entropy(z, y)
        sums = [(t * t / (t * t + sigma)).sum() for t in acts]
        if norm == "layer-mean":
            pen = sum(s / t.numel() for s, t in zip(sums, acts)) / len(acts)
        else:
            pen = sum(sums) / sum(t.numel() for t in acts)
        loss = ce + lam * pen
        loss.backward()
        return ce, pen, loss, len(acts)

    for k, spec in enumerate(a.step):
        select, norm, lam, sigma = spec.split(":")
        lam, sigma = float(lam), float(sigma)
        sd = os.path.join(d, "cxx", str(k))
        step(model64, x.double(), select, norm, lam, sigma, sd)
        ce, pen, loss, n = step(model, x, select, norm, lam, sigma, sd)
        print(f"step {k} ({spec}): {n} penalised outputs; torch: ce {ce.item():.7g} penalty {pen.item():.7g} "
              f"loss {loss.item():.7g}")
        got = dict(l.split() for l in open(os.path.join(sd, "loss.txt")).read().strip().splitlines())
        check(f"step {k} cross-entropy", rel(float(got["ce"]), ce.item()), 1e-4)
        check(f"step {k} penalty", rel(float(got["penalty"]), pen.item()), 1e-4)
        check(f"step {k} loss", rel(float(got["loss"]), loss.item()), 1e-4)
        worst = ("", 0.0)
        for key, p in grads.items():
            # A conv bias right before a training-mode BN has an exact gradient of 0 (BN removes any
            # shift), as has a BN bias whose every path meets a 1x1 conv and a training-mode BN:
            # both sides hold round-off, so measure it against the layer's weight gradient.
            w = key[: -len("bias")] + "weight"
            ref = grads64[key].grad.numpy()
            floor = float(np.abs(grads64[w].grad.numpy()).max()) if key.endswith(".bias") and w in grads else 1e-12
            e = rel(np.load(os.path.join(sd, "grad", key + ".npy")), ref, floor)
            e32 = rel(p.grad.numpy(), ref, floor)
            tol = max(1e-3, 10 * e32)
            if e > tol:
                check(f"step {k} gradient {key} (PyTorch float32 is {e32:.3g} off float64)", e, tol)
            if e / tol > worst[1]:
                worst = (key, e / tol)
        check(f"step {k} every weight gradient (worst {worst[0]}, error/tolerance)", worst[1], 1.0)
    for h in hooks:
        h.remove()
    worst = ("", 0.0)
    after = model.state_dict()
    for k in keys:
        if k.endswith("num_batches_tracked"):
            if int(np.load(os.path.join(d, "after", k + ".npy"))) != int(after[k]):
                check(f"{k} equal", float("inf"), 0)
        elif k.endswith("running_mean") or k.endswith("running_var"):
            # A mean is measured on the scale of its channels' spread: an input with exact zero
            # batch means (a 1x1 conv of BN outputs with zero shift) leaves 1e-8 round-off there.
            spread = math.sqrt(float(after[k[: -len("mean")] + "var"].max())) if k.endswith("mean") else 1e-12
            e = rel(np.load(os.path.join(d, "after", k + ".npy")), after[k].numpy(), spread)
            if e > worst[1]:
                worst = (k, e)
    check(f"BN running statistics after the steps (worst {worst[0]})", worst[1], 1e-4)
    if failures:
        print(f"{len(failures)} mismatch(es): " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
