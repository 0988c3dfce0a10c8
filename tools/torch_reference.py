#!/usr/bin/env python3
"""PyTorch reference for `sgdlab bench`: the same models on the same USPS data and split
sizes, batch 32, each epoch followed by the validation pass: mlp, lcnn and cnn with SGD
and momentum, cnn-bn (data/models/cnn-bn.json: batch norm after each conv and the hidden
dense layer, ReLU there) with AdamW.

Modes, each timed over --epochs epochs after --warmup epochs:
  eager    one model (T = 1), plain PyTorch
  graph    one model, the training step captured once as a CUDA graph (GPU only)
  fused    T models fused as HFTA does: grouped convolutions (groups = T), batched
           matmuls and a lane-batched unfold for the locally connected layers, each lane
           with its own minibatches; the step is a CUDA graph on a GPU, eager on a CPU

    python3 tools/torch_reference.py --data DIR [--models mlp,lcnn,cnn] [--lanes 1,8,32,128]
                                     [--epochs 3] [--tf32] [--json F]

Prints trial-epochs per second (lanes x epochs / seconds) per model, mode and pack size.
"""
import argparse
import gzip
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F


def load(path):
    rows = [list(map(float, line.split())) for line in gzip.open(path, "rt") if line.strip()]
    t = torch.tensor(rows)
    return t[:, 1:].reshape(-1, 1, 16, 16).contiguous(), t[:, 0].long()


def xavier(shape, fan_in, fan_out, gen):
    bound = (6.0 / (fan_in + fan_out)) ** 0.5
    return (torch.rand(shape, generator=gen) * 2 - 1) * bound


class Fused(torch.nn.Module):
    """T models of one architecture as one module: activations [B, T*C, H, W] (sgdlab's
    layout), conv weights [T*Cout, Cin, k, k] with groups = T, dense weights [T, in, out]."""

    def __init__(self, name, T, dropout, gen):
        super().__init__()
        self.name, self.T, self.dropout = name, T, dropout
        P = torch.nn.Parameter
        if name in ("cnn", "cnn-bn"):
            self.c1 = P(xavier((T * 32, 1, 3, 3), 9, 32 * 9, gen))
            self.c1b = P(torch.zeros(T * 32))
            self.c2 = P(xavier((T * 64, 32, 3, 3), 32 * 9, 64 * 9, gen))
            self.c2b = P(torch.zeros(T * 64))
            dense = [(1024, 128), (128, 10)]
        elif name == "lcnn":
            # Locally connected: weights [T, L, Cout, Cin*k*k] as in sgdlab.
            self.l1 = P(xavier((T, 14 * 14, 8, 9), 9, 8 * 9, gen))
            self.l1b = P(torch.zeros(T, 14 * 14, 8))
            self.l2 = P(xavier((T, 6 * 6, 16, 72), 72, 16 * 9, gen))
            self.l2b = P(torch.zeros(T, 6 * 6, 16))
            dense = [(144, 128), (128, 10)]
        else:
            dense = [(256, 128), (128, 64), (64, 32), (32, 10)]
        # Batch norm per lane and channel (or feature): T * C of them, each lane its own.
        self.bn = torch.nn.ParameterList()
        if name == "cnn-bn":
            for c in (32, 64, 128):
                self.bn.append(P(torch.ones(T * c)))
                self.bn.append(P(torch.zeros(T * c)))
                self.register_buffer("mean%d" % c, torch.zeros(T * c))
                self.register_buffer("var%d" % c, torch.ones(T * c))
        self.w = torch.nn.ParameterList([P(xavier((T, i, o), i, o, gen)) for i, o in dense])
        self.b = torch.nn.ParameterList([P(torch.zeros(T, 1, o)) for _, o in dense])

    def local(self, x, w, b, cin, k, stride, out):
        B = x.shape[0]
        p = F.unfold(x, k, stride=stride).reshape(B, self.T, cin * k * k, out * out)
        y = torch.einsum("btql,tlcq->btcl", p, w) + b.permute(0, 2, 1)
        return y.reshape(B, -1, out, out)

    def norm(self, x, i, c):
        """Batch norm of x [B, T*c, ...]: the i-th of the network's three."""
        return F.batch_norm(x, getattr(self, "mean%d" % c), getattr(self, "var%d" % c),
                            self.bn[2 * i], self.bn[2 * i + 1], self.training)

    def drop(self, x):
        return F.dropout(x, self.dropout, self.training)

    def forward(self, x):  # x: [B, T, 1, 16, 16] -> logits [T, B, 10]
        B, T = x.shape[0], self.T
        x = x.reshape(B, T, 16, 16)
        if self.name == "cnn":
            x = F.max_pool2d(F.relu(F.conv2d(x, self.c1, self.c1b, padding=1, groups=T)), 2)
            x = F.max_pool2d(F.relu(F.conv2d(x, self.c2, self.c2b, padding=1, groups=T)), 2)
        elif self.name == "cnn-bn":
            x = F.max_pool2d(F.relu(self.norm(F.conv2d(x, self.c1, self.c1b, padding=1, groups=T), 0, 32)), 2)
            x = F.max_pool2d(F.relu(self.norm(F.conv2d(x, self.c2, self.c2b, padding=1, groups=T), 1, 64)), 2)
            h = x.reshape(B, T, -1).transpose(0, 1)
            h = torch.baddbmm(self.b[0], h, self.w[0])  # [T, B, 128]
            h = self.norm(h.transpose(0, 1).reshape(B, T * 128), 2, 128).reshape(B, T, 128)
            h = self.drop(F.relu(h.transpose(0, 1)))
            return torch.baddbmm(self.b[1], h, self.w[1])
        elif self.name == "lcnn":
            x = F.relu(self.local(x, self.l1, self.l1b, 1, 3, 1, 14))
            x = F.max_pool2d(F.relu(self.local(x, self.l2, self.l2b, 8, 3, 2, 6)), 2)
        h = x.reshape(B, T, -1).transpose(0, 1)  # [T, B, features]
        acts = {"cnn": [torch.tanh], "lcnn": [torch.tanh], "mlp": [F.relu, torch.sigmoid, F.relu]}[self.name]
        for i, act in enumerate(acts):
            h = self.drop(act(torch.baddbmm(self.b[i], h, self.w[i])))
        return torch.baddbmm(self.b[-1], h, self.w[-1])


def lane_loss(logits, y):
    """Sum over lanes of each lane's mean cross-entropy: every lane's gradient is that of
    its own model trained alone."""
    T, B, C = logits.shape
    return F.cross_entropy(logits.reshape(T * B, C), y.reshape(T * B), reduction="sum") / B


def time_mode(name, mode, T, data, dev, a):
    tx, ty, vx, vy = data
    gen = torch.Generator().manual_seed(1)
    net = Fused(name, T, 0.3, gen).to(dev)
    if name == "cnn-bn":  # sgdlab bench --optimizer adamw: lr 0.001, PyTorch's other defaults
        opt = torch.optim.AdamW(net.parameters(), lr=0.001)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=0.05 if name == "mlp" else 0.01, momentum=0.9)
    B = a.batch
    n = tx.shape[0]
    sx = torch.zeros(B, T, 1, 16, 16, device=dev)
    sy = torch.zeros(T, B, dtype=torch.long, device=dev)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = lane_loss(net(sx), sy)
        loss.backward()
        opt.step()

    run = step
    if mode in ("graph", "fused") and dev.type == "cuda":
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
    seconds, accs = [], []
    for _ in range(a.warmup + a.epochs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        # Each lane its own shuffle, every sample once per epoch (the last step shorter in
        # sgdlab; here the graph needs one shape, so the remainder is dropped).
        perm = torch.argsort(torch.rand(T, n, device=dev), dim=1)
        net.train()
        for i in range(0, n - B + 1, B):
            idx = perm[:, i:i + B]  # [T, B]
            sx.copy_(tx[idx.t()])
            sy.copy_(ty[idx])
            run()
        net.eval()
        correct = torch.zeros(T, device=dev)
        with torch.no_grad():
            for i in range(0, vx.shape[0], 256):
                chunk = vx[i:i + 256]
                logits = net(chunk.unsqueeze(1).expand(-1, T, -1, -1, -1))
                correct += (logits.argmax(2) == vy[i:i + 256]).float().sum(1)
        accs = (correct / vx.shape[0]).tolist()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
    timed = seconds[a.warmup:]
    return {"model": name, "mode": mode, "lanes": T, "tf32": a.tf32, "epoch_seconds": statistics.median(timed),
            "epoch_seconds_all": timed, "trial_epochs_per_s": T * len(timed) / sum(timed),
            "val_acc_mean": sum(accs) / len(accs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SGDLAB_DATA", "data/usps"))
    ap.add_argument("--models", default="mlp,lcnn,cnn")
    ap.add_argument("--lanes", default=None, help="pack sizes of the fused mode (default: 1,8,32,128 on a "
                    "GPU, 1,8 on a CPU)")
    ap.add_argument("--modes", default="eager,graph,fused")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs")
    ap.add_argument("--warmup", type=int, default=1, help="untimed epochs first")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tf32", action="store_true", help="TF32 tensor cores for matmuls and convolutions")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (default: all cores)")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.epochs < 1 or a.warmup < 0:
        ap.error("--epochs must be >= 1 and --warmup >= 0")
    torch.set_num_threads(a.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = a.tf32  # PyTorch's default is on; FP32 unless asked
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    lanes = [int(s) for s in (a.lanes or ("1,8,32,128" if dev.type == "cuda" else "1,8")).split(",")]
    x, y = load(os.path.join(a.data, "zip.train.gz"))
    # The split sizes of sgdlab (20% validation); which samples does not matter for timing.
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    nval = round(0.2 * x.shape[0])
    data = (x[perm[nval:]].to(dev), y[perm[nval:]].to(dev), x[perm[:nval]].to(dev), y[perm[:nval]].to(dev))
    name = torch.cuda.get_device_name() if dev.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"PyTorch {torch.__version__} on {name}, batch {a.batch}, {a.epochs} timed epochs after {a.warmup}, "
          f"{'TF32' if a.tf32 else 'FP32'}")
    print(f"{'model':<7}{'mode':<8}{'lanes':>6}{'epoch s':>11}{'trial-epochs/s':>16}{'val acc':>9}")
    rows = []
    modes = a.modes.split(",")
    for m in a.models.split(","):
        plan = [(mode, 1) for mode in ("eager", "graph") if mode in modes]
        plan += [("fused", T) for T in lanes if "fused" in modes]
        for mode, T in plan:
            if mode == "graph" and dev.type != "cuda":
                continue
            try:
                r = time_mode(m, mode, T, data, dev, a)
            except Exception as e:  # one mode that fails (memory, capture) must not lose the rest
                print(f"{m:<7}{mode:<8}{T:>6}  failed: {type(e).__name__}: {e}", flush=True)
                rows.append({"model": m, "mode": mode, "lanes": T, "error": f"{type(e).__name__}: {e}"})
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            print(f"{m:<7}{mode:<8}{T:>6}{r['epoch_seconds']:>11.4f}{r['trial_epochs_per_s']:>16.1f}"
                  f"{100 * r['val_acc_mean']:>8.2f}%", flush=True)
            rows.append(r)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch": torch.__version__, "device": name, "batch": a.batch, "tf32": a.tf32,
                       "graph_on": dev.type == "cuda", "runs": rows}, f, indent=2)


if __name__ == "__main__":
    main()
