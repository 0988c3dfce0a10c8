#!/usr/bin/env python3
"""An sgdlab model checkpoint (docs/checkpoints.md) as the equivalent PyTorch module.

    python3 tools/to_pytorch.py FILE.safetensors [--python-only-reader]
                                [--check-predictions PREDS.csv --data DIR]

Prints the module and its parameter count. With --check-predictions, runs the module on
the test set in DIR (USPS zip.test.gz, or IDX t10k-* files) and compares it with
`sgdlab predict`'s CSV: log-probabilities within 1e-4 and the same test accuracy, or exit
status 1. A malformed checkpoint, data or CSV file is one line on stderr and exit status 2.

As a library:

    module, metadata = load_module("lane-0.safetensors")   # metadata: __metadata__ strings
    logits = module(scale_inputs(x, metadata["scaling"]))

Needs torch (1.13 or newer) and the standard library; uses the `safetensors` package to
read the tensors when it is installed, else a reader of its own.
"""

import argparse
import csv
import gzip
import importlib
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# Each row's log-probabilities may differ from PyTorch's by at most this much. Both sides
# compute in float32 (unit roundoff u = 2^-24 ~ 6e-8) but sum in different orders
# (blocked GEMMs, im2col, vectorised reductions). The longest dot product in these
# networks has 1,024 terms and there are at most a handful of layers; rounding errors of
# such sums grow like sqrt(n) * u in practice (~2e-6 relative), so logits of magnitude
# ~10 agree to ~1e-5, and log-softmax adds only ~u * |logit|. A real layout mistake (a
# transposed weight, a shifted patch, a missing bias) moves logits by 0.1 or more, so the
# bound separates the two by more than an order of magnitude each way. Log-probabilities
# rather than probabilities, so that confident rows (p ~ 1e-20) are compared as closely
# as the others, and no per-row constant (logits vs. normalised) matters.
LOG_PROB_TOLERANCE = 1e-4

# float32's smallest normal number: below it a probability keeps too few significant
# bits (or is flushed to zero) to compare its logarithm closely.
FLOAT32_MIN_NORMAL = 2.0**-126

F32_BYTES = 4


class CheckpointError(Exception):
    """A malformed checkpoint, data or predictions file; the message is one line."""


# --- safetensors ------------------------------------------------------------------------


def _json_object(text, what):
    """Parses `text` as a JSON object, refusing duplicate keys (a silently dropped tensor)."""

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise CheckpointError("%s: duplicate key %r" % (what, dup[0]))
        return OrderedDict(pairs)

    try:
        value = json.loads(text, object_pairs_hook=no_duplicates)
    except ValueError as e:
        raise CheckpointError("%s is not valid JSON: %s" % (what, e)) from None
    if not isinstance(value, dict):
        raise CheckpointError("%s is not a JSON object" % what)
    return value


def _split_file(path, blob):
    """The header's JSON object and the data section of a safetensors file's bytes."""
    if len(blob) < 8:
        raise CheckpointError(
            "%s: truncated: %d bytes, shorter than the 8-byte header length" % (path, len(blob)))
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise CheckpointError(
            "%s: header length %d runs past the end of the file (%d bytes)" % (path, n, len(blob)))
    try:
        text = blob[8:8 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError("%s: the header is not UTF-8 text" % path) from None
    return _json_object(text, "%s: the header" % path), blob[8 + n:]


def _metadata(path, header):
    """`__metadata__`: a map of strings to strings (empty when absent)."""
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError("%s: __metadata__ must map strings to strings" % path)
    return dict(meta)


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _entry(path, name, info, data_len):
    """(name, shape, begin, end) of one header entry, checked on its own."""
    where = "%s: tensor %r" % (path, name)
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise CheckpointError("%s: expected dtype, shape and data_offsets" % where)
    if info["dtype"] != "F32":
        raise CheckpointError("%s: dtype %s, expected F32" % (where, info["dtype"]))
    shape, offsets = info["shape"], info["data_offsets"]
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise CheckpointError("%s: shape %s is not a list of sizes" % (where, json.dumps(shape)))
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets))
            or offsets[0] > offsets[1]):
        raise CheckpointError("%s: data_offsets %s is not [begin, end]"
                              % (where, json.dumps(offsets)))
    begin, end = offsets
    if end > data_len:
        raise CheckpointError("%s: truncated: tensor %r ends at byte %d of the data, which has %d"
                              % (path, name, end, data_len))
    need = math.prod(shape) * F32_BYTES
    if end - begin != need:
        raise CheckpointError("%s: data_offsets [%d, %d] hold %d bytes, shape %s of F32 needs %d"
                              % (where, begin, end, end - begin, shape, need))
    return name, shape, begin, end


def _check_layout(path, entries, data_len):
    """The tensors tile the data exactly: no overlap, no gap, nothing after the last one
    (as the safetensors package itself demands, and as sgdlab writes them)."""
    at, previous = 0, None
    for name, _, begin, end in sorted(entries, key=lambda e: (e[2], e[3])):
        if begin < at:
            raise CheckpointError("%s: tensors %r and %r overlap (bytes %d to %d of the data)"
                                  % (path, previous, name, begin, at))
        if begin > at:
            raise CheckpointError("%s: %d unused bytes of data before tensor %r"
                                  % (path, begin - at, name))
        at, previous = end, name
    if at != data_len:
        raise CheckpointError("%s: %d bytes of data after the last tensor" % (path, data_len - at))


def read_layout(path):
    """Validates a safetensors file; returns (entries in data order, metadata, data bytes)
    where an entry is (name, shape, begin, end)."""
    with open(path, "rb") as f:
        blob = f.read()
    header, data = _split_file(path, blob)
    metadata = _metadata(path, header)
    entries = [_entry(path, k, v, len(data)) for k, v in header.items() if k != "__metadata__"]
    _check_layout(path, entries, len(data))
    entries.sort(key=lambda e: e[2])
    return entries, metadata, data


def _f32_tensor(chunk, shape):
    """Little-endian F32 bytes as a tensor, whatever this machine's byte order."""
    count = len(chunk) // F32_BYTES
    if sys.byteorder == "little" and count:
        flat = torch.frombuffer(bytearray(chunk), dtype=torch.float32)
    else:  # frombuffer takes neither an empty buffer nor a byte order
        flat = torch.tensor(struct.unpack("<%df" % count, chunk), dtype=torch.float32)
    return flat.reshape(shape)


def read_tensors_python(entries, data):
    """The tensors of a validated file, read by this module alone."""
    return OrderedDict((name, _f32_tensor(data[b:e], shape)) for name, shape, b, e in entries)


def read_tensors_package(path, entries):
    """The tensors read by the `safetensors` package (ImportError when it is missing)."""
    from safetensors.torch import load_file

    loaded = load_file(path)
    return OrderedDict((name, loaded[name].contiguous()) for name, _, _, _ in entries)


def have_safetensors_package():
    try:
        importlib.import_module("safetensors.torch")
    except ImportError:
        return False
    return True


def load_checkpoint(path, python_only=False):
    """(tensors in file order, metadata strings, the reader used) of a safetensors file."""
    entries, metadata, data = read_layout(path)
    if not python_only and have_safetensors_package():
        return read_tensors_package(path, entries), metadata, "safetensors package"
    return read_tensors_python(entries, data), metadata, "own reader"


# --- the module -------------------------------------------------------------------------


def conv_output_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


class LocallyConnected2d(nn.Module):
    """A convolution without weight sharing: every output position (oh, ow), numbered
    l = oh * Wo + ow, has its own kernel weight[l] ([out, in, k, k]) and bias[l] ([out]),
    applied to the zero-padded input's window at (oh * stride, ow * stride)."""

    def __init__(self, in_channels, out_channels, kernel_size, input_size, stride=1, padding=0):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.input_size = tuple(input_size)
        self.output_size = tuple(conv_output_size(s, kernel_size, stride, padding)
                                 for s in self.input_size)
        positions = self.output_size[0] * self.output_size[1]
        k = kernel_size
        self.weight = nn.Parameter(torch.empty(positions, out_channels, in_channels, k, k))
        self.bias = nn.Parameter(torch.empty(positions, out_channels))
        self.reset_parameters()

    def reset_parameters(self):
        # Conv2d's default bound; the checkpoint's values replace these anyway.
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size**2)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if tuple(x.shape[1:]) != (self.in_channels,) + self.input_size:
            raise ValueError("LocallyConnected2d expects [N, %d, %d, %d], got %s"
                             % ((self.in_channels,) + self.input_size + (list(x.shape),)))
        # unfold gives each window as a column in (channel, row, column) order, the order
        # of a position's flattened [in, k, k] kernel.
        patches = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        weight = self.weight.reshape(self.weight.shape[0], self.out_channels, -1)
        y = torch.einsum("npl,lop->nol", patches, weight) + self.bias.t()
        return y.reshape((x.shape[0], self.out_channels) + self.output_size)

    def extra_repr(self):
        return ("%d, %d, kernel_size=%d, input_size=%s, stride=%d, padding=%d"
                % (self.in_channels, self.out_channels, self.kernel_size, self.input_size,
                   self.stride, self.padding))


def _layer_int(layer, key, where, default=None, minimum=1):
    value = layer.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise CheckpointError("%s: %r must be an integer >= %d, got %s"
                              % (where, key, minimum, json.dumps(value)))
    return value


def _spatial(layer, shape, where):
    """The module of a conv2d, local2d, max-pool or avg-pool layer on a [C, H, W] input."""
    kind, (c, h, w) = layer["type"], shape
    k = _layer_int(layer, "kernel", where)
    if kind in ("max-pool", "avg-pool"):
        stride = _layer_int(layer, "stride", where, default=k)
        return (nn.MaxPool2d if kind == "max-pool" else nn.AvgPool2d)(k, stride)
    stride = _layer_int(layer, "stride", where, default=1)
    pad = _layer_int(layer, "pad", where, default=0, minimum=0)
    out = _layer_int(layer, "out", where)
    if kind == "conv2d":
        return nn.Conv2d(c, out, k, stride=stride, padding=pad)
    return LocallyConnected2d(c, out, k, (h, w), stride=stride, padding=pad)


def _computed_shapes(model, layers):
    """Each layer's ([C, H, W] in, out), computed here: only for a checkpoint written
    before the engine recorded its shapes ("layers" in __metadata__, since the batchnorm
    release). Such files hold only the kinds below; a newer kind comes with its shapes."""
    shape, out = _input_shape(model), []
    for i, layer in enumerate(layers, 1):
        kind = layer.get("type") if isinstance(layer, dict) else None
        where = "model: layer %d %s" % (i, kind)
        before = shape
        if kind == "dense":
            shape = (_layer_int(layer, "out", where), 1, 1)
        elif kind == "global-avg-pool":
            shape = (shape[0], 1, 1)
        elif kind in ("conv2d", "local2d", "max-pool", "avg-pool"):
            k = _layer_int(layer, "kernel", where)
            pool = kind in ("max-pool", "avg-pool")
            stride = _layer_int(layer, "stride", where, default=k if pool else 1)
            pad = 0 if pool else _layer_int(layer, "pad", where, default=0, minimum=0)
            c, h, w = shape
            if h + 2 * pad < k or w + 2 * pad < k:
                raise CheckpointError("%s: input %dx%dx%d is smaller than kernel %d with pad %d"
                                      % (where, c, h, w, k, pad))
            shape = (c if pool else _layer_int(layer, "out", where),
                     conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad))
        out.append((before, shape))
    return out


def _recorded_shapes(recorded, layers):
    """Each layer's ([C, H, W] in, out) as the engine recorded them, checked for form."""
    def shape(v):
        if not isinstance(v, list) or len(v) != 3 or not all(_is_count(d) and d >= 1 for d in v):
            raise CheckpointError("__metadata__ \"layers\": expected [C, H, W], got %s"
                                  % json.dumps(v))
        return tuple(v)
    if not isinstance(recorded, list) or len(recorded) != len(layers) or not all(
            isinstance(r, dict) for r in recorded):
        raise CheckpointError("__metadata__ \"layers\": expected one entry per layer (%d)"
                              % len(layers))
    return [(shape(r.get("in")), shape(r.get("out"))) for r in recorded]


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
LABELS = {"dense": "dense", "conv2d": "conv", "local2d": "local", "max-pool": "maxpool",
          "avg-pool": "avgpool", "global-avg-pool": "gap", "batchnorm": "bn",
          "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "dropout": "dropout"}


def _batchnorm(layer, shape, flat, where):
    """nn.BatchNorm1d after a dense layer (features), nn.BatchNorm2d on an image
    (channels); eps and momentum as in the model file, PyTorch's defaults otherwise."""
    eps, momentum = layer.get("eps", 1e-5), layer.get("momentum", 0.1)
    for key, value, ok in (("eps", eps, lambda v: v > 0), ("momentum", momentum,
                                                           lambda v: 0 <= v <= 1)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok(value):
            raise CheckpointError("%s: %r is out of range: %s" % (where, key, json.dumps(value)))
    kind = nn.BatchNorm1d if flat else nn.BatchNorm2d
    return kind(shape[0], eps=float(eps), momentum=float(momentum))


def _input_shape(model):
    shape = model.get("input")
    if not isinstance(shape, list) or len(shape) != 3 or not all(
            isinstance(d, int) and d >= 1 for d in shape):
        raise CheckpointError("model: expected \"input\": [channels, height, width], got %s"
                              % json.dumps(shape))
    return tuple(shape)


class _Children:
    """The named children of the Sequential, labelled as sgdlab labels its layers:
    each kind counted from 1 in layer order."""

    def __init__(self):
        self.modules, self.counts = OrderedDict(), {}

    def add(self, kind, module, numbered=True):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        n = self.counts[kind]
        # `flatten` is unnumbered (docs/checkpoints.md); a rare second one gets a number.
        self.modules[kind + str(n) if numbered or n > 1 else kind] = module


def build_module(model, dropout=0.0, shapes=None):
    """The nn.Sequential of a model file (data/models/*.json schema, as a dict). `shapes`:
    the checkpoint's "layers" (each layer's input and output shape, as the engine computed
    them); None computes them (a checkpoint of an older sgdlab)."""
    _input_shape(model)
    children, flat = _Children(), False
    layers = model.get("layers")
    if not isinstance(layers, list) or not layers:
        raise CheckpointError("model: expected a non-empty list \"layers\"")
    for i, layer in enumerate(layers, 1):
        kind = layer.get("type") if isinstance(layer, dict) else None
        if kind not in LABELS:
            raise CheckpointError("model: layer %d: unknown type %s" % (i, json.dumps(kind)))
    io = _computed_shapes(model, layers) if shapes is None else _recorded_shapes(shapes, layers)
    for i, (layer, (shape, _)) in enumerate(zip(layers, io), 1):
        kind, where = layer["type"], "model: layer %d %s" % (i, layer["type"])
        if kind == "dense":
            if not flat:  # the network's tensors are [N, C, H, W] until the first dense layer
                children.add("flatten", nn.Flatten(), numbered=False)
                flat = True
            children.add("dense", nn.Linear(math.prod(shape), _layer_int(layer, "out", where)))
        elif kind in ("conv2d", "local2d", "max-pool", "avg-pool", "global-avg-pool"):
            if flat:  # a spatial layer after a dense one sees its output as [out, 1, 1]
                children.add("unflatten", nn.Unflatten(1, shape))
                flat = False
            children.add(LABELS[kind], nn.AdaptiveAvgPool2d(1) if kind == "global-avg-pool"
                         else _spatial(layer, shape, where))
        elif kind == "batchnorm":
            children.add(LABELS[kind], _batchnorm(layer, shape, flat, where))
        elif kind == "dropout":
            children.add("dropout", nn.Dropout(dropout))
        else:
            children.add(kind, ACTIVATIONS[kind]())
    classes, last = model.get("classes"), math.prod(io[-1][1])
    if last != classes:
        raise CheckpointError("model: the last layer gives %d outputs, \"classes\" is %s"
                              % (last, json.dumps(classes)))
    return nn.Sequential(children.modules)


def _check_tensors(path, module, tensors):
    """One clear line for a checkpoint that does not fit its own model (torch's strict
    load would say it in several)."""
    expected = module.state_dict()
    for name in expected:
        if name not in tensors:
            raise CheckpointError("%s: no tensor %r, which the model needs" % (path, name))
        if list(tensors[name].shape) != list(expected[name].shape):
            raise CheckpointError("%s: tensor %r has shape %s, the model needs %s"
                                  % (path, name, list(tensors[name].shape),
                                     list(expected[name].shape)))
    for name in tensors:
        if name not in expected:
            raise CheckpointError("%s: tensor %r is not a parameter of the model" % (path, name))


def _json_metadata(path, metadata, key):
    if key not in metadata:
        raise CheckpointError("%s: __metadata__ has no %r" % (path, key))
    return _json_object(metadata[key], "%s: __metadata__ %r" % (path, key))


def load_module(path, python_only=False):
    """(the PyTorch module with the checkpoint's weights, in eval mode; its __metadata__
    strings). `python_only` reads with this module's own reader even when the
    safetensors package is installed."""
    module, metadata, _ = _load(path, python_only)
    return module, metadata


def _load(path, python_only):
    tensors, metadata, reader = load_checkpoint(path, python_only)
    fmt = metadata.get("format")
    if fmt != "sgdlab-model":
        raise CheckpointError("%s: format %s, expected sgdlab-model (a trained model, "
                              "OUT/models/lane-<t>.safetensors)" % (path, json.dumps(fmt)))
    model = _json_metadata(path, metadata, "model")
    dropout = _json_metadata(path, metadata, "hyperparameters").get("dropout", 0.0)
    shapes = None
    if "layers" in metadata:
        try:
            shapes = json.loads(metadata["layers"])
        except ValueError as e:
            raise CheckpointError("%s: __metadata__ 'layers' is not valid JSON: %s"
                                  % (path, e)) from None
    try:
        module = build_module(model, dropout=float(dropout), shapes=shapes)
    except CheckpointError as e:
        raise CheckpointError("%s: %s" % (path, e)) from None
    _check_tensors(path, module, tensors)
    module.load_state_dict(tensors, strict=True)
    return module.eval(), metadata, reader


def scale_inputs(x, scaling):
    """Raw pixels [N, C, H, W] as the network sees them: (x / divide - mean[c]) / std[c],
    or x / divide without mean. `scaling`: the metadata's JSON text, or that text parsed."""
    if isinstance(scaling, str):
        scaling = json.loads(scaling)
    x = x.to(torch.float32) / float(scaling["divide"])
    if "mean" not in scaling:
        return x
    channels = x.shape[1]
    mean, std = scaling["mean"], scaling["std"]
    if len(mean) != channels or len(std) != channels:
        raise CheckpointError("scaling: mean and std need %d values (one per channel), "
                              "got %d and %d" % (channels, len(mean), len(std)))
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std


# --- test sets --------------------------------------------------------------------------


def read_usps_test(directory):
    """(raw pixels [N, 1, 16, 16], labels [N], the path read) of DIR/zip.test.gz: lines
    of a label and 256 values in [-1, 1]."""
    path = os.path.join(directory, "zip.test.gz")
    pixels, labels = [], []
    with gzip.open(path, "rt") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 257:
                raise CheckpointError("%s: line %d has %d values, expected a label and 256"
                                      % (path, number, len(fields) - 1))
            try:
                labels.append(int(float(fields[0])))
                pixels.append([float(v) for v in fields[1:]])
            except ValueError:
                raise CheckpointError("%s: line %d is not numbers" % (path, number)) from None
    if not labels:
        raise CheckpointError("%s: no images" % path)
    return torch.tensor(pixels).reshape(-1, 1, 16, 16), torch.tensor(labels), path


def _read_maybe_gz(directory, name):
    """The bytes of DIR/name or DIR/name.gz, and the path read."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(path, "rb") as f:
                return f.read(), path
    raise CheckpointError("%s: no %s or %s.gz" % (directory, name, name))


def _idx_array(blob, path, ndim):
    """An IDX file's uint8 array: a magic of 0, 0, 0x08 (ubyte), ndim; big-endian sizes."""
    if len(blob) < 4 + 4 * ndim or blob[:3] != b"\0\0\x08" or blob[3] != ndim:
        raise CheckpointError("%s: not an IDX file of %d-dimensional uint8 data" % (path, ndim))
    dims = struct.unpack(">%dI" % ndim, blob[4:4 + 4 * ndim])
    body = blob[4 + 4 * ndim:]
    if len(body) != math.prod(dims):
        raise CheckpointError("%s: truncated: %d bytes of data for dimensions %s"
                              % (path, len(body), list(dims)))
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def read_idx_test(directory):
    """(raw pixels [N, 1, H, W] as floats 0..255, labels [N], the images' path) of the
    t10k-* IDX files."""
    images, images_path = _read_maybe_gz(directory, "t10k-images-idx3-ubyte")
    labels, labels_path = _read_maybe_gz(directory, "t10k-labels-idx1-ubyte")
    x = _idx_array(images, images_path, 3)
    y = _idx_array(labels, labels_path, 1)
    if x.shape[0] != y.shape[0]:
        raise CheckpointError("%s has %d images but %s has %d labels"
                              % (images_path, x.shape[0], labels_path, y.shape[0]))
    return x.unsqueeze(1).to(torch.float32), y.to(torch.int64), images_path


def read_test_set(directory, input_shape):
    """(raw pixels, labels, path) of the test set in `directory`, in file order; the
    format goes by the files there, as sgdlab's --data does."""
    idx_names = ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz")
    if os.path.exists(os.path.join(directory, "zip.test.gz")):
        x, y, path = read_usps_test(directory)
    elif any(os.path.exists(os.path.join(directory, n)) for n in idx_names):
        x, y, path = read_idx_test(directory)
    else:
        raise CheckpointError("%s: no USPS zip.test.gz nor IDX t10k-images-idx3-ubyte[.gz] "
                              "(the test sets this tool reads)" % directory)
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise CheckpointError("%s: images are %s, the model takes %s"
                              % (path, "x".join(map(str, x.shape[1:])),
                                 "x".join(map(str, input_shape))))
    return x, y, path


# --- comparing with sgdlab's predictions ------------------------------------------------


def read_predictions(path, classes):
    """(predicted classes [N], probabilities [N, classes] as float64) of sgdlab's CSV."""
    expected = ["index", "predicted"] + ["p%d" % c for c in range(classes)]
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != expected:
        got = ",".join(rows[0]) if rows else "(empty)"
        raise CheckpointError("%s: header %s, expected %s" % (path, got, ",".join(expected)))
    predicted, probs = [], []
    for i, row in enumerate(rows[1:]):
        try:
            index, pred, p = int(row[0]), int(row[1]), [float(v) for v in row[2:]]
        except (ValueError, IndexError):
            raise CheckpointError("%s: row %d is not index,predicted,probabilities"
                                  % (path, i)) from None
        if index != i or len(p) != classes:
            raise CheckpointError("%s: row %d: index %d with %d probabilities, expected index %d "
                                  "with %d" % (path, i, index, len(p), i, classes))
        if not all(0.0 <= v <= 1.0 + 1e-5 for v in p):
            raise CheckpointError("%s: row %d: a probability outside [0, 1]" % (path, i))
        predicted.append(pred)
        probs.append(p)
    return torch.tensor(predicted, dtype=torch.int64), torch.tensor(probs, dtype=torch.float64)


def torch_logits(module, x, batch=512):
    with torch.no_grad():
        parts = [module(x[i:i + batch]) for i in range(0, x.shape[0], batch)]
    return torch.cat(parts).reshape(x.shape[0], -1)


def compare_classes(predicted, torch_pred, labels):
    """Prints both accuracies; the failures (a list of reasons)."""
    n = labels.shape[0]
    sg_correct, torch_correct = int((predicted == labels).sum()), int((torch_pred == labels).sum())
    print("sgdlab  accuracy: %.2f%% (%d/%d)" % (100.0 * sg_correct / n, sg_correct, n))
    print("pytorch accuracy: %.2f%% (%d/%d)" % (100.0 * torch_correct / n, torch_correct, n))
    print("predicted classes differ on %d of %d images" % (int((predicted != torch_pred).sum()), n))
    return [] if sg_correct == torch_correct else ["the accuracies differ"]


def compare_probabilities(probs, logits):
    """Prints max |log p - log_softmax(logits)| over sgdlab's probabilities in float32's
    normal range, and where; the failures (a list of reasons)."""
    torch_lp = F.log_softmax(logits.to(torch.float64), dim=1)
    normal = probs >= FLOAT32_MIN_NORMAL
    diff = torch.where(normal, (probs.clamp_min(FLOAT32_MIN_NORMAL).log() - torch_lp).abs(),
                       torch.zeros_like(torch_lp))
    worst = float(diff.max())
    row, col = divmod(int(diff.argmax()), diff.shape[1])
    # The probabilities there tell a layout error (both moderate) from a CSV printed with
    # too few significant digits (a small p).
    print("max |log p - log_softmax| = %.3g (image %d, class %d: sgdlab p %.6g, pytorch %.6g; "
          "tolerance %g)" % (worst, row, col, float(probs[row, col]),
                             math.exp(float(torch_lp[row, col])), LOG_PROB_TOLERANCE))
    failures = []
    if not worst <= LOG_PROB_TOLERANCE:
        failures.append("log-probabilities differ by %.3g > %g" % (worst, LOG_PROB_TOLERANCE))
    tiny = int((~normal).sum())
    if tiny:
        # A tiny (or flushed-to-zero) sgdlab probability must be tiny for torch as well.
        not_tiny = int(((~normal) & (torch_lp > math.log(FLOAT32_MIN_NORMAL) + 1.0)).sum())
        print("%d probabilities below float32's normal range, compared only as tiny (%d are not "
              "tiny for pytorch)" % (tiny, not_tiny))
        if not_tiny:
            failures.append("%d probabilities tiny for sgdlab only" % not_tiny)
    return failures


def check_predictions(module, metadata, preds_path, data_dir):
    """Runs `module` on the test set in `data_dir`, compares with sgdlab's CSV and prints
    the outcome; True when it passes."""
    model = json.loads(metadata["model"])
    x, labels, data_path = read_test_set(data_dir, model["input"])
    predicted, probs = read_predictions(preds_path, model["classes"])
    if predicted.shape[0] != labels.shape[0]:
        raise CheckpointError("%s: %d rows, %s has %d images"
                              % (preds_path, predicted.shape[0], data_path, labels.shape[0]))
    logits = torch_logits(module, scale_inputs(x, metadata["scaling"]))
    print("test set: %s" % data_path)
    failures = compare_classes(predicted, logits.argmax(dim=1), labels)
    failures += compare_probabilities(probs, logits)
    print("FAILED: " + "; ".join(failures) if failures else "OK: pytorch matches sgdlab")
    return not failures


# --- command line -----------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description="An sgdlab model checkpoint as a PyTorch module.")
    p.add_argument("checkpoint", help="a model checkpoint, e.g. OUT/models/lane-0.safetensors")
    p.add_argument("--check-predictions", metavar="CSV",
                   help="sgdlab predict's CSV to compare with")
    p.add_argument("--data", metavar="DIR", help="the test set's folder (with --check-predictions)")
    p.add_argument("--python-only-reader", action="store_true",
                   help="read with this tool's own reader even if safetensors is installed")
    args = p.parse_args(argv)
    if bool(args.check_predictions) != bool(args.data):
        p.error("--check-predictions and --data go together")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        module, metadata, reader = _load(args.checkpoint, args.python_only_reader)
        print("%s (read by the %s): model %s, epoch %s"
              % (args.checkpoint, reader, json.loads(metadata["model"]).get("name", "?"),
                 metadata.get("epoch", "?")))
        print(module)
        print("parameters: %d" % sum(p.numel() for p in module.parameters()))
        ok = True
        if args.check_predictions:
            ok = check_predictions(module, metadata, args.check_predictions, args.data)
    except (CheckpointError, OSError, EOFError) as e:  # EOFError: a cut .gz
        print("to_pytorch.py: %s" % e, file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
