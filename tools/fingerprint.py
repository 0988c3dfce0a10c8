#!/usr/bin/env python3
"""The engine's behaviour on the CPU, as hashes and figures: what a change that claims
"behaviour unchanged" (a refactor, issue #26) must leave bit for bit.

Runs, with the given sgdlab binary and the shipped USPS data:
  cnn20    the CNN 20-epoch run (lr 0.01, momentum 0.9, batch 32, dropout 0.3, seed 1):
           its test accuracy as 17 digits, its metrics (seconds left out) and the bytes
           of its saved tensors
  pack3    a 3-lane pack of the LCNN, 3 epochs, three rates and seeds, with weight decay,
           Nesterov, cosine with warm-up and augmentation on one lane
  every    a model file with every layer type, 2 lanes, 3 epochs
  resume   the CNN killed with SIGKILL after its second checkpoint and resumed, beside the
           same run uninterrupted (6 epochs): both tensors' hashes
  quick    `study --preset quick` (all three models): report.json without its seconds,
           device and version (skipped with --no-study; about 10 minutes on 2 cores)
Prints one line per item; run it from a clean build before and after, and diff.

  tools/fingerprint.py BUILD/sgdlab [--no-study] [--keep DIR]
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

EVERY_LAYER = {
    "name": "every-layer", "input": [1, 16, 16], "classes": 10,
    "layers": [{"type": "conv2d", "out": 4, "kernel": 3, "pad": 1}, {"type": "relu"},
               {"type": "max-pool", "kernel": 2},
               {"type": "local2d", "out": 3, "kernel": 3, "stride": 2}, {"type": "tanh"},
               {"type": "dropout"}, {"type": "max-pool", "kernel": 2, "stride": 1},
               {"type": "dense", "out": 8}, {"type": "sigmoid"}, {"type": "dense", "out": 10}]}


def sha(data):
    return hashlib.sha256(data).hexdigest()[:16]


def tensors_hash(path):
    """The tensors of a safetensors file: names, shapes and bytes (not the metadata,
    which names the version)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return sha(json.dumps(header, sort_keys=True).encode() + data)


def metrics_hash(path):
    rows = []
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            row.pop("seconds", None)
            rows.append(row)
    return sha(json.dumps(rows, sort_keys=True).encode())


def without(j, keys):
    if isinstance(j, dict):
        return {k: without(v, keys) for k, v in j.items()
                if k not in keys and "seconds" not in k}
    if isinstance(j, list):
        return [without(v, keys) for v in j]
    return j


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"fingerprint.py: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}")
    return r.stdout


def train(sgdlab, out, args):
    run([sgdlab, "train", "--device", "cpu", "--quiet", "--out", out] + args)
    with open(os.path.join(out, "result.json")) as f:
        return json.load(f)


def item_cnn20(sgdlab, work):
    out = os.path.join(work, "cnn20")
    r = train(sgdlab, out, ["--model", "cnn", "--epochs", "20", "--batch", "32", "--lr", "0.01",
                            "--momentum", "0.9", "--dropout", "0.3", "--seed", "1", "--save"])
    return (f"test_acc {r['lanes'][0]['test_acc']!r} metrics "
            f"{metrics_hash(os.path.join(out, 'metrics.jsonl'))} tensors "
            f"{tensors_hash(os.path.join(out, 'models', 'lane-0.safetensors'))}")


def item_pack3(sgdlab, work):
    out = os.path.join(work, "pack3")
    r = train(sgdlab, out, ["--model", "lcnn", "--epochs", "3", "--lr", "0.01,0.02,0.05",
                            "--seed", "1,2,3", "--weight-decay", "0,5e-4,0", "--nesterov",
                            "--schedule", "cosine", "--warmup", "1",
                            "--augment", "shift=2,rotate=10,scale=0.1", "--save"])
    accs = " ".join(repr(l["test_acc"]) for l in r["lanes"])
    tensors = " ".join(tensors_hash(os.path.join(out, "models", f"lane-{t}.safetensors"))
                       for t in range(3))
    return f"test_acc {accs} metrics {metrics_hash(os.path.join(out, 'metrics.jsonl'))} " \
           f"tensors {tensors}"


def item_every(sgdlab, work):
    model = os.path.join(work, "every-layer.json")
    with open(model, "w") as f:
        json.dump(EVERY_LAYER, f)
    out = os.path.join(work, "every")
    r = train(sgdlab, out, ["--model", model, "--epochs", "3", "--lr", "0.05,0.1",
                            "--seed", "1,2", "--save"])
    accs = " ".join(repr(l["test_acc"]) for l in r["lanes"])
    return f"test_acc {accs} metrics {metrics_hash(os.path.join(out, 'metrics.jsonl'))} " \
           f"tensors {tensors_hash(os.path.join(out, 'models', 'lane-1.safetensors'))}"


def item_resume(sgdlab, work):
    args = ["--model", "cnn", "--epochs", "6", "--seed", "4", "--save"]
    whole = os.path.join(work, "whole")
    train(sgdlab, whole, args)
    killed = os.path.join(work, "killed")
    p = subprocess.Popen([sgdlab, "train", "--device", "cpu", "--quiet", "--out", killed,
                          "--checkpoint-every", "1"] + args,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = os.path.join(killed, "metrics.jsonl")
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        if os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 2:
            break
        time.sleep(0.05)
    if p.poll() is not None:
        sys.exit("fingerprint.py: the run to kill ended before its second epoch")
    p.send_signal(signal.SIGKILL)
    p.wait()
    run([sgdlab, "train", "--device", "cpu", "--quiet", "--resume", killed])
    a = tensors_hash(os.path.join(whole, "models", "lane-0.safetensors"))
    b = tensors_hash(os.path.join(killed, "models", "lane-0.safetensors"))
    return f"uninterrupted {a} resumed {b} {'same' if a == b else 'DIFFERENT'}"


def item_quick(sgdlab, work):
    out = os.path.join(work, "quick")
    run([sgdlab, "study", "--preset", "quick", "--device", "cpu", "--out", out, "--no-figures"])
    with open(os.path.join(out, "report.json")) as f:
        r = without(json.load(f), {"device", "version"})
    finals = {m: v["final"]["test_mean"] for m, v in r["models"].items()}
    return f"report {sha(json.dumps(r, sort_keys=True).encode())} final test means {finals}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("sgdlab", help="the built sgdlab binary")
    p.add_argument("--no-study", action="store_true", help="skip the quick study")
    p.add_argument("--keep", help="keep the runs in this folder (default: a temporary one)")
    a = p.parse_args()
    work = a.keep or tempfile.mkdtemp(prefix="sgdlab-fingerprint-")
    os.makedirs(work, exist_ok=True)
    items = [("cnn20", item_cnn20), ("pack3", item_pack3), ("every", item_every),
             ("resume", item_resume)]
    if not a.no_study:
        items.append(("quick", item_quick))
    try:
        for name, fn in items:
            print(f"{name}: {fn(os.path.abspath(a.sgdlab), work)}", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
