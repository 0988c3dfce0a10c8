"""sgdlab from Python: train packs of small networks, many lanes at once, on NumPy data.

    import sgdlab
    data = sgdlab.load_data("data/usps")          # or sgdlab.Data(x_train, y_train, x_test, y_test)
    pack = sgdlab.Pack("cnn", data, batch=32, epochs=20,
                       lanes=[dict(lr=0.01, momentum=0.9, dropout=0.3, seed=s) for s in range(8)])
    for ep in pack:                                # one epoch of every lane
        print(ep.epoch, ep.val_acc, ep.train_loss)  # NumPy arrays, one value per lane
    pack.save(0, "cnn-0.safetensors")
    probs = sgdlab.predict("cnn-0.safetensors", x)  # [N, classes]

A lane takes every per-lane setting of `sgdlab train`, by the name its flag has without
the dashes (underscores for dashes): lr, momentum, dropout, weight_decay, nesterov,
label_smoothing, beta1, beta2, eps, ema, seed, init ("xavier" or "uniform:LOW:HIGH"),
augment ("shift=2,rotate=10,scale=0.1,alpha=6,sigma=2.3", or its fields shift, rotate,
scale, elastic_alpha, elastic_sigma), schedule ("constant", "step:E:G", "cosine",
"cosine-per-step", "onecycle[:PCT]") and warmup (epochs). What is not given is
`train`'s default. The batch size, the optimizer and the model are the pack's.

Errors: a mistake in the arguments raises ValueError (or TypeError for a value of the
wrong type) with sgdlab's one-line message; an internal error raises RuntimeError.
"""
import numpy as _np

from . import _sgdlab

__all__ = ["Data", "Epoch", "Pack", "cuda_available", "load_data", "predict", "__version__"]
__version__ = _sgdlab.__version__


def cuda_available():
    """(True, "") when a GPU is usable for device="cuda", else (False, why)."""
    return _sgdlab._cuda_available()


def _images(x):
    """Images the engine reads as they are (uint8 or float32, C order, little-endian), or
    else converted once: other floating or integer types to float32."""
    a = _np.asarray(x)
    if a.dtype not in (_np.uint8, _np.float32) and a.dtype.kind in "fiub":
        return a.astype(_np.float32, order="C")
    return _np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), order="C", copy=False))


def _labels(y):
    """Integer labels as they are where little-endian (any width), else converted once."""
    a = _np.asarray(y)
    if a.dtype.kind in "iu":
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return _np.ascontiguousarray(a)


class Data:
    """A data set split into training, validation and test parts, scaled as the CLI does.

    Data(x_train, y_train, x_test, y_test, layout="nchw", normalize="none",
         val_fraction=0.2, split_seed=0)

    Images are uint8 or float32 NumPy arrays [N, H, W] or [N, C, H, W] (layout="nhwc":
    [N, H, W, C]); labels integer arrays [N]. uint8 pixels are divided by 255;
    normalize="standard" then standardises each channel with the training part's mean and
    standard deviation. A seeded val_fraction of the training images becomes the
    validation part, exactly as `sgdlab train --data FILE.npz --split-seed S` does.

    uint8 and float32 images in C order are read where they are, without a copy; other
    number types are converted to float32 once, and other layouts made C-ordered once.
    Labels of any integer type are read as they are. Either way the engine then holds
    its own float32 copy, so the arrays may change afterwards without changing the data.
    """

    def __init__(self, x_train, y_train, x_test, y_test, layout="nchw", normalize="none",
                 val_fraction=0.2, split_seed=0):
        self._data = _sgdlab._data_from_arrays(_images(x_train), _labels(y_train),
                                               _images(x_test), _labels(y_test), layout,
                                               normalize, float(val_fraction), int(split_seed))

    @classmethod
    def _wrap(cls, core):
        d = cls.__new__(cls)
        d._data = core
        return d

    train_size = property(lambda self: self._data.train_size, doc="training images")
    val_size = property(lambda self: self._data.val_size, doc="validation images")
    test_size = property(lambda self: self._data.test_size, doc="test images")
    image_shape = property(lambda self: self._data.image_shape, doc="(channels, height, width)")
    source = property(lambda self: self._data.source, doc="where the data came from")

    def __repr__(self):
        return (f"sgdlab.Data({self.source!r}: {self.train_size} train, {self.val_size} val, "
                f"{self.test_size} test, images {self.image_shape})")


def load_data(path="", format="auto", layout="nchw", normalize="none", val_fraction=0.2,
              split_seed=0, download=True):
    """The data set `sgdlab train --data PATH` reads: a USPS folder (zip.train.gz,
    zip.test.gz), an IDX folder (MNIST's files) or an .npz file (x_train, y_train, x_test,
    y_test); format "auto" recognises which. An empty path looks where the CLI looks
    ($SGDLAB_DATA, then data/usps) and, with download=True, downloads the USPS digits
    there. Returns a Data."""
    return Data._wrap(_sgdlab._load_data(str(path), format, layout, normalize,
                                         float(val_fraction), int(split_seed), bool(download)))


class Epoch:
    """One epoch of every lane of a pack: NumPy arrays with one value per lane.

    epoch (int, from 1), train_loss, train_acc, val_loss, val_acc, grad_mean_abs,
    grad_l2, lr (the rate used), diverged and pruned (bools), seconds (the epoch's wall
    time). A diverged or frozen lane keeps being reported, with its last weights.
    """

    __slots__ = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "grad_mean_abs",
                 "grad_l2", "lr", "diverged", "pruned", "seconds")

    def __init__(self, fields):
        for k in self.__slots__:
            setattr(self, k, fields[k])

    def __repr__(self):
        return f"sgdlab.Epoch({self.epoch}, val_acc={self.val_acc}, train_loss={self.train_loss})"


class Pack:
    """T lanes of one model and one batch size, trained together, epoch by epoch.

    Pack(model, data, batch=32, epochs=20, lanes=[{...}, ...], device="auto",
         optimizer="sgd", capture="step", eval_batch=512)

    model: a preset ("mlp", "cnn", "lcnn") or a model file (.json). data: a Data.
    lanes: one dict of settings per lane (see the package's help). device: "cpu",
    "cuda" or "auto" (CUDA when a GPU is usable). optimizer: "sgd", "adam" or "adamw".

    Iterating trains one epoch of every lane per step and yields an Epoch, until
    `epochs` are done. A lane trains bit for bit as `sgdlab train` with the same
    settings, alone or beside others. The GIL is released while the pack trains. Ctrl-C
    stops between two steps (with capture "step" or "none"; "epoch" records whole
    epochs): the pack is put back to the start of that epoch and KeyboardInterrupt is
    raised, so the pack stays usable.
    """

    def __init__(self, model, data, batch=32, epochs=20, lanes=None, device="auto",
                 optimizer="sgd", capture="step", eval_batch=512):
        if not isinstance(data, Data):
            raise TypeError(f"data: expected an sgdlab.Data, got {type(data).__name__}")
        if lanes is None:
            lanes = [{}]
        if isinstance(lanes, dict) or not hasattr(lanes, "__iter__"):
            raise TypeError("lanes: expected a list of dicts, one per lane")
        self._pack = _sgdlab._Pack(str(model), data._data, int(batch), int(epochs), list(lanes),
                                   str(device), str(optimizer), str(capture), int(eval_batch))
        self.model = str(model)
        self.batch = int(batch)

    lanes = property(lambda self: self._pack.lanes, doc="the number of lanes")
    epochs = property(lambda self: self._pack.epochs, doc="the epochs the pack trains")
    epochs_done = property(lambda self: self._pack.epochs_done, doc="epochs trained so far")
    steps_per_epoch = property(lambda self: self._pack.steps_per_epoch)
    device = property(lambda self: self._pack.device, doc="the device, in words")
    notes = property(lambda self: self._pack.notes,
                     doc="what choosing the device said (device=\"auto\" without a GPU)")

    def __iter__(self):
        while self.epochs_done < self.epochs:
            yield self.train_epoch()

    def __len__(self):
        return self.epochs

    def train_epoch(self):
        """Trains one epoch of every lane and evaluates on validation; returns an Epoch."""
        return Epoch(self._pack.train_epoch())

    def freeze(self, lane):
        """Stops lane `lane`'s updates (a pruned trial); the others go on."""
        self._pack.freeze(int(lane))

    def evaluate(self, split="test"):
        """(loss, accuracy) per lane on "train", "val" or "test", as NumPy arrays."""
        r = self._pack.evaluate(split)
        return r["loss"], r["acc"]

    def probabilities(self, split="test"):
        """Softmax outputs [N, lanes, classes] over a split, in its order."""
        return self._pack.probabilities(split)

    def save(self, lane, path):
        """Saves lane `lane` as a model checkpoint, as `sgdlab train` saves
        models/lane-T.safetensors: for `sgdlab predict`, `predict` and tools/to_pytorch.py."""
        self._pack.save(int(lane), str(path))

    def parameters(self, lane):
        """Lane `lane`'s weights (those evaluation uses), flat float32."""
        return self._pack.lane_parameters(int(lane))

    def settings(self, lane):
        """The settings lane `lane` trains with, as runs record them."""
        return self._pack.lane_settings(int(lane))

    def __repr__(self):
        return (f"sgdlab.Pack({self.model!r}, {self.lanes} lanes, batch {self.batch}, "
                f"{self.epochs_done}/{self.epochs} epochs, {self.device})")


def predict(checkpoint, x, layout="nchw", device="auto", tta_shift=0):
    """Class probabilities [N, classes] of a saved network (a model checkpoint) for
    images x (uint8 or float32, [N, H, W] or [N, C, H, W]), scaled as it was trained,
    averaged over test-time shifts of tta_shift pixels when > 0 (as `sgdlab predict`)."""
    return _sgdlab._predict(str(checkpoint), _images(x), layout, device, int(tta_shift))
