#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a tiny synthetic MNIST-format data set (standard library only).

  gen_data.py DIR [N_TRAIN [N_TEST [SEED]]]

Image of label k: a bright vertical bar two pixels wide at column 3 + 2k over a random run of
rows, shifted by up to one column, plus uniform noise, so the ten classes are learnable in a few steps but not trivially equal.
The training images and the test labels are gzip'ed, the other two files are raw, so both
readers are exercised.
"""
import gzip
import random
import struct
import sys


def images(rng, labels):
    out = bytearray()
    for k in labels:
        img = [rng.randrange(0, 100) for _ in range(28 * 28)]
        top = rng.randrange(2, 12)
        bottom = rng.randrange(16, 26)
        col = 3 + 2 * k + rng.randrange(-1, 2)
        for r in range(top, bottom):
            for c in (col, col + 1):
                img[r * 28 + c] = rng.randrange(120, 256)
        out += bytes(img)
    return bytes(out)


def write(path, data, gz):
    if gz:
        with gzip.open(path + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    d = sys.argv[1]
    n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    n_test = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    for prefix, n, gz_img, gz_lab in (("train", n_train, True, False), ("t10k", n_test, False, True)):
        labels = [i % 10 for i in range(n)]
        rng.shuffle(labels)
        write(f"{d}/{prefix}-images-idx3-ubyte", struct.pack(">IIII", 2051, n, 28, 28) + images(rng, labels), gz_img)
        write(f"{d}/{prefix}-labels-idx1-ubyte", struct.pack(">II", 2049, n) + bytes(labels), gz_lab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
