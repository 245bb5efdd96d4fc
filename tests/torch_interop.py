#!/usr/bin/python3
"""PyTorch interop of mnist-train / mnist-eval checkpoints, on the tiny synthetic set.

  torch_interop.py BIN_DIR SOURCE_DIR

(a) A model trained by cgrad (mnist-train, 1 epoch) loads into PyTorch's tutorial Net with
    load_state_dict(strict=True) (the "optim.*" tensors dropped), and PyTorch's test accuracy
    equals mnist-eval's within one image (and the average loss within 1e-3).
(b) A model trained in PyTorch (a few SGD steps) and written as safetensors evaluates in
    mnist-eval to PyTorch's accuracy within one image (and loss within 1e-3).
Exit 0 on success, 1 on a mismatch, 77 (skipped) when torch or numpy cannot be imported.
Run with Debian's /usr/bin/python3, which has torch.
"""
import gzip
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 - any import failure means: skip
    print(f"SKIP: cannot import torch/numpy: {e}")
    sys.exit(77)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_seed_net import Net  # noqa: E402


def read_idx(path):
    """An IDX file, raw or gzip (tried as PATH.gz first), as a uint8 array."""
    for p in (path + ".gz", path):
        if os.path.exists(p):
            with open(p, "rb") as f:
                raw = f.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            magic, = struct.unpack(">I", raw[:4])
            ndim = magic & 0xFF
            dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
            return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)
    raise FileNotFoundError(path)


def load_set(d, prefix):
    x = read_idx(f"{d}/{prefix}-images-idx3-ubyte").astype(np.float32)
    y = read_idx(f"{d}/{prefix}-labels-idx1-ubyte").astype(np.int64)
    x = (x / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def torch_eval(model, x, y):
    model.eval()
    with torch.no_grad():
        out = model(x)
        loss = F.nll_loss(out, y, reduction="sum").item() / len(y)
        correct = int((out.argmax(dim=1) == y).sum())
    return loss, correct


TEST_LINE = re.compile(r"^Test: average loss: ([0-9.]+), accuracy: ([0-9]+)/([0-9]+) \(([0-9]+)%\)$", re.M)


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {p.returncode}")
    return p.stdout


def cgrad_eval(bin_dir, model_path, data):
    out = run(f"{bin_dir}/mnist-eval", "--model", model_path, "--data", data, "--threads", "2")
    m = TEST_LINE.search(out)
    if not m:
        raise SystemExit(f"FAIL: no test line in mnist-eval's output:\n{out}")
    return float(m.group(1)), int(m.group(2)), int(m.group(3))


def compare(what, cg, pt):
    (cl, cc, n), (pl, pc) = cg, pt
    print(f"{what}: mnist-eval loss {cl:.4f} correct {cc}/{n}; PyTorch loss {pl:.4f} correct {pc}/{n}")
    ok = abs(cc - pc) <= 1 and abs(cl - pl) <= 1e-3 + 1e-3 * abs(pl)
    if not ok:
        print(f"FAIL: {what}: accuracy or loss differ")
    return ok


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    bin_dir, src = sys.argv[1], sys.argv[2]
    sys.path[:0] = [os.path.join(src, "tests"), os.path.join(src, "tests", "mnist")]
    import gen_data  # noqa: E402 - the synthetic data set
    import safetensors_ref  # noqa: E402 - json + numpy safetensors reader/writer

    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp(prefix="cg_torch_interop.")
    try:
        data = os.path.join(tmp, "d")
        os.mkdir(data)
        sys.argv = ["gen_data.py", data, "128", "256", "5"]
        gen_data.main()
        xte, yte = load_set(data, "t10k")
        ok = True

        # (a) cgrad -> PyTorch
        ck = os.path.join(tmp, "cgrad.safetensors")
        run(f"{bin_dir}/mnist-train", "--data", data, "--epochs", "1", "--batch-size", "32",
            "--test-batch-size", "64", "--threads", "2", "--save", ck)
        tensors, meta, _ = safetensors_ref.read(ck)
        if not any(k.startswith("optim.") for k in tensors):
            print("FAIL: the mnist-train checkpoint holds no optimizer state")
            ok = False
        sd = {k: torch.from_numpy(v.copy()) for k, v in tensors.items() if not k.startswith("optim.")}
        net = Net()
        net.load_state_dict(sd, strict=True)   # raises on a missing, extra or misshapen tensor
        ok &= compare("cgrad-trained model", cgrad_eval(bin_dir, ck, data), torch_eval(net, xte, yte))

        # (b) PyTorch -> cgrad
        torch.manual_seed(0)
        xtr, ytr = load_set(data, "train")
        net = Net()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        net.train()
        for step in range(8):   # two passes over the 128 training images, batch 32
            k = step % 4
            opt.zero_grad()
            loss = F.nll_loss(net(xtr[32 * k:32 * k + 32]), ytr[32 * k:32 * k + 32])
            loss.backward()
            opt.step()
        pt = torch_eval(net, xte, yte)
        pk = os.path.join(tmp, "torch.safetensors")
        safetensors_ref.write(pk, {k: v.detach().numpy().astype("<f4") for k, v in net.state_dict().items()},
                              {"framework": "pytorch"})
        ok &= compare("PyTorch-trained model", cgrad_eval(bin_dir, pk, data), pt)
    finally:
        shutil.rmtree(tmp)
    if ok:
        print("OK: torch interop")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
