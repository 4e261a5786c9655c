"""Test helper: a small net outside models/ for torch2trace --model-py (graph derived from torch.fx),
and one with ops the eatsim graph format cannot express."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.b1 = nn.BatchNorm2d(4)
        self.p = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = self.p(F.relu(self.b1(self.c1(x))))
        y = F.relu(self.c2(y))
        return self.fc(self.drop(self.gap(y).flatten(1)))


class Bad(nn.Module):  # tanh, a transpose and a cat along the height have no graph op
    def forward(self, x):
        y = torch.tanh(torch.cat([x, x], 1))
        return torch.cat([y, y.transpose(2, 3)], 2)


def make():
    torch.manual_seed(3)
    return Net()


def make_bad():
    return Bad()


if __name__ == '__main__':  # writes the state_dicts and inputs the test uses: custom_net.py DIR
    import sys
    import numpy as np
    torch.save(make().state_dict(), sys.argv[1] + '/net.pt')
    torch.save({}, sys.argv[1] + '/empty.pt')
    np.save(sys.argv[1] + '/x.npy', np.random.default_rng(2).standard_normal((2, 1, 8, 8)).astype(np.float32))
