# SPDX-License-Identifier: MIT
"""The seed's recipe in PyTorch, as bench/compare-epoch times it against build/bin/mnist-train:
load the four IDX .gz files, normalise with mean 0.1307 and std 0.3081, train the seed net
(python/cgrad/twin.py, from apps/nets/seed.net) with NLL loss and SGD(lr 0.025, momentum 0.9), batch 64,
shuffled each epoch, then test with batch 1000, printing the seed's test line.

  python3 bench/torch_seed_recipe.py --data DIR [--epochs 1] [--seed 0] [--threads N]

Needs Debian's python3-torch and numpy; cgrad itself never does."""
import argparse, gzip, os, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cgrad.spec import SEED_SPEC  # noqa: E402
from cgrad.twin import build  # noqa: E402


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    zero, kind, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(d, stem):
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise SystemExit(f"no {stem}[.gz] in {d}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    def load(kind):
        x = read_idx(find(a.data, f"{kind}-images-idx3-ubyte"))
        y = read_idx(find(a.data, f"{kind}-labels-idx1-ubyte"))
        x = (torch.from_numpy(x.astype(np.float32)).div_(255.0).sub_(0.1307).div_(0.3081)).unsqueeze(1)
        return x, torch.from_numpy(y.astype(np.int64))
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    net = build(SEED_SPEC)
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9)
    for epoch in range(1, a.epochs + 1):
        net.train()
        perm = torch.randperm(len(ytr))
        for i in range(0, len(ytr), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            F.nll_loss(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
        net.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(yte), 1000):
                out = net(xte[i:i + 1000])
                loss += F.nll_loss(out, yte[i:i + 1000], reduction="sum").item()
                correct += (out.argmax(1) == yte[i:i + 1000]).sum().item()
        n = len(yte)
        print(f"Test: average loss: {loss / n:.4f}, accuracy: {correct}/{n} ({100.0 * correct / n:.0f}%)")
    print(f"seconds: {time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    main()
