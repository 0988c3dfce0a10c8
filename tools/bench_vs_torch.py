#!/usr/bin/env python3
"""Runs `sgdlab bench` and tools/torch_reference.py with the same workload on this
machine and prints them side by side: trial-epochs per second per model and pack size,
PyTorch eager, CUDA graph and fused packs, and the ratio to PyTorch's best; then the
targets of issue #6 for this kind of device, met or missed.

    tools/bench_vs_torch.py [--sgdlab build/sgdlab] [--lanes 1,8,32,128] [--tf32] [--out DIR]

Needs no PyTorch itself: it finds a Python that has it (--python to choose).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Issue #6. GPU: trial-epochs/s (pack = best over packs of at least `min_lanes`).
GPU_TARGETS = [("cnn", 32, 1000), ("lcnn", 32, 3000), ("mlp", 32, 15000), ("cnn", 1, 100)]
# CPU: seconds per epoch of one lane at batch 32.
CPU_TARGETS = {"cnn": 0.55, "lcnn": 0.3, "mlp": 0.05}


def python_with_torch(choice):
    for py in [choice] if choice else [sys.executable, "python3", "/usr/bin/python3"]:
        exe = shutil.which(py) or py
        if os.path.exists(exe) and subprocess.run([exe, "-c", "import torch"], capture_output=True).returncode == 0:
            return exe
    return None


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def table(ours, theirs):
    """Rows of (model, lanes, sgdlab, eager, graph, fused, ratio to PyTorch's best)."""
    torch_runs = theirs["runs"] if theirs else []

    def rate(model, mode, lanes):
        return next((r["trial_epochs_per_s"] for r in torch_runs if r["model"] == model and r["mode"] == mode
                     and r["lanes"] == lanes and "error" not in r), None)

    rows = []
    for r in ours["runs"]:
        m, T = r["model"], r["lanes"]
        eager, graph = (rate(m, "eager", 1), rate(m, "graph", 1)) if T == 1 else (None, None)
        fused = rate(m, "fused", T)
        best = max([v for v in (eager, graph, fused) if v] or [0])
        rows.append((m, T, r["trial_epochs_per_s"], eager, graph, fused,
                     r["trial_epochs_per_s"] / best if best else None))
    return rows


def fmt(v, digits=1):
    return "-" if v is None else f"{v:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sgdlab", default=os.path.join(ROOT, "build", "sgdlab"))
    ap.add_argument("--python", help="interpreter with PyTorch (default: the first that has it)")
    ap.add_argument("--data", default=os.environ.get("SGDLAB_DATA", os.path.join(ROOT, "data", "usps")))
    ap.add_argument("--models", default="mlp,lcnn,cnn,cnn-bn",
                    help="presets, and cnn-bn (data/models/cnn-bn.json, with AdamW on both sides)")
    ap.add_argument("--lanes", help="pack sizes (default: GPU 1,8,32,128; CPU 1,8)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tf32", action="store_true", help="TF32 in both")
    ap.add_argument("--autotune", action="store_true", help="sgdlab times cuDNN's algorithms "
                    "(PyTorch always runs with cudnn.benchmark)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch's CPU threads")
    ap.add_argument("--out", help="folder for sgdlab.json, torch.json and comparison.json")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="bench_vs_torch.")
    os.makedirs(out, exist_ok=True)

    # The presets train with SGD; cnn-bn (data/models/cnn-bn.json) with AdamW, a bench run
    # of its own whose rows are labelled cnn-bn.
    models = a.models.split(",")
    groups = [(",".join(m for m in models if m != "cnn-bn"), "sgd", "sgdlab.json")]
    if "cnn-bn" in models:
        groups.append((os.path.join(ROOT, "data", "models", "cnn-bn.json"), "adamw", "sgdlab-bn.json"))
    ours = None
    for names, optimizer, file in groups:
        if not names:
            continue
        cmd = [a.sgdlab, "bench", "--device", a.device, "--models", names, "--optimizer", optimizer,
               "--epochs", str(a.epochs), "--warmup", str(a.warmup), "--data", a.data,
               "--json", os.path.join(out, file)]
        cmd += ["--lanes", a.lanes] if a.lanes else []
        cmd += ["--tf32"] if a.tf32 else []
        cmd += ["--autotune"] if a.autotune else []
        run(cmd)
        got = json.load(open(os.path.join(out, file)))
        for r in got["runs"]:
            if r["model"].endswith("cnn-bn.json"):
                r["model"] = "cnn-bn"
        if ours is None:
            ours = got
        else:
            ours["runs"] += got["runs"]
    gpu = ours["device"].startswith("cuda")
    lanes = a.lanes or ",".join(sorted({str(r["lanes"]) for r in ours["runs"]}, key=int))

    theirs = None
    py = python_with_torch(a.python)
    if py:
        cmd = [py, os.path.join(ROOT, "tools", "torch_reference.py"), "--data", a.data, "--models", a.models,
               "--lanes", lanes, "--epochs", str(a.epochs), "--warmup", str(a.warmup), "--threads",
               str(a.threads), "--json", os.path.join(out, "torch.json")]
        cmd += ["--tf32"] if a.tf32 else []
        try:
            run(cmd)
            theirs = json.load(open(os.path.join(out, "torch.json")))
        except (subprocess.CalledProcessError, OSError, ValueError) as e:
            print(f"the PyTorch reference failed ({e}): sgdlab's figures only", file=sys.stderr)
    else:
        print("no Python with PyTorch found: sgdlab's figures only", file=sys.stderr)

    rows = table(ours, theirs)
    print(f"\nsgdlab on {ours['device']} vs PyTorch {theirs['torch'] + ' on ' + theirs['device'] if theirs else '-'}")
    print(f"batch {ours['batch']}, {a.epochs} timed epochs after {a.warmup}, trial-epochs per second "
          f"({'TF32' if a.tf32 else 'FP32'}{', autotuned' if a.autotune else ''}; PyTorch fused "
          f"{'with' if theirs and theirs.get('graph_on') else 'without'} a CUDA graph)")
    head = f"{'model':<7}{'lanes':>6}{'sgdlab':>11}{'eager':>10}{'graph':>10}{'fused':>10}{'sgdlab/best':>13}"
    print(head)
    for m, T, s, e, g, f, ratio in rows:
        print(f"{m:<7}{T:>6}{fmt(s):>11}{fmt(e):>10}{fmt(g):>10}{fmt(f):>10}"
              f"{(fmt(ratio, 2) + 'x') if ratio else '-':>13}")

    verdicts = []
    print("\ntargets (issue #6, " + ("GPU" if gpu else "CPU") + ")")
    if gpu:
        for m, min_lanes, want in GPU_TARGETS:
            got = max([r[2] for r in rows if r[0] == m and
                       (r[1] >= min_lanes if min_lanes > 1 else r[1] == 1)] or [0])
            what = f"{m} T{'>=' if min_lanes > 1 else '='}{min_lanes}"
            verdicts.append({"target": what, "want": want, "got": got, "met": got >= want})
            print(f"  {what:<12} >= {want:>7,} trial-epochs/s: {got:>10,.1f}  {'met' if got >= want else 'MISSED'}")
    else:
        for m, want in CPU_TARGETS.items():
            r = next((r for r in ours["runs"] if r["model"] == m and r["lanes"] == 1), None)
            if not r:
                continue
            got = r["epoch_seconds"]
            verdicts.append({"target": f"{m} T=1 epoch s", "want": want, "got": got, "met": got <= want})
            torch_eager = next((t["epoch_seconds"] for t in (theirs or {}).get("runs", [])
                                if t["model"] == m and t["mode"] == "eager" and "error" not in t), None)
            print(f"  {m:<5} epoch <= {want} s: {got:.4f} s ({'met' if got <= want else 'MISSED'}), "
                  f"PyTorch eager {fmt(torch_eager, 4)} s")
    with open(os.path.join(out, "comparison.json"), "w") as fh:
        json.dump({"sgdlab": ours, "torch": theirs, "targets": verdicts,
                   "rows": [dict(zip(("model", "lanes", "sgdlab", "torch_eager", "torch_graph", "torch_fused",
                                      "ratio_to_best_torch"), r)) for r in rows]}, fh, indent=2)
    print(f"\nfigures in {out}")


if __name__ == "__main__":
    main()
