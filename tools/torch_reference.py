#!/usr/bin/env python3
"""PyTorch reference for `sgdlab bench`: the same three models on the same USPS data,
one run (T = 1), batch 32, SGD with momentum; prints median epoch seconds, eager and
with the training step captured as a CUDA graph (on a GPU).

    python3 tools/torch_reference.py --data DIR [--models mlp,lcnn,cnn] [--epochs 4] [--json F]
"""
import argparse
import gzip
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def load(path):
    rows = [list(map(float, line.split())) for line in gzip.open(path, "rt") if line.strip()]
    t = torch.tensor(rows)
    return t[:, 1:].reshape(-1, 1, 16, 16).contiguous(), t[:, 0].long()


class Local2d(nn.Module):
    """Unshared-weight 3x3 layer via unfold, weights [L, Cout, Cin*k*k] as in sgdlab."""

    def __init__(self, cin, cout, size, k, stride):
        super().__init__()
        self.k, self.stride, self.out = k, stride, (size - k) // stride + 1
        L = self.out * self.out
        bound = (6 / (cin * k * k + cout * k * k)) ** 0.5
        self.weight = nn.Parameter(torch.empty(L, cout, cin * k * k).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(L, cout))

    def forward(self, x):
        p = F.unfold(x, self.k, stride=self.stride)  # [B, Cin*k*k, L]
        y = torch.einsum("bql,lcq->bcl", p, self.weight) + self.bias.t()
        return y.reshape(x.shape[0], -1, self.out, self.out)


def model(name, dropout):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(256, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, 64),
                             nn.Sigmoid(), nn.Dropout(dropout), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(dropout),
                             nn.Linear(32, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 128), nn.Tanh(),
                             nn.Dropout(dropout), nn.Linear(128, 10))
    return nn.Sequential(Local2d(1, 8, 16, 3, 1), nn.ReLU(), Local2d(8, 16, 14, 3, 2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(144, 128), nn.Tanh(), nn.Dropout(dropout), nn.Linear(128, 10))


def xavier(net):
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


def time_epochs(name, x, y, vx, vy, dev, epochs, batch, graph):
    torch.manual_seed(1)
    net = model(name, 0.3).to(dev)
    xavier(net)
    lr = 0.05 if name == "mlp" else 0.01
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    n = x.shape[0] // batch * batch
    sx = torch.empty(batch, *x.shape[1:], device=dev)
    sy = torch.empty(batch, dtype=torch.long, device=dev)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(net(sx), sy)
        loss.backward()
        opt.step()
        return loss

    run = step
    if graph:
        sx.copy_(x[:batch]), sy.copy_(y[:batch])
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            step()
        run = g.replay
    seconds = []
    for _ in range(epochs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(x.shape[0], device=dev)
        net.train()
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            sx.copy_(x[idx])
            sy.copy_(y[idx])
            run()
        net.eval()
        with torch.no_grad():
            acc = (net(vx).argmax(1) == vy).float().mean().item()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds[1:]), acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SGDLAB_DATA", "data/usps"))
    ap.add_argument("--models", default="mlp,lcnn,cnn")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (default: all cores)")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x, y = load(os.path.join(a.data, "zip.train.gz"))
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(x.shape[0], generator=g)
    nval = round(0.2 * x.shape[0])
    vx, vy = x[perm[:nval]].to(dev), y[perm[:nval]].to(dev)
    tx, ty = x[perm[nval:]].to(dev), y[perm[nval:]].to(dev)
    name = torch.cuda.get_device_name() if dev.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"PyTorch {torch.__version__} on {name}, batch {a.batch}, median epoch of epochs 2..{a.epochs}")
    rows = []
    for m in a.models.split(","):
        for graph in ([False, True] if dev.type == "cuda" else [False]):
            s, acc = time_epochs(m, tx, ty, vx, vy, dev, a.epochs, a.batch, graph)
            mode = "cuda graph" if graph else "eager"
            print(f"{m:<5} {mode:<11} {s:9.4f} s/epoch   val {100 * acc:.2f}%")
            rows.append({"model": m, "mode": mode, "epoch_seconds": s, "val_acc": acc})
    if a.json:
        json.dump({"torch": torch.__version__, "device": name, "batch": a.batch, "runs": rows}, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
