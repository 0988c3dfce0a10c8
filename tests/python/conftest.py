"""Shared fixtures of the Python tests: the sgdlab binary, and a small slice of the USPS
digits as an .npz file and as NumPy arrays. Run by ctest (tests/CMakeLists.txt), which
sets PYTHONPATH to build/python, SGDLAB_BINARY and SGDLAB_TEST_DATA."""
import gzip
import os

import numpy as np
import pytest


def _read_usps(path, rows):
    """The first `rows` lines of an ESL zip.*.gz file: labels, and images [N, 16, 16]."""
    labels, images = [], []
    with gzip.open(path, "rt") as f:
        for line, _ in zip(f, range(rows)):
            v = line.split()
            labels.append(int(float(v[0])))
            images.append([float(x) for x in v[1:257]])
    return (np.asarray(images, dtype=np.float32).reshape(-1, 16, 16),
            np.asarray(labels, dtype=np.int64))


@pytest.fixture(scope="session")
def binary():
    return os.environ["SGDLAB_BINARY"]


@pytest.fixture(scope="session")
def arrays():
    """x_train, y_train, x_test, y_test: 600 training and 200 test digits, float32."""
    root = os.environ["SGDLAB_TEST_DATA"]
    x_train, y_train = _read_usps(os.path.join(root, "zip.train.gz"), 600)
    x_test, y_test = _read_usps(os.path.join(root, "zip.test.gz"), 200)
    return x_train, y_train, x_test, y_test


@pytest.fixture(scope="session")
def npz(arrays, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "usps-small.npz"
    x_train, y_train, x_test, y_test = arrays
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)
