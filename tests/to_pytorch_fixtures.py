#!/usr/bin/env python3
"""Synthetic sgdlab checkpoints for tests/to_pytorch_test.sh, written without sgdlab and
without tools/to_pytorch.py's code, straight from docs/checkpoints.md; then the checks
that need Python: (a) both readers agree, (b) strict state_dict loading and the
children's names, (c) the locally connected layer against a naive loop.

    python3 tests/to_pytorch_fixtures.py OUT

Leaves in OUT, for the shell script's command-line checks: <model>.safetensors and
<model>.csv (predictions computed here in float64) for mlp, cnn, lcnn and `odd`; the test
sets usps/ and idx/; bad-*.safetensors (malformed files); tampered-*.csv (wrong
predictions). Prints one line per check; exit status 1 if any failed.
"""

import gzip
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import to_pytorch as tp  # noqa: E402

# A model beyond the presets: a padded, strided local layer on a non-square input, pools
# whose stride is not their kernel, global average pooling of a non-square plane, batch
# norm on an image and after a dense layer (its own eps), five classes; IDX data with
# mean/std scaling.
ODD_MODEL = {
    "name": "odd",
    "input": [1, 11, 9],
    "classes": 5,
    "layers": [
        {"type": "local2d", "out": 3, "kernel": 3, "stride": 2, "pad": 1},
        {"type": "relu"},
        {"type": "conv2d", "out": 4, "kernel": 2},
        {"type": "batchnorm"},
        {"type": "max-pool", "kernel": 2, "stride": 1},
        {"type": "avg-pool", "kernel": 2, "stride": 1},
        {"type": "conv2d", "out": 6, "kernel": 1},
        {"type": "global-avg-pool"},
        {"type": "dense", "out": 7},
        {"type": "batchnorm", "eps": 0.001, "momentum": 0.3},
        {"type": "sigmoid"},
        {"type": "dropout"},
        {"type": "dense", "out": 5},
    ],
}
USPS_SCALING = {"divide": 1}
IDX_SCALING = {"divide": 255, "mean": [0.2], "std": [0.3]}

# The children docs/checkpoints.md names for the presets.
EXPECTED_CHILDREN = {
    "mlp": ["flatten", "dense1", "relu1", "dropout1", "dense2", "sigmoid1", "dropout2",
            "dense3", "relu2", "dropout3", "dense4"],
    "cnn": ["conv1", "relu1", "maxpool1", "conv2", "relu2", "maxpool2", "flatten", "dense1",
            "tanh1", "dropout1", "dense2"],
    "lcnn": ["local1", "relu1", "local2", "relu2", "maxpool1", "flatten", "dense1", "tanh1",
             "dropout1", "dense2"],
}

failures = 0


def check(ok, what):
    global failures
    print("%s: %s" % ("ok" if ok else "FAILED", what))
    failures += 0 if ok else 1


# --- writing checkpoints ----------------------------------------------------------------


def out_size(n, k, stride, pad):
    return (n + 2 * pad - k) // stride + 1


def parameter_shapes(model):
    """[(label, weight shape, bias shape)] in layer order, per the documented layouts."""
    c, h, w = model["input"]
    counts, shapes = {}, []
    for layer in model["layers"]:
        kind = layer["type"]
        k, p = layer.get("kernel", 1), layer.get("pad", 0)
        s = layer.get("stride", k if kind in ("max-pool", "avg-pool") else 1)
        if kind == "dense":
            weight, bias = [layer["out"], c * h * w], [layer["out"]]
            c, h, w = layer["out"], 1, 1
        elif kind == "conv2d":
            weight, bias = [layer["out"], c, k, k], [layer["out"]]
            c, h, w = layer["out"], out_size(h, k, s, p), out_size(w, k, s, p)
        elif kind == "local2d":
            c, h, w, cin = layer["out"], out_size(h, k, s, p), out_size(w, k, s, p), c
            weight, bias = [h * w, c, cin, k, k], [h * w, c]
        else:
            if kind in ("max-pool", "avg-pool"):
                h, w = out_size(h, k, s, 0), out_size(w, k, s, 0)
            if kind == "global-avg-pool":
                h, w = 1, 1
            if kind != "batchnorm":
                continue
            weight, bias = [c], [c]  # gamma and beta; the running statistics beside them
        label = {"dense": "dense", "conv2d": "conv", "local2d": "local", "batchnorm": "bn"}[kind]
        counts[label] = counts.get(label, 0) + 1
        shapes.append(("%s%d" % (label, counts[label]), weight, bias))
    return shapes


def random_tensors(model, seed, last_scale=1.0):
    """Weights ~ N(0, 1/fan_in) (so activations neither vanish nor saturate), small biases."""
    gen = torch.Generator().manual_seed(seed)
    shapes = parameter_shapes(model)
    tensors = OrderedDict()
    for i, (label, wshape, bshape) in enumerate(shapes):
        fan_in = math.prod(wshape[-3:]) if len(wshape) == 5 else math.prod(wshape[1:])
        scale = last_scale if i == len(shapes) - 1 else 1.0
        tensors[label + ".weight"] = torch.randn(wshape, generator=gen) * scale / math.sqrt(fan_in)
        tensors[label + ".bias"] = torch.randn(bshape, generator=gen) * 0.1
        if label.startswith("bn"):  # batch norm's buffers, in PyTorch's state_dict order
            tensors[label + ".running_mean"] = torch.randn(bshape, generator=gen) * 0.2
            tensors[label + ".running_var"] = torch.rand(bshape, generator=gen) + 0.5
            tensors[label + ".num_batches_tracked"] = torch.tensor(12.0)
    return tensors


def encode(tensors, metadata):
    """(header dict, data bytes): the tensors back to back in order, F32 little-endian."""
    header, chunks, at = OrderedDict([("__metadata__", metadata)]), [], 0
    for name, t in tensors.items():
        values = t.reshape(-1).tolist()
        chunks.append(struct.pack("<%df" % len(values), *values))
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [at, at + len(chunks[-1])]}
        at += len(chunks[-1])
    return header, b"".join(chunks)


def file_bytes(header, data):
    """A safetensors file; the header is padded with spaces to 8 bytes, as the
    safetensors package pads it, so that readers must accept the padding."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(path, blob):
    with open(path, "wb") as f:
        f.write(blob)


def metadata_for(model, scaling, data_format):
    return {"format": "sgdlab-model", "sgdlab_version": "0.0.0-test",
            "model": json.dumps(model),
            "hyperparameters": json.dumps({"lr": 0.05, "momentum": 0.9, "dropout": 0.25,
                                           "seed": 7, "batch": 32}),
            "epoch": "2", "scaling": json.dumps(scaling), "data_format": data_format}


# --- a float64 reference network --------------------------------------------------------


def naive_local(x, weight, bias, k, stride, pad):
    """The documented locally connected layer, one output position at a time."""
    n, _, h, w = x.shape
    ho, wo = out_size(h, k, stride, pad), out_size(w, k, stride, pad)
    xp = F.pad(x, (pad, pad, pad, pad))
    y = torch.zeros(n, weight.shape[1], ho, wo, dtype=x.dtype)
    for oh in range(ho):
        for ow in range(wo):
            l = oh * wo + ow
            window = xp[:, :, oh * stride:oh * stride + k, ow * stride:ow * stride + k]
            products = window.unsqueeze(1) * weight[l].unsqueeze(0)  # [N, out, in, k, k]
            y[:, :, oh, ow] = products.sum((2, 3, 4)) + bias[l]
    return y


def reference_logits(model, tensors, x):
    """The network in float64 from the layer list, without tools/to_pytorch.py."""
    t = {k: v.double() for k, v in tensors.items()}
    counts = {}
    x = x.double()
    for layer in model["layers"]:
        kind = layer["type"]
        label = {"dense": "dense", "conv2d": "conv", "local2d": "local", "batchnorm": "bn"}.get(kind)
        if label:
            counts[label] = counts.get(label, 0) + 1
            prefix = "%s%d." % (label, counts[label])
            wt, b = t[prefix + "weight"], t[prefix + "bias"]
        k, s, p = layer.get("kernel"), layer.get("stride", 1), layer.get("pad", 0)
        if kind == "dense":
            x = (x.reshape(x.shape[0], -1) @ wt.t() + b).reshape(x.shape[0], -1, 1, 1)
        elif kind == "conv2d":
            x = F.conv2d(x, wt, b, stride=s, padding=p)
        elif kind == "local2d":
            x = naive_local(x, wt, b, k, s, p)
        elif kind == "max-pool":
            x = F.max_pool2d(x, k, layer.get("stride", k))
        elif kind == "avg-pool":
            x = F.avg_pool2d(x, k, layer.get("stride", k))
        elif kind == "global-avg-pool":
            x = x.mean(dim=(2, 3), keepdim=True)
        elif kind == "batchnorm":  # evaluation: the running statistics, per channel
            def per_channel(v):
                return v.view(1, -1, 1, 1)
            mean, var = t[prefix + "running_mean"], t[prefix + "running_var"]
            x = (x - per_channel(mean)) / torch.sqrt(per_channel(var) + layer.get("eps", 1e-5))
            x = x * per_channel(wt) + per_channel(b)
        elif kind in ("relu", "tanh", "sigmoid"):
            x = getattr(torch, kind)(x)
    return x.reshape(x.shape[0], -1)


def reference_scale(x, scaling):
    x = x.double() / scaling["divide"]
    if "mean" in scaling:
        mean = torch.tensor(scaling["mean"], dtype=torch.float64).view(1, -1, 1, 1)
        std = torch.tensor(scaling["std"], dtype=torch.float64).view(1, -1, 1, 1)
        x = (x - mean) / std
    return x


# --- test sets and predictions ----------------------------------------------------------


def write_usps(directory, n, seed):
    """zip.test.gz in the ESL text format; returns (pixels [n, 1, 16, 16], labels)."""
    gen = torch.Generator().manual_seed(seed)
    x = ((torch.rand(n, 256, generator=gen, dtype=torch.float64) * 2 - 1) * 1000).round() / 1000
    y = torch.randint(0, 10, (n,), generator=gen)
    os.makedirs(directory, exist_ok=True)
    with gzip.open(os.path.join(directory, "zip.test.gz"), "wt") as f:
        for pixels, label in zip(x.tolist(), y.tolist()):
            f.write("%d %s\n" % (label, " ".join("%g" % v for v in pixels)))
    return x.reshape(n, 1, 16, 16), y


def write_idx(directory, n, h, w, classes, seed):
    """t10k images (gzipped) and labels (raw); returns (pixels [n, 1, h, w], labels)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, h, w), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, classes, (n,), generator=gen, dtype=torch.uint8)
    os.makedirs(directory, exist_ok=True)
    with gzip.open(os.path.join(directory, "t10k-images-idx3-ubyte.gz"), "wb") as f:
        f.write(b"\0\0\x08\x03" + struct.pack(">3I", n, h, w) + bytes(x.reshape(-1).tolist()))
    write(os.path.join(directory, "t10k-labels-idx1-ubyte"),
          b"\0\0\x08\x01" + struct.pack(">I", n) + bytes(y.tolist()))
    return x.unsqueeze(1).double(), y.long()


def write_predictions(path, probs, predicted=None):
    """sgdlab predict's CSV; probabilities with 9 significant digits."""
    predicted = probs.argmax(dim=1).tolist() if predicted is None else predicted
    classes = probs.shape[1]
    with open(path, "w") as f:
        f.write(",".join(["index", "predicted"] + ["p%d" % c for c in range(classes)]) + "\n")
        for i, (pred, row) in enumerate(zip(predicted, probs.tolist())):
            f.write("%d,%d,%s\n" % (i, pred, ",".join("%.9g" % p for p in row)))


def write_tampered(out, probs, labels):
    """CSVs that must fail: two classes' probabilities swapped in one row (a layout
    error's signature), and one right answer turned wrong (accuracies differ)."""
    swapped = probs.clone()
    top = int(swapped[3].argmax())
    other = (top + 1) % probs.shape[1]
    swapped[3, top], swapped[3, other] = probs[3, other], probs[3, top]
    write_predictions(os.path.join(out, "tampered-swap.csv"), swapped, probs.argmax(1).tolist())
    predicted = probs.argmax(1).tolist()
    right = next(i for i, (p, y) in enumerate(zip(predicted, labels.tolist())) if p == y)
    predicted[right] = (predicted[right] + 1) % probs.shape[1]
    write_predictions(os.path.join(out, "tampered-accuracy.csv"), probs, predicted)


# --- malformed files --------------------------------------------------------------------


def write_bad_files(out, good_blob):
    """One malformed checkpoint per kind of damage the reader must name."""
    write(os.path.join(out, "bad-truncated.safetensors"), good_blob[:-100])
    write(os.path.join(out, "bad-header-length.safetensors"),
          struct.pack("<Q", len(good_blob)) + good_blob[8:])
    four = struct.pack("<4f", 1, 2, 3, 4)
    overlap = OrderedDict([("a", {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}),
                           ("b", {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]})])
    write(os.path.join(out, "bad-overlap.safetensors"), file_bytes(overlap, four + four[:8]))
    f64 = {"x": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}}
    write(os.path.join(out, "bad-dtype.safetensors"), file_bytes(f64, struct.pack("<2d", 1, 2)))
    gap = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}
    write(os.path.join(out, "bad-gap.safetensors"), file_bytes(gap, four))


# --- the checks -------------------------------------------------------------------------


def check_readers(name, path, tensors, metadata):
    """(a): each reader gives exactly the tensors written, and the same metadata."""
    entries, meta, data = tp.read_layout(path)
    check(meta == metadata, "%s: metadata read back" % name)
    readers = [("own reader", tp.read_tensors_python(entries, data))]
    if tp.have_safetensors_package():
        readers.append(("safetensors package", tp.read_tensors_package(path, entries)))
    for reader, got in readers:
        same = list(got) == list(tensors) and all(
            got[k].dtype == torch.float32 and torch.equal(got[k], tensors[k]) for k in tensors)
        check(same, "%s: the %s gives the written tensors bit for bit" % (name, reader))


def check_loading(name, path, model, tensors):
    """(b): load_state_dict(strict=True) and the documented children."""
    fresh = tp.build_module(model)
    try:
        fresh.load_state_dict(tensors, strict=True)
        check(True, "%s: load_state_dict(strict=True) on a fresh module" % name)
    except RuntimeError as e:
        check(False, "%s: load_state_dict(strict=True): %s" % (name, str(e).splitlines()[0]))
    # The shapes as a checkpoint of this sgdlab records them build the same module; a record
    # that does not fit the layers is one clear error.
    computed = tp._computed_shapes(model, model["layers"])
    recorded = [{"label": "", "in": list(i), "out": list(o)} for i, o in computed]
    same = tp.build_module(model, shapes=recorded)
    check(str(same) == str(fresh), "%s: recorded shapes build the same module" % name)
    for bad, why in ((recorded[:-1], "one entry per layer"), (
            recorded[:-1] + [{"in": [0, 1, 1], "out": [1, 1, 1]}], "expected [C, H, W]")):
        try:
            tp.build_module(model, shapes=bad)
            check(False, "%s: bad recorded shapes refused" % name)
        except tp.CheckpointError as e:
            check(why in str(e), "%s: bad recorded shapes: %s" % (name, e))
    module, _ = tp.load_module(path, python_only=True)
    check(not module.training, "%s: load_module returns the module in eval mode" % name)
    check(list(module.state_dict()) == list(tensors),
          "%s: state_dict keys are the tensor names" % name)
    if name in EXPECTED_CHILDREN:
        names = [n for n, _ in module.named_children()]
        check(names == EXPECTED_CHILDREN[name], "%s: children %s" % (name, " ".join(names)))
    return module


def check_local(module, model, seed):
    """(c): every local layer of `module` against naive_local, on random inputs."""
    gen = torch.Generator().manual_seed(seed)
    layers = [l for l in model["layers"] if l["type"] == "local2d"]
    for i, layer in enumerate(layers, 1):
        m = getattr(module, "local%d" % i)
        x = torch.randn((5, m.in_channels) + m.input_size, generator=gen)
        want = naive_local(x.double(), m.weight.double(), m.bias.double(), layer["kernel"],
                           layer.get("stride", 1), layer.get("pad", 0))
        with torch.no_grad():
            err = float((m(x).double() - want).abs().max())
        check(err < 1e-5, "%s local%d: LocallyConnected2d vs a naive loop, max diff %.2g"
              % (model["name"], i, err))


def check_local_standalone(seed):
    """(c) on a layer no preset has: several input channels, padding, stride 2."""
    gen = torch.Generator().manual_seed(seed)
    m = tp.LocallyConnected2d(2, 3, 3, (7, 6), stride=2, padding=1)
    with torch.no_grad():
        m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
        m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
        x = torch.randn(4, 2, 7, 6, generator=gen)
        err = float((m(x).double() - naive_local(x.double(), m.weight.double(),
                                                   m.bias.double(), 3, 2, 1)).abs().max())
    check(list(m.weight.shape) == [4 * 3, 3, 2, 3, 3] and err < 1e-5,
          "LocallyConnected2d(2, 3, k 3, 7x6, stride 2, pad 1) vs a naive loop, max diff %.2g"
          % err)


def check_scaling():
    x = torch.tensor([[[[255.0]]], [[[51.0]]]])
    got = tp.scale_inputs(x, json.dumps(IDX_SCALING)).reshape(-1).tolist()
    want = [(1.0 - 0.2) / 0.3, (0.2 - 0.2) / 0.3]
    check(all(abs(a - b) < 1e-6 for a, b in zip(got, want)), "scale_inputs: (x / 255 - 0.2) / 0.3")


def make_model(out, name, model, seed, scaling, data_format, test_set, last_scale=1.0):
    """Writes OUT/name.safetensors and OUT/name.csv, runs checks (a) to (c)."""
    tensors = random_tensors(model, seed, last_scale)
    metadata = metadata_for(model, scaling, data_format)
    path = os.path.join(out, name + ".safetensors")
    header, data = encode(tensors, metadata)
    blob = file_bytes(header, data)
    write(path, blob)
    check_readers(name, path, tensors, metadata)
    module = check_loading(name, path, model, tensors)
    check_local(module, model, seed + 1)
    x, labels = test_set
    logits = reference_logits(model, tensors, reference_scale(x, scaling))
    probs = F.softmax(logits, dim=1)
    write_predictions(os.path.join(out, name + ".csv"), probs)
    return blob, probs, labels


def main(out):
    os.makedirs(out, exist_ok=True)
    usps = write_usps(os.path.join(out, "usps"), 60, seed=1)
    idx = write_idx(os.path.join(out, "idx"), 50, 11, 9, 5, seed=2)
    if not tp.have_safetensors_package():
        print("note: the safetensors package is not installed: only the own reader is compared")
    blobs = {}
    for seed, name in enumerate(("mlp", "cnn", "lcnn"), 10):
        with open(os.path.join(ROOT, "data", "models", name + ".json")) as f:
            model = json.load(f)
        blobs[name], probs, labels = make_model(out, name, model, seed, USPS_SCALING, "usps", usps)
        if name == "mlp":
            write_tampered(out, probs, labels)
    # Large last-layer weights: some probabilities underflow float32, as confident
    # networks' do, so that the comparison's tiny-probability path runs too.
    make_model(out, "odd", ODD_MODEL, 20, IDX_SCALING, "idx", idx, last_scale=150.0)
    check_local_standalone(30)
    check_scaling()
    write_bad_files(out, blobs["mlp"])
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: to_pytorch_fixtures.py OUT")
    sys.exit(main(sys.argv[1]))
