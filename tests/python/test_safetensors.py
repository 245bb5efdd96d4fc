#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""cgrad.safetensors and cgrad.checkpoint without PyTorch: round trips of every dtype, a 0-d
tensor and non-ASCII names; the bytes of a file cgrad wrote (net_run save: cg_checkpoint_save)
rewritten by the package are the same bytes; the reference writer's file (tests/safetensors_ref.py)
reads back; malformed files are refused with the file's name; a model-only checkpoint written here
is read back by cgrad (net_run) with the same outputs as the file cgrad wrote.

  test_safetensors.py NET_RUN BIN_DIR     exit 0 pass, 1 fail
"""
import os
import struct
import subprocess
import sys

from common import SRC, Checks, net_run, tmpdir  # noqa: E402

import numpy as np  # noqa: E402

from cgrad import checkpoint, safetensors  # noqa: E402

NET_RUN = sys.argv[1]
SPEC = "c=conv2d(1,3,3,padding=1) batch_norm2d(3) relu residual(conv2d(3,3,1) relu) max_pool2d(2) flatten " \
       "linear(48,5) log_softmax"


def main():
    work = tmpdir()

    def round_trip():
        t = {"f32": np.arange(6, dtype=np.float32).reshape(2, 3) / 7, "f64": np.array([1e-300, -2.5]),
             "i64": np.array([[1, -2], [3, 4000000000]], dtype=np.int64), "scalar": np.array(3.5, np.float32),
             "u8": np.arange(5, dtype=np.uint8), "i32": np.array([-7], np.int32), "f16": np.array([0.5], np.float16),
             "b": np.array([True, False]), "caf\u00e9/\u4e2d\"q\\\n": np.zeros((0, 3), np.float32)}
        meta = {"format": "x", "note": "\u03c0 \u2248 3.14\t\"q\"\n", "\u00e9": ""}
        p = os.path.join(work, "rt.safetensors")
        safetensors.write(p, t, meta)
        got, gm = safetensors.read(p)
        assert gm == meta, gm
        assert sorted(got) == sorted(t)
        for k, v in t.items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape and got[k].tobytes() == v.tobytes(), k
        raw = open(p, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        assert n % 8 == 0 and raw[8 + n - 1:8 + n] in (b" ", b"}")

    def bytes_equal_cgrad():
        p = os.path.join(work, "c.safetensors")
        r = subprocess.run([NET_RUN, "save", SPEC, "1,8,8", "3", p], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        t, meta = safetensors.read(p)
        assert t["1.num_batches_tracked"].dtype == np.int64 and t["1.num_batches_tracked"].shape == ()
        assert meta["net"].startswith("c=conv2d(1,3,3,padding=1)"), meta
        q = os.path.join(work, "c2.safetensors")
        safetensors.write(q, t, meta)
        assert open(p, "rb").read() == open(q, "rb").read(), "the package's bytes differ from cgrad's"
        # a model-only checkpoint of those tensors: cgrad computes the same outputs from it
        ck = checkpoint.load(p)
        assert ck.spec == meta["net"] and "optim.lr" not in ck.model
        m = os.path.join(work, "m.safetensors")
        checkpoint.save(m, ck.model, ck.spec, loss="nll", normalize="none")
        _, mm = safetensors.read(m)
        assert mm == {"format": "cgrad-run-v1", "net": ck.spec, "loss": "nll", "data.normalize": "none"}, mm
        x = np.random.RandomState(1).uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32)
        a, b = net_run(NET_RUN, p, x, work), net_run(NET_RUN, m, x, work)
        assert a.shape == (4, 5) and np.array_equal(a, b)

    def reads_the_reference():
        sys.path.insert(0, os.path.join(SRC, "tests"))
        import safetensors_ref
        p = os.path.join(work, "ref.safetensors")
        safetensors_ref.write(p, *safetensors_ref.expected_written())
        got, meta = safetensors.read(p)
        want, want_meta = safetensors_ref.expected_written()
        assert meta == want_meta and sorted(got) == sorted(want)
        for k in want:
            assert got[k].tobytes() == want[k].tobytes() and got[k].shape == want[k].shape, k

    def refuses_bad_files():
        good = safetensors.encode({"a": np.ones(4, np.float32), "b": np.zeros(2, np.float32)}, {"k": "v"})
        (n,) = struct.unpack("<Q", good[:8])
        cases = {
            "short": good[:5],
            "truncated": good[:-1],
            "long": good + b"\0" * 4,
            "huge header": struct.pack("<Q", 1 << 40) + good[8:],
            "not json": good[:8] + b"{" * n + good[8 + n:],
            "gap": good.replace(b'"data_offsets":[16,24]', b'"data_offsets":[17,25]'),
            "dtype": good.replace(b'"F32"', b'"F99"', 1),
            "shape": good.replace(b'"shape":[4]', b'"shape":[5]'),
        }
        for name, raw in cases.items():
            p = os.path.join(work, "bad.safetensors")
            with open(p, "wb") as f:
                f.write(raw)
            try:
                safetensors.read(p)
            except safetensors.SafetensorsError as e:
                assert str(e).startswith(p + ": "), e
            else:
                raise AssertionError(f"{name}: read")
        try:
            safetensors.read(os.path.join(work, "missing.safetensors"))
        except safetensors.SafetensorsError as e:
            assert "missing.safetensors" in str(e)

    def refuses_symlink_target():
        target = os.path.join(work, "target")
        with open(target, "w") as f:
            f.write("keep")
        link = os.path.join(work, "link.safetensors")
        os.symlink(target, link)
        try:
            safetensors.write(link, {"a": np.ones(1, np.float32)})
        except OSError as e:
            assert "symlink" in str(e)
        else:
            raise AssertionError("wrote through a symlink")
        assert open(target).read() == "keep" and not [f for f in os.listdir(work) if f.endswith(".tmp")]

    return Checks("safetensors").run(round_trip, bytes_equal_cgrad, reads_the_reference, refuses_bad_files,
                                     refuses_symlink_target)


if __name__ == "__main__":
    sys.exit(main())
