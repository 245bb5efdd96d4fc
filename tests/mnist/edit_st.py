#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Rewrite a safetensors file with edits (standard library only), for tests that tamper with
checkpoints.

  edit_st.py IN OUT [EDIT...]

EDIT is one of
  meta:KEY=VALUE     set metadata KEY to VALUE (VALUE may be empty)
  drop:NAME          remove tensor NAME; NAME ending in '*' removes every tensor with that prefix
  rename:OLD=NEW     rename tensor OLD to NEW
  nan:NAME           set the first element of F32 tensor NAME to NaN
"""
import json
import struct
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    raw = open(sys.argv[1], "rb").read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    meta = header.pop("__metadata__", {})
    tensors = {k: (v["dtype"], v["shape"], bytearray(raw[base + v["data_offsets"][0]:base + v["data_offsets"][1]]))
               for k, v in header.items()}
    for e in sys.argv[3:]:
        op, _, arg = e.partition(":")
        if op == "meta":
            k, _, v = arg.partition("=")
            meta[k] = v
        elif op == "drop":
            names = [n for n in tensors if (n.startswith(arg[:-1]) if arg.endswith("*") else n == arg)]
            if not names:
                sys.exit(f"edit_st.py: no tensor {arg}")
            for n in names:
                del tensors[n]
        elif op == "rename":
            old, _, new = arg.partition("=")
            tensors[new] = tensors.pop(old)
        elif op == "nan":
            tensors[arg][2][0:4] = struct.pack("<f", float("nan"))
        else:
            sys.exit(f"edit_st.py: bad edit {e}")
    out, off, blobs = {}, 0, []
    if meta:
        out["__metadata__"] = meta
    for name in sorted(tensors):
        dt, shape, data = tensors[name]
        out[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(bytes(data))
        off += len(data)
    h = json.dumps(out).encode()
    h += b" " * (-len(h) % 8)
    with open(sys.argv[2], "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
