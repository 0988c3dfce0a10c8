#!/usr/bin/env python3
"""One exported network against sgdlab's own predictions (tests/onnx_export_test.sh).

usage: onnx_check.py MODEL.onnx PREDICTIONS.csv --data DIR --format usps|idx
                     [--node-runner tools/onnx_predict.js] [--tolerance 1e-5]

1. onnx.checker.check_model, with full_check (shape inference), passes.
2. The test images of DIR are prepared as the model's metadata says (its "scaling"), the
   way a user of the file would, not the way sgdlab's code does.
3. OpenCV's DNN module (cv2.dnn.readNetFromONNX) and, with --node-runner, ONNX Runtime
   for Node give class probabilities that equal sgdlab predict's (the CSV) within the
   tolerance, with the same argmax, on every test image.
Prints one line per runtime with the largest absolute difference; exit 1 on a failure.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import onnx


def usps_test_images(folder):
    rows = []
    with gzip.open(os.path.join(folder, "zip.test.gz"), "rt") as f:
        for line in f:
            fields = line.split()
            if fields:
                rows.append([float(v) for v in fields[1:]])
    return np.asarray(rows, dtype=np.float32).reshape(-1, 1, 16, 16)


def idx_test_images(folder):
    with gzip.open(os.path.join(folder, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        data = f.read()
    _, n, h, w = struct.unpack(">IIII", data[:16])
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, 1, h, w)


def prepared(pixels, metadata):
    """The network's input from stored pixels, as the metadata's scaling says."""
    scaling = json.loads(metadata["scaling"])
    x = pixels.astype(np.float32) / np.float32(scaling["divide"])
    if "mean" in scaling:
        mean = np.asarray(scaling["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(scaling["std"], dtype=np.float32).reshape(1, -1, 1, 1)
        x = (x - mean) / std
    return np.ascontiguousarray(x, dtype=np.float32)


def sgdlab_probabilities(csv_path):
    with open(csv_path) as f:
        header = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    first = header.index("p0")
    return np.asarray([[float(v) for v in r[first:]] for r in rows], dtype=np.float64)


def opencv_probabilities(path, x):
    import cv2
    net = cv2.dnn.readNetFromONNX(path)
    net.setInput(x)
    return net.forward("probabilities").astype(np.float64)


def ort_probabilities(path, x, runner):
    with tempfile.TemporaryDirectory() as tmp:
        images, out = os.path.join(tmp, "x.f32"), os.path.join(tmp, "p.f32")
        x.tofile(images)
        _, c, h, w = x.shape
        subprocess.run(["node", runner, path, images, str(c), str(h), str(w), out], check=True)
        return np.fromfile(out, dtype=np.float32).reshape(x.shape[0], -1).astype(np.float64)


def compare(name, got, want, tolerance):
    if got.shape != want.shape:
        print(f"FAILED {name}: shape {got.shape}, sgdlab's {want.shape}")
        return False
    diff = float(np.max(np.abs(got - want)))
    disagree = int(np.sum(np.argmax(got, axis=1) != np.argmax(want, axis=1)))
    ok = diff <= tolerance and disagree == 0
    print(f"{'ok' if ok else 'FAILED'} {name}: {got.shape[0]} images, max |p - sgdlab| = "
          f"{diff:.3g} (tolerance {tolerance:g}), argmax differs on {disagree}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("onnx")
    ap.add_argument("predictions")
    ap.add_argument("--data", required=True)
    ap.add_argument("--format", choices=("usps", "idx"), required=True)
    ap.add_argument("--node-runner")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    a = ap.parse_args()

    model = onnx.load(a.onnx)
    onnx.checker.check_model(model, full_check=True)
    print(f"ok checker: opset {model.opset_import[0].version}, ir {model.ir_version}, "
          f"{len(model.graph.node)} nodes")
    metadata = {p.key: p.value for p in model.metadata_props}
    pixels = usps_test_images(a.data) if a.format == "usps" else idx_test_images(a.data)
    x = prepared(pixels, metadata)
    want = sgdlab_probabilities(a.predictions)
    import cv2
    runtimes = [("opencv " + cv2.__version__, lambda: opencv_probabilities(a.onnx, x))]
    if a.node_runner:
        runtimes.append(("onnxruntime-node", lambda: ort_probabilities(a.onnx, x, a.node_runner)))
    ok = True
    for name, run in runtimes:  # each runtime, whatever the other did
        try:
            ok &= compare(name, run(), want, a.tolerance)
        except Exception as e:  # a runtime that cannot load or run the model
            print(f"FAILED {name}: {type(e).__name__}: {str(e).strip()}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
