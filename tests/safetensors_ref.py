#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A reference safetensors reader/writer in json + numpy, for tests/test_safetensors.c.

  safetensors_ref.py write PATH   write the tensors of expected_written() (F32, F64, I64, a scalar,
                                  a unicode name) with metadata, for cgrad to read
  safetensors_ref.py check PATH   read a file cgrad wrote and compare it with expected_read()
Exit status 0 on success, 1 with a message on mismatch.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def write(path, tensors, meta):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name in sorted(tensors):
        a = tensors[name]
        code = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")  # ensure_ascii: non-ASCII names become \\uXXXX escapes
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    return out, meta, n


def expected_written():
    return {
        "f32": (np.arange(6, dtype="<f4") * 0.5 - 1).reshape(2, 3),
        "f64": np.array([1.5, -2.25, 1e-3], dtype="<f8"),
        "i64": np.array([[1, -2], [3, 4000000000]], dtype="<i8"),
        "scalar": np.array(3.5, dtype="<f4"),
        "caf\u00e9/\u4e2d\"q": np.array([7.0], dtype="<f4"),
    }, {"framework": "numpy", "note": "\u03c0 \u2248 3.14"}


def expected_read():
    a = (np.arange(6, dtype="<f4") * 0.25 - 0.5).reshape(2, 3)
    b = np.array([1e-8, -3.0, 65504.0, 1.0 / 3.0], dtype="<f4")
    return {"a": a, "b.weight": b}, {"epoch": "7"}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        print(__doc__)
        return 2
    path = sys.argv[2]
    if sys.argv[1] == "write":
        write(path, *expected_written())
        return 0
    got, meta, n = read(path)
    want, want_meta = expected_read()
    if n % 8:
        print(f"header length {n} is not a multiple of 8")
        return 1
    if meta != want_meta:
        print(f"metadata {meta} != {want_meta}")
        return 1
    if sorted(got) != sorted(want):
        print(f"names {sorted(got)} != {sorted(want)}")
        return 1
    for k, w in want.items():
        g = got[k]
        if g.dtype != w.dtype or g.shape != w.shape or g.tobytes() != w.tobytes():
            print(f"tensor {k}: got {g.dtype} {g.shape} {g}, want {w.dtype} {w.shape} {w}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
