#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""PyTorch interop of mnist-train / mnist-eval checkpoints, for networks given as specs.

  torch_interop.py BIN_DIR SOURCE_DIR

For each net of NETS (the seed net; the pytorch/examples MNIST net; a BatchNorm + residual net;
a net of every op of the spec grammar; the zoo's activations; LeNet-5, VGG-, MobileNet-v2-style
and an MLP with LayerNorm and GELU from apps/nets/), on the tiny synthetic set, with PyTorch's side built by
the grammar's Python twin (python/cgrad/twin.py):
(a) cgrad -> PyTorch: mnist-train --net SPEC (3 epochs) writes a checkpoint that loads into the
    twin with load_state_dict(strict=True) (the "optim.*" tensors dropped); mnist-eval, given no
    flag (the spec is in the file), scores it as PyTorch does: accuracy within one image, average
    loss within 1e-3.
(b) PyTorch -> cgrad: the twin trained 16 SGD steps (BatchNorm running stats and an I64
    num_batches_tracked included), written as safetensors without a spec, evaluates in
    mnist-eval (with --net, or with no flag for the seed net) to PyTorch's score.
(c) Where Debian's Fashion-MNIST is installed: the seed net trained by PyTorch for 150 steps on
    the real training set scores the same on the real test set in both.
CG_INTEROP_NETS=a,b (the NETS tags) runs only those nets, for a quick check by hand.
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


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cgrad.spec import SEED_SPEC  # noqa: E402
from cgrad.twin import build  # noqa: E402

NETS = [
    ("seed", None),
    ("pytorch-examples", "conv1=conv2d(1,32,3) relu conv2=conv2d(32,64,3) relu max_pool2d(2) dropout1=dropout(0.25) "
                         "flatten fc1=linear(9216,128) relu dropout2=dropout(0.5) fc2=linear(128,10) log_softmax"),
    ("bn-residual", "conv2d(1,32,3,padding=1) batch_norm2d(32) relu residual(conv2d(32,32,3,padding=1) batch_norm2d(32) "
                    "relu conv2d(32,32,3,padding=1) batch_norm2d(32)) relu conv2d(32,64,3,stride=2,padding=1) "
                    "batch_norm2d(64) relu residual(conv2d(64,64,3,padding=1) batch_norm2d(64) relu "
                    "conv2d(64,64,3,padding=1) batch_norm2d(64)) relu adaptive_avg_pool2d(1) flatten linear(64,10) "
                    "log_softmax"),
    ("every-op", "# every op of the grammar\n"
                 "stem=conv2d(1,8,3,padding=1,bias=false) batch_norm2d(8, momentum=0.2) leaky_relu(0.1)\n"
                 "conv2d(8,8,3,stride=2,dilation=1,groups=2) sigmoid max_pool2d(3,stride=1,padding=1)\n"
                 "avg_pool2d(2) tanh dropout2d(0.1) residual(conv2d(8,8,1) relu) adaptive_avg_pool2d(1)\n"
                 "flatten dropout(0.2) head=linear(8,10) log_softmax"),
    ("activations", "# the zoo's activation layers\n"
                    "conv2d(1,6,3) gelu conv2d(6,6,3) gelu(approximate='tanh') silu conv2d(6,6,3,padding=1) hardswish\n"
                    "softplus(beta=2, threshold=3) max_pool2d(2) relu6 hardtanh(-0.5, 0.7) conv2d(6,4,3)\n"
                    "flatten linear(400,10) log_softmax"),
]
NETS.append(("norms", "conv2d(1,4,3) group_norm(2,4) relu max_pool2d(2) upsample(2) adaptive_avg_pool2d(3) flatten linear(36,16) "
                      "batch_norm1d(16) relu linear(16,10) log_softmax"))
NETS.append(("pools", "conv2d(1,4,3) relu adaptive_max_pool2d(7) conv2d(4,4,3) adaptive_avg_pool2d(9) flatten "
                      "linear(324,10) log_softmax"))
NETS.append(("upconv", "conv2d(1,4,3,stride=2) relu conv_transpose2d(4,6,3,stride=2,output_padding=1,groups=2) relu "
                       "adaptive_avg_pool2d(4) flatten linear(96,10) log_softmax"))
# The zoo of docs/models.md, from apps/nets/ (the residual net is bn-residual above).
_NETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps", "nets")
for _name in ("lenet5", "vgg", "mobilenet_v2", "mlp", "inception"):
    with open(os.path.join(_NETS_DIR, _name + ".net")) as _f:
        NETS.append((_name, _f.read()))
REAL_DATA = "/usr/share/datasets/fashion-mnist"


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
        loss, correct = 0.0, 0
        for i in range(0, len(y), 1000):
            out = model(x[i:i + 1000])
            loss += F.nll_loss(out, y[i:i + 1000], reduction="sum").item()
            correct += int((out.argmax(dim=1) == y[i:i + 1000]).sum())
    return loss / len(y), correct


TEST_LINE = re.compile(r"^Test: average loss: ([0-9.]+), accuracy: ([0-9]+)/([0-9]+) \(([0-9]+)%\)$", re.M)


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {p.returncode}")
    return p.stdout


def cgrad_eval(bin_dir, model_path, data, *flags):
    out = run(f"{bin_dir}/mnist-eval", "--model", model_path, "--data", data, "--threads", "2", *flags)
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


def state_arrays(net):
    """The state dict as little-endian numpy arrays: F32, and I64 for num_batches_tracked."""
    out = {}
    for k, v in net.state_dict().items():
        a = v.detach().numpy()
        out[k] = a.astype("<i8") if a.dtype == np.int64 else a.astype("<f4")
    return out


def torch_train(net, x, y, steps, batch, lr=0.01):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    net.train()
    per = len(y) // batch
    for step in range(steps):
        k = step % per
        opt.zero_grad()
        F.nll_loss(net(x[batch * k:batch * k + batch]), y[batch * k:batch * k + batch]).backward()
        opt.step()


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
    ok, checked = True, 0
    try:
        data = os.path.join(tmp, "d")
        os.mkdir(data)
        sys.argv = ["gen_data.py", data, "128", "256", "5"]
        gen_data.main()
        xtr, ytr = load_set(data, "train")
        xte, yte = load_set(data, "t10k")
        only = os.environ.get("CG_INTEROP_NETS")  # e.g. CG_INTEROP_NETS=pools,norms: just those
        for tag, spec in NETS:
            if only and tag not in only.split(","):
                continue
            net_flags = ["--net", spec] if spec else []
            # (a) cgrad -> PyTorch
            ck = os.path.join(tmp, f"cgrad-{tag}.safetensors")
            run(f"{bin_dir}/mnist-train", "--data", data, "--epochs", "3", "--batch-size", "32",
                "--test-batch-size", "64", "--threads", "2", "--save", ck, *net_flags)
            tensors, meta, _ = safetensors_ref.read(ck)
            if not any(k.startswith("optim.") for k in tensors) or not meta.get("net"):
                print(f"FAIL: {tag}: the mnist-train checkpoint lacks optimizer state or its net spec")
                ok = False
            sd = {k: torch.from_numpy(v.copy()) for k, v in tensors.items() if not k.startswith("optim.")}
            net = build(meta.get("net") or "")   # the net the file's own spec describes (the writer's form)
            net.load_state_dict(sd, strict=True)   # raises on a missing, extra or misshapen tensor
            ok &= compare(f"{tag}: cgrad-trained", cgrad_eval(bin_dir, ck, data), torch_eval(net, xte, yte))
            # (b) PyTorch -> cgrad
            torch.manual_seed(0)
            net = build(spec or SEED_SPEC)
            torch_train(net, xtr, ytr, steps=16, batch=32, lr=0.03)
            pt = torch_eval(net, xte, yte)
            pk = os.path.join(tmp, f"torch-{tag}.safetensors")
            safetensors_ref.write(pk, state_arrays(net), {"framework": "pytorch"})
            ok &= compare(f"{tag}: PyTorch-trained", cgrad_eval(bin_dir, pk, data, *net_flags), pt)
            checked += 2
        # (c) the real set
        if os.path.exists(f"{REAL_DATA}/t10k-images-idx3-ubyte.gz"):
            torch.manual_seed(1)
            xr, yr = load_set(REAL_DATA, "train")
            xt, yt = load_set(REAL_DATA, "t10k")
            net = build(SEED_SPEC)
            torch_train(net, xr, yr, steps=150, batch=64, lr=0.025)
            pt = torch_eval(net, xt, yt)
            pk = os.path.join(tmp, "torch-real.safetensors")
            safetensors_ref.write(pk, state_arrays(net), {"framework": "pytorch"})
            ok &= compare("seed on Fashion-MNIST: PyTorch-trained", cgrad_eval(bin_dir, pk, REAL_DATA), pt)
            checked += 1
        else:
            print(f"note: {REAL_DATA} is not installed: the real-data check did not run")
    finally:
        shutil.rmtree(tmp)
    print(f"torch interop: {checked} passed, {0 if ok else 1} failed" if ok else "FAIL: torch interop")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
