# SPDX-License-Identifier: MIT
"""PyTorch side of bench/compare-pytorch: a network (the seed's, or --net SPEC built by the spec
grammar's Python twin, python/cgrad/twin.py), trained with SGD(lr 0.025, momentum 0.9) on synthetic
[N,1,28,28] data, timed like bench-train; cgrad's bench-train runs alternately with it, with the
same spec, so both see the same machine state."""
import argparse, json, os, statistics, subprocess, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cgrad.spec import SEED_SPEC  # noqa: E402
from cgrad.twin import build  # noqa: E402


def torch_train_eval(spec, batch, eval_batch, windows=5, steps=20, warmup=5):
    torch.manual_seed(1)
    net = build(spec)
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.arange(batch) % 10
    rates = []
    for w in range(-1, windows):
        n = warmup if w < 0 else steps
        t0 = time.perf_counter()
        for _ in range(n):
            opt.zero_grad()
            loss = F.nll_loss(net(x), y)
            loss.backward()
            opt.step()
        if w >= 0:
            rates.append(n * batch / (time.perf_counter() - t0))
    train = statistics.median(rates)
    net.eval()
    xe = torch.randn(eval_batch, 1, 28, 28)
    rates = []
    with torch.no_grad():
        for w in range(-1, windows):
            n = 1 if w < 0 else max(1, steps // 4)
            t0 = time.perf_counter()
            for _ in range(n):
                net(xe)
            if w >= 0:
                rates.append(n * eval_batch / (time.perf_counter() - t0))
    return train, statistics.median(rates)


def cgrad_train_eval(build_dir, spec, threads, batch, eval_batch):
    out = subprocess.run([f"{build_dir}/bin/bench-train", "--threads", str(threads), "--batch", str(batch),
                          "--eval-batch", str(eval_batch), "--json", "--net", spec],
                         check=True, capture_output=True, text=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    return row["train_img_s"], row["eval_img_s"], row["blas"]


def conv_mode(args):
    out = subprocess.run([f"{args.build}/bin/bench-conv", "--threads", str(args.threads), "--csv"],
                         check=True, capture_output=True, text=True).stdout
    lines = out.strip().splitlines()
    head = lines[0].split(",")
    print(f"{'layer':34s} {'pass':8s} {'cgrad ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for line in lines[1:]:
        r = dict(zip(head, line.split(",")))
        n, c, h, w, oc, k, s, p = (int(r[key]) for key in ("n", "c", "h", "w", "oc", "k", "stride", "pad"))
        g = int(r.get("groups", 1))
        x = torch.randn(n, c, h, w, requires_grad=True)
        wt = torch.randn(oc, c // g, k, k, requires_grad=True)
        b = torch.randn(oc, requires_grad=True)
        y = F.conv2d(x, wt, b, s, p, 1, g)
        gy = torch.randn_like(y)

        def fwd():
            with torch.no_grad():
                F.conv2d(x, wt, b, s, p, 1, g)

        def bwd():
            yy = F.conv2d(x, wt, b, s, p, 1, g)
            torch.autograd.grad(yy, (x, wt), gy)

        def med(f, reps=7):
            f()
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                f()
                ts.append((time.perf_counter() - t0) * 1e3)
            return statistics.median(ts)
        t_f = med(fwd)
        t_fb = med(bwd)
        cg_f = float(r["fwd_ms"])
        cg_b = float(r["bwd_data_ms"]) + float(r["bwd_weight_ms"])
        print(f"{r['layer']:34s} {'forward':8s} {cg_f:9.2f} {t_f:9.2f} {t_f / cg_f:6.2f}")
        print(f"{'':34s} {'backward':8s} {cg_b:9.2f} {max(t_fb - t_f, 1e-9):9.2f} {max(t_fb - t_f, 1e-9) / cg_b:6.2f}")
    print("ratio = torch time / cgrad time (> 1: cgrad faster); torch backward = (fwd+bwd) - fwd")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="train")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--eval-batch", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build", default="build")
    ap.add_argument("--net", default=None, help="a net spec (default: the seed net)")
    args = ap.parse_args()
    spec = args.net or SEED_SPEC
    torch.set_num_threads(args.threads)
    if args.mode == "conv":
        return conv_mode(args)
    ct, ce, tt, te = [], [], [], []
    blas = "?"
    for r in range(args.rounds):  # alternate, so drift in machine load hits both sides
        a, b, blas = cgrad_train_eval(args.build, spec, args.threads, args.batch, args.eval_batch)
        ct.append(a); ce.append(b)
        a, b = torch_train_eval(spec, args.batch, args.eval_batch)
        tt.append(a); te.append(b)
        print(f"round {r + 1}: cgrad train {ct[-1]:.0f} eval {ce[-1]:.0f} | torch train {tt[-1]:.0f} eval {te[-1]:.0f} img/s",
              flush=True)
    mct, mce, mtt, mte = (statistics.median(v) for v in (ct, ce, tt, te))
    print(f"\nnet: {'the seed net' if args.net is None else spec}")
    print(f"threads {args.threads}, batch {args.batch}, eval batch {args.eval_batch}; cgrad BLAS: {blas}; torch {torch.__version__}")
    print(f"{'':8s} {'cgrad img/s':>12s} {'torch img/s':>12s} {'ratio':>7s}")
    print(f"{'train':8s} {mct:12.0f} {mtt:12.0f} {mct / mtt:7.2f}")
    print(f"{'eval':8s} {mce:12.0f} {mte:12.0f} {mce / mte:7.2f}")


if __name__ == "__main__":
    sys.exit(main())
