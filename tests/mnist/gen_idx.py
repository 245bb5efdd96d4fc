#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a small learnable image set as IDX files of any element type (standard library only).

  gen_idx.py PREFIX N C H W CLASSES TYPE [SEED [LABEL_TYPE]]

writes PREFIX-images.idx ([N, C, H, W], or [N, H, W] when C is 0) and PREFIX-labels.idx ([N]).
TYPE and LABEL_TYPE are IDX element types: u8 i8 i16 i32 f32 f64 (labels: u8 i8 i16 i32;
default i32). Example i has label k = i % CLASSES: noise, plus a bright square in channel
k % C whose position is k // C on a diagonal, so a small CNN learns it in a few steps. Values are
0..255 for u8, else that divided by 255 (signed and short types keep the 0..255 scale).
"""
import random
import struct
import sys

CODES = {"u8": (0x08, "B"), "i8": (0x09, "b"), "i16": (0x0B, "h"), "i32": (0x0C, "i"),
         "f32": (0x0D, "f"), "f64": (0x0E, "d")}


def write(path, code, fmt, dims, values):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, code, len(dims)))
        f.write(struct.pack(">%dI" % len(dims), *dims))
        f.write(struct.pack(">%d%s" % (len(values), fmt), *values))


def main(argv):
    if len(argv) < 8:
        sys.exit(__doc__)
    prefix = argv[1]
    n, c, h, w, classes = (int(a) for a in argv[2:7])
    typ = argv[7]
    seed = int(argv[8]) if len(argv) > 8 else 0
    ltyp = argv[9] if len(argv) > 9 else "i32"
    rng = random.Random(seed)
    planes = max(c, 1)
    side = max(2, min(h, w) // 4)
    vals, labels = [], []
    for i in range(n):
        k = i % classes
        labels.append(k)
        img = [[rng.randrange(0, 90) for _ in range(h * w)] for _ in range(planes)]
        ch, pos = k % planes, k // planes
        r0 = min(h - side, pos * side)
        c0 = min(w - side, pos * side)
        for r in range(r0, r0 + side):
            for q in range(c0, c0 + side):
                img[ch][r * w + q] = rng.randrange(170, 256)
        for p in img:
            vals.extend(p)
    code, fmt = CODES[typ]
    if typ in ("f32", "f64"):
        vals = [v / 255.0 for v in vals]
    elif typ == "i8":
        vals = [v - 128 for v in vals]
    dims = [n, c, h, w] if c else [n, h, w]
    write(prefix + "-images.idx", code, fmt, dims, vals)
    lcode, lfmt = CODES[ltyp]
    write(prefix + "-labels.idx", lcode, lfmt, [n], labels)


if __name__ == "__main__":
    main(sys.argv)
