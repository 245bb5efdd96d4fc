# SPDX-License-Identifier: MIT
"""safetensors files in NumPy and the standard library (no `safetensors` package needed).

  read(path) -> (tensors, metadata)   an OrderedDict name -> np.ndarray (little-endian, file
                                      order by offset), and the "__metadata__" dict of strings
  write(path, tensors, metadata)      atomically; the bytes cgrad's cg_safetensors_save writes for
                                      the same tensors and metadata (names and keys sorted
                                      bytewise, compact JSON, header padded with spaces to 8)

The reader checks what cgrad's does: the header length against the file size, a JSON object of
entries with dtype, shape and data_offsets that tile the data section exactly. BF16 is read as
float32 (NumPy has no bfloat16). Errors raise SafetensorsError naming the file and the problem.
"""
import json
import struct
from collections import OrderedDict

import numpy as np

from .fileio import atomic_write, read_input

MAX_HEADER = 100_000_000  # cgrad's limit (lib/io/safetensors.c)

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_CODES = {np.dtype(v): k for k, v in DTYPES.items()}


class SafetensorsError(ValueError):
    """A file that is not a well-formed safetensors file, or tensors that cannot be written."""


def _json_str(s):
    """cgrad's JSON string spelling (sb_json): UTF-8 kept, '"' '\\' '\\n' '\\t' escaped, other
    control characters as \\u00XX."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf8_key(s):
    return s.encode("utf-8")


def encode(tensors, metadata=None):
    """The file's bytes for tensors (a mapping name -> array-like) and metadata (str -> str)."""
    metadata = dict(metadata or {})
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise SafetensorsError(f"metadata {k!r}: keys and values must be strings (got {type(v).__name__})")
    arrays = []
    for name, a in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise SafetensorsError(f"tensor name {name!r}: must be a string other than __metadata__")
        a = np.asarray(a)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in _CODES:
            raise SafetensorsError(f"tensor {name!r}: dtype {a.dtype} has no safetensors code "
                                   f"(one of {', '.join(sorted(DTYPES))})")
        arrays.append((name, _CODES[dt], np.asarray(a, dtype=dt, order="C")))  # (ascontiguousarray makes 0-d 1-d)
    arrays.sort(key=lambda e: _utf8_key(e[0]))
    parts = ["{"]
    if metadata:
        parts.append('"__metadata__":{' + ",".join(f"{_json_str(k)}:{_json_str(metadata[k])}"
                                                   for k in sorted(metadata, key=_utf8_key)) + "}")
    off = 0
    for i, (name, code, a) in enumerate(arrays):
        if i or metadata:
            parts.append(",")
        end = off + a.nbytes
        parts.append(f'{_json_str(name)}:{{"dtype":"{code}","shape":[{",".join(str(d) for d in a.shape)}],'
                     f'"data_offsets":[{off},{end}]}}')
        off = end
    parts.append("}")
    header = "".join(parts).encode("utf-8")
    header += b" " * (-len(header) % 8)
    return b"".join([struct.pack("<Q", len(header)), header] + [a.tobytes() for _, _, a in arrays])


def write(path, tensors, metadata=None):
    """Write tensors and metadata to path atomically (a temporary file in its directory, then a
    rename); path must not be a symlink."""
    atomic_write(path, encode(tensors, metadata))


def decode(raw, name="<bytes>"):
    """(tensors, metadata) of a file's bytes; name is used in messages."""
    def bad(msg):
        return SafetensorsError(f"{name}: {msg}")
    if len(raw) < 8:
        raise bad(f"truncated: {len(raw)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER:
        raise bad(f"header length {n} exceeds the 100 MB limit (not a safetensors file?)")
    if 8 + n > len(raw):
        raise bad(f"truncated: header length {n} but only {len(raw) - 8} bytes follow")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=_no_dup_pairs)
    except (UnicodeDecodeError, ValueError) as e:
        raise bad(f"the header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise bad("the header must be a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise bad("__metadata__ must be an object of strings")
    data = memoryview(raw)[8 + n:]
    entries = []
    for tname, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"tensor {tname!r}: an entry needs exactly dtype, shape and data_offsets")
        code, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if code not in DTYPES and code != "BF16":
            raise bad(f"tensor {tname!r}: unknown dtype {code!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise bad(f"tensor {tname!r}: shape {shape!r} is not a list of sizes")
        if not (isinstance(offs, list) and len(offs) == 2 and all(type(o) is int for o in offs)
                and 0 <= offs[0] <= offs[1] <= len(data)):
            raise bad(f"tensor {tname!r}: data_offsets {offs!r} outside the data section of {len(data)} bytes")
        size = 2 if code == "BF16" else np.dtype(DTYPES[code]).itemsize
        numel = int(np.prod(shape, dtype=object)) if shape else 1
        if numel * size != offs[1] - offs[0]:
            raise bad(f"tensor {tname!r}: dtype {code} x shape {shape} needs {numel * size} bytes, data_offsets "
                      f"span {offs[1] - offs[0]}")
        entries.append((offs[0], offs[1], tname, code, shape))
    entries.sort()
    pos = 0
    out = OrderedDict()
    for b, end, tname, code, shape in entries:
        if b != pos:
            raise bad(f"tensor {tname!r}: data_offsets [{b}, {end}] leave a gap or overlap at byte {pos}")
        pos = end
        if code == "BF16":
            u = np.frombuffer(data[b:end], dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32).reshape(shape)
        else:
            arr = np.frombuffer(data[b:end], dtype=DTYPES[code]).reshape(shape).copy()
        out[tname] = arr
    if pos != len(data):
        raise bad(f"the tensors cover {pos} of the data section's {len(data)} bytes")
    return out, meta


def _no_dup_pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def read(path):
    """(tensors, metadata) of the safetensors file at path."""
    try:
        raw = read_input(path, "safetensors file")
    except OSError as e:
        raise SafetensorsError(str(e)) from None
    return decode(raw, path)
