"""sgdlab.Pack against `sgdlab train`: the same lane, bit for bit, from files and from
NumPy; predictions; Ctrl-C between steps; and the exceptions a user's mistakes raise."""
import _thread
import json
import os
import subprocess
import threading
import time

import numpy as np
import pytest

import sgdlab

LANES = [dict(lr=0.05, momentum=0.9, dropout=0.1, seed=1, augment="shift=1,rotate=5",
              schedule="cosine", weight_decay=5e-4, nesterov=True, warmup=1),
         dict(lr=0.1, momentum=0.9, dropout=0.1, seed=2, augment="shift=1,rotate=5",
              schedule="cosine", weight_decay=5e-4, nesterov=True, warmup=1)]
CLI_FLAGS = ["--lr", "0.05,0.1", "--momentum", "0.9", "--dropout", "0.1", "--seed", "1,2",
             "--augment", "shift=1,rotate=5", "--schedule", "cosine", "--weight-decay", "5e-4",
             "--nesterov", "--warmup", "1"]
# Every other kind of setting: AdamW, the moving average, label smoothing, a uniform
# initialisation, one-cycle, and the elastic distortion given as fields.
ADAMW_LANES = [dict(lr=0.002, seed=s, beta1=0.85, beta2=0.995, eps=1e-7, weight_decay=0.01,
                    ema=0.9, label_smoothing=0.1, init="uniform:-0.05:0.05",
                    schedule="onecycle:0.3", shift=1, elastic_alpha=4, elastic_sigma=2)
               for s in (3, 4)]
ADAMW_FLAGS = ["--optimizer", "adamw", "--lr", "0.002", "--seed", "3,4", "--beta1", "0.85",
               "--beta2", "0.995", "--eps", "1e-7", "--weight-decay", "0.01", "--ema", "0.9",
               "--label-smoothing", "0.1", "--init", "uniform:-0.05:0.05", "--schedule",
               "onecycle:0.3", "--augment", "shift=1,alpha=4,sigma=2"]


def train_cli(binary, data, out, model="mlp", epochs=3, batch=32, flags=CLI_FLAGS):
    subprocess.run([binary, "train", "--model", model, "--data", data, "--epochs", str(epochs),
                    "--batch", str(batch), "--device", "cpu", "--quiet", "--save", "--out", str(out)]
                   + flags, check=True, capture_output=True)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def read_safetensors(path):
    """Every tensor of a .safetensors file as float32 arrays (its published format:
    an 8-byte little-endian header length, a JSON header, then the data)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                             dtype=np.float32) for k, v in header.items()}


def train_python(data, tmp_path, model="mlp", epochs=3, batch=32, lanes=LANES, optimizer="sgd"):
    pack = sgdlab.Pack(model, data, batch=batch, epochs=epochs, lanes=lanes, device="cpu",
                       optimizer=optimizer)
    rows = [ep for ep in pack]
    for t in range(pack.lanes):
        pack.save(t, tmp_path / f"py-{t}.safetensors")
    return pack, rows


def expect_same_metrics(rows, metrics, lanes):
    assert len(metrics) == len(rows) * lanes
    for m in metrics:
        ep = rows[m["epoch"] - 1]
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "grad_mean_abs", "lr"):
            assert getattr(ep, key)[m["lane"]] == m[key], (key, m["epoch"], m["lane"])


@pytest.mark.parametrize("lanes, flags, optimizer", [(LANES, CLI_FLAGS, "sgd"),
                                                     (ADAMW_LANES, ADAMW_FLAGS, "adamw")])
def test_a_lane_trains_bit_for_bit_as_the_cli(binary, npz, tmp_path, lanes, flags, optimizer):
    metrics = train_cli(binary, npz, tmp_path / "cli", flags=flags)
    pack, rows = train_python(sgdlab.load_data(npz), tmp_path, lanes=lanes, optimizer=optimizer)
    assert [ep.epoch for ep in rows] == [1, 2, 3]
    expect_same_metrics(rows, metrics, 2)
    for t in range(2):  # the saved model files, byte for byte
        with open(tmp_path / f"py-{t}.safetensors", "rb") as a, \
                open(tmp_path / "cli" / "models" / f"lane-{t}.safetensors", "rb") as b:
            assert a.read() == b.read()
    assert pack.settings(1)["lr"] == pytest.approx(lanes[1]["lr"])


def test_numpy_data_trains_as_the_same_npz_read_by_the_cli(binary, npz, arrays, tmp_path):
    metrics = train_cli(binary, npz, tmp_path / "cli")
    x_train, y_train, x_test, y_test = arrays
    data = sgdlab.Data(x_train, y_train, x_test, y_test)
    assert (data.train_size, data.val_size, data.test_size) == (480, 120, 200)
    pack, rows = train_python(data, tmp_path)
    expect_same_metrics(rows, metrics, 2)
    cli = read_safetensors(tmp_path / "cli" / "models" / "lane-0.safetensors")
    ours = read_safetensors(tmp_path / "py-0.safetensors")
    assert cli.keys() == ours.keys()
    for k in cli:
        assert np.array_equal(cli[k], ours[k]), k
    # Predictions from either file are the same, and equal `sgdlab predict`'s accuracy.
    p_ours = sgdlab.predict(tmp_path / "py-0.safetensors", x_test, device="cpu")
    p_cli = sgdlab.predict(tmp_path / "cli" / "models" / "lane-0.safetensors", x_test,
                           device="cpu")
    assert p_ours.shape == (200, 10) and p_ours.dtype == np.float32
    assert np.array_equal(p_ours, p_cli)
    np.testing.assert_allclose(p_ours.sum(axis=1), 1, rtol=1e-5)
    _, acc = pack.evaluate("test")
    assert np.mean(p_ours.argmax(axis=1) == y_test) == pytest.approx(acc[0], abs=1e-12)


def test_arrays_of_other_dtypes_and_layouts_are_converted_once(arrays):
    x_train, y_train, x_test, y_test = arrays
    base = sgdlab.Data(x_train, y_train, x_test, y_test)
    # float64, Fortran order, int32 labels: the same data set.
    other = sgdlab.Data(np.asfortranarray(x_train.astype(np.float64)), y_train.astype(np.int32),
                        x_test.astype(np.float64), y_test.astype(np.uint8))
    lanes = [dict(lr=0.05, seed=3)]
    a = [ep.val_acc[0] for ep in sgdlab.Pack("mlp", base, epochs=2, lanes=lanes, device="cpu")]
    b = [ep.val_acc[0] for ep in sgdlab.Pack("mlp", other, epochs=2, lanes=lanes, device="cpu")]
    assert a == b


def test_a_frozen_lane_stops_and_the_others_go_on(npz):
    pack = sgdlab.Pack("mlp", sgdlab.load_data(npz), epochs=3, lanes=LANES, device="cpu")
    first = pack.train_epoch()
    w = pack.parameters(1).copy()
    pack.freeze(1)
    rest = [pack.train_epoch() for _ in range(2)]
    assert np.array_equal(pack.parameters(1), w)
    assert rest[-1].pruned.tolist() == [False, True]
    assert rest[-1].train_loss[0] != first.train_loss[0]
    with pytest.raises(ValueError, match="trained its 3 epochs"):
        pack.train_epoch()


def test_ctrl_c_stops_between_steps_and_leaves_the_pack_usable(npz):
    data = sgdlab.load_data(npz)
    lanes = [dict(lr=0.05, seed=4)]

    def make():
        return sgdlab.Pack("cnn", data, batch=8, epochs=2, lanes=lanes, device="cpu")

    reference = [ep.val_loss[0] for ep in make()]
    start = time.perf_counter()
    make().train_epoch()
    epoch_seconds = time.perf_counter() - start
    # Each epoch: a first try that a Ctrl-C (from a timer, a third into it) stops, then
    # one that runs to its end. On a loaded machine the timer can fire as the epoch ends,
    # and Python then raises the interrupt just after train_epoch returned (the epoch done,
    # its result lost): that attempt starts again with a fresh pack, at most 5 times.
    for attempt in range(5):
        pack, interrupted, losses, late = make(), 0, [], False
        while pack.epochs_done < pack.epochs and not late:
            done = pack.epochs_done
            timer = threading.Timer(epoch_seconds * 0.3, _thread.interrupt_main)
            timer.start()
            try:
                ep = pack.train_epoch()
            except KeyboardInterrupt:
                timer.join()
                late = pack.epochs_done == done + 1
                if late:
                    break
                assert pack.epochs_done == done
                interrupted += 1
                ep = pack.train_epoch()
            else:  # the epoch was faster than the timer: an interrupt that lands late is dropped
                timer.cancel()
                try:
                    timer.join()
                    time.sleep(0.1)
                except KeyboardInterrupt:
                    pass
            losses.append(ep.val_loss[0])
        if not late:
            break
    assert not late, "every attempt's interrupt landed after its epoch ended"
    assert interrupted >= 1
    assert losses == reference


@pytest.mark.parametrize("call, error, message", [
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(lr=-1)]), ValueError,
     r"lanes\[0\]: lr: expected a learning rate > 0"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(lr=0.1), dict(learning_rate=0.1)]), ValueError,
     r"lanes\[1\]: unknown setting 'learning_rate'"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(lr="fast")]), TypeError,
     r"lanes\[0\]: lr: expected a number"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(schedule="sometimes")]), ValueError,
     r"lanes\[0\]: schedule: expected constant"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(seed=-1)]), ValueError, r"seed: expected"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(seed="7")]), TypeError, r"seed: expected an int"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(schedule=3)]), TypeError,
     r"schedule: expected text"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(lr=True)]), TypeError, r"lr: expected a number"),
    (lambda d: sgdlab.Pack("vgg", d), ValueError, r"vgg: expected a preset"),
    (lambda d: sgdlab.Pack("mlp", d, batch=0), ValueError, r"batch"),
    (lambda d: sgdlab.Pack("mlp", d, device="tpu"), ValueError, r"tpu"),
    (lambda d: sgdlab.Pack("mlp", d, optimizer="lion"), ValueError, r"lion"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[dict(nesterov=True)], optimizer="adam"), ValueError,
     r"nesterov"),
    (lambda d: sgdlab.Pack("mlp", "data/usps"), TypeError, r"expected an sgdlab.Data"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=dict(lr=0.1)), TypeError, r"list of dicts"),
    (lambda d: sgdlab.Pack("mlp", d, lanes=[0.1]), TypeError, r"expected a dict"),
    (lambda d: sgdlab.Pack("mlp", d).evaluate("dev"), ValueError, r"split"),
    (lambda d: sgdlab.Pack("mlp", d).freeze(3), IndexError, r"lane 3"),
    (lambda d: sgdlab.load_data("/nonexistent/data"), ValueError, r"nonexistent"),
    (lambda d: sgdlab.predict("/nonexistent.safetensors", np.zeros((2, 16, 16), np.float32)),
     ValueError, r"nonexistent"),
    (lambda d: sgdlab.Data(np.zeros((4, 16, 16), np.float32), np.zeros(3, np.int64),
                           np.zeros((2, 16, 16), np.float32), np.zeros(2, np.int64)),
     ValueError, r"x_train has 4 images but y_train has 3 labels"),
    (lambda d: sgdlab.Data([[1.0]], np.zeros(1, np.int64), np.zeros((2, 16, 16), np.float32),
                           np.zeros(2, np.int64)), ValueError, r"x_train: expected images"),
    (lambda d: sgdlab.Data(np.zeros((4, 16, 16), np.float32), np.zeros(4, np.float32),
                           np.zeros((2, 16, 16), np.float32), np.zeros(2, np.int64)),
     ValueError, r"y_train: expected integer labels"),
])
def test_mistakes_raise_the_right_exception(npz, call, error, message):
    with pytest.raises(error, match=message):
        call(sgdlab.load_data(npz))


def test_a_cuda_pack_trains_as_the_cpu_one(npz):
    """The CUDA path from Python; skips where no GPU is usable (the CPU machines of CI)."""
    ok, why = sgdlab.cuda_available()
    if not ok:
        pytest.skip(f"no usable GPU: {why}")
    data = sgdlab.load_data(npz)
    cpu = [ep for ep in sgdlab.Pack("cnn", data, epochs=2, lanes=LANES, device="cpu")]
    gpu = sgdlab.Pack("cnn", data, epochs=2, lanes=LANES, device="cuda")
    assert "cpu" not in gpu.device.lower()
    rows = [ep for ep in gpu]
    # Summation order differs: the losses agree closely, not bit for bit.
    np.testing.assert_allclose(rows[0].train_loss, cpu[0].train_loss, rtol=1e-3)
    np.testing.assert_allclose(rows[-1].val_acc, cpu[-1].val_acc, atol=0.03)
