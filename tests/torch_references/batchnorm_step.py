#!/usr/bin/env python3
"""One SGD step of a small network with BatchNorm2d and BatchNorm1d in PyTorch, whose
figures tests/batchnorm_test.cpp (BatchNorm.OneTrainingStepIsPyTorchs) holds.

The inputs, labels and initial tensors come from formulas both sides compute; the test
compares the training loss, each tensor's change under two projections and the running
statistics. Run with Debian's torch (1.13): /usr/bin/python3 tests/torch_references/batchnorm_step.py
"""
import math
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)


def values(n, phase):
    """n floats 0.5 * sin(1.3 * i + phase), the initial tensors (PyTorch's layout)."""
    return torch.tensor([0.5 * math.sin(1.3 * i + phase) for i in range(n)], dtype=torch.float32)


def model():
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(2, 3, 2)), ("bn1", nn.BatchNorm2d(3)), ("relu1", nn.ReLU()),
        ("flatten", nn.Flatten()), ("dense1", nn.Linear(12, 4)),
        ("bn2", nn.BatchNorm1d(4, momentum=0.3)), ("tanh1", nn.Tanh()),
        ("dense2", nn.Linear(4, 3))]))


def main():
    net = model()
    state = net.state_dict()
    trained = [name for name, _ in net.named_parameters()]
    with torch.no_grad():
        for phase, name in enumerate(trained):
            p = dict(net.named_parameters())[name]
            p.copy_(values(p.numel(), phase).reshape(p.shape))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    # Six 2x3x3 images: x[k] = sin(0.7 k + 0.3) over the flat [6, 18]; labels 0, 1, 2, ...
    x = torch.tensor([math.sin(0.7 * k + 0.3) for k in range(6 * 18)]).reshape(6, 2, 3, 3)
    y = torch.tensor([k % 3 for k in range(6)])
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    print("loss %.9g" % loss.item())
    after = net.state_dict()
    for name in trained:
        delta = (after[name] - before[name]).flatten().double()
        w = torch.tensor([math.cos(0.37 * i) for i in range(delta.numel())], dtype=torch.float64)
        print("%s %.9g %.9g" % (name, float((delta * w).sum()), float(delta.abs().sum())))
    for name in ("bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var",
                 "bn1.num_batches_tracked"):
        print(name, " ".join("%.9g" % float(v) for v in after[name].flatten()))


if __name__ == "__main__":
    main()
