"""Kuangliu-style (pytorch-cifar) ResNet18 and VGG16-BN at any width, matching models/resnet18.yaml and
models/vgg16.yaml: same module names (state_dict keys), same module/functional split, channel counts
scaled like eatsim's graphs (round(c * width), at least 1). Needs torch only.

    from kuangliu_models import build
    net = build("resnet18", width=0.25, in_channels=1, input_size=32, classes=10)
"""
import math

import torch.nn as nn
import torch.nn.functional as F


def scaled(c, width):
    """eatsim's channel rule: llround(c * width), at least 1 (round half away from zero)."""
    return max(1, int(math.floor(c * width + 0.5)))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()  # empty: an identity the original estimator still hooks
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class ResNet18(nn.Module):
    def __init__(self, width=1.0, in_channels=3, classes=10, input_size=32):
        super().__init__()
        c = [scaled(p, width) for p in (64, 128, 256, 512)]
        self.pool = input_size
        for _ in range(3):  # layer2..4 halve the size (3x3, stride 2, pad 1)
            self.pool = (self.pool - 1) // 2 + 1
        self.in_planes = c[0]
        self.conv1 = nn.Conv2d(in_channels, c[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.layer1 = self._make_layer(c[0], 1)
        self.layer2 = self._make_layer(c[1], 2)
        self.layer3 = self._make_layer(c[2], 2)
        self.layer4 = self._make_layer(c[3], 2)
        self.linear = nn.Linear(c[3], classes)

    def _make_layer(self, planes, stride):
        layers = []
        for s in (stride, 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, self.pool)  # kuangliu: F.avg_pool2d(out, 4) for 32x32 inputs
        out = out.view(out.size(0), -1)
        return self.linear(out)


VGG16_CFG = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']


class VGG16(nn.Module):
    def __init__(self, width=1.0, in_channels=3, classes=10, input_size=32):
        super().__init__()
        layers, c, s = [], in_channels, input_size
        for v in VGG16_CFG:
            if v == 'M':
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                s //= 2
            else:
                v = scaled(v, width)
                layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        layers.append(nn.AvgPool2d(kernel_size=1, stride=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * s * s, classes)

    def forward(self, x):
        out = self.features(x)
        out = out.view(out.size(0), -1)
        return self.classifier(out)


def build(arch, width=1.0, in_channels=3, input_size=32, classes=10):
    if arch == 'resnet18':
        return ResNet18(width, in_channels, classes, input_size)
    if arch == 'vgg16':
        return VGG16(width, in_channels, classes, input_size)
    raise ValueError(f"unknown arch '{arch}' (resnet18 or vgg16)")
