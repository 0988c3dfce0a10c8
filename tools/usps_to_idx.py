#!/usr/bin/env python3
"""The USPS files as an IDX (MNIST-format) data set: each 16x16 image padded to 28x28
with its background and [-1, 1] mapped to 0..255, so that models made for MNIST-sized
images can be tried on the digits shipped with sgdlab.

usage: tools/usps_to_idx.py [--usps data/usps] OUT_DIR
"""
import argparse
import gzip
import os
import struct


def read_usps(path):
    images, labels = [], []
    with gzip.open(path, "rt") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            labels.append(int(float(fields[0])))
            images.append([float(v) for v in fields[1:]])
    return images, labels


def write_idx(out_dir, prefix, images, labels):
    pixels = bytearray()
    for img in images:
        padded = [0] * (28 * 28)
        for r in range(16):
            for c in range(16):
                padded[(r + 6) * 28 + c + 6] = round((img[r * 16 + c] + 1) * 127.5)
        pixels += bytes(padded)
    with gzip.open(os.path.join(out_dir, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, len(images), 28, 28) + pixels)
    with gzip.open(os.path.join(out_dir, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, len(labels)) + bytes(labels))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--usps", default=os.path.join(os.path.dirname(__file__), "..", "data", "usps"))
    ap.add_argument("out")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name, prefix in (("zip.train.gz", "train"), ("zip.test.gz", "t10k")):
        images, labels = read_usps(os.path.join(a.usps, name))
        write_idx(a.out, prefix, images, labels)
        print(f"{prefix}: {len(images)} images")


if __name__ == "__main__":
    main()
