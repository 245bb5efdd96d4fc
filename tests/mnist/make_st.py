#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a seed-network state dict of zeros as safetensors (standard library only).

  make_st.py PATH [WRONG_NAME]

With WRONG_NAME (e.g. fc2.weight) that tensor's first dimension is halved, so loading it into
the seed network must fail with a shape error naming it. No metadata: a weights-only file.
"""
import json
import struct
import sys

SHAPES = {
    "conv1.weight": [32, 1, 3, 3], "conv1.bias": [32],
    "conv2.weight": [64, 32, 3, 3], "conv2.bias": [64],
    "fc1.weight": [128, 9216], "fc1.bias": [128],
    "fc2.weight": [10, 128], "fc2.bias": [10],
}


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        return 2
    wrong = sys.argv[2] if len(sys.argv) == 3 else None
    header, off, sizes = {}, 0, []
    for name in sorted(SHAPES):
        shape = list(SHAPES[name])
        if name == wrong:
            shape[0] //= 2
        n = 4
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + n]}
        sizes.append(n)
        off += n
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for n in sizes:
            f.write(bytes(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
