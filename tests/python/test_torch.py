#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""cgrad <-> PyTorch <-> ONNX through cgrad-torch, where PyTorch is present (skipped, 77, without):
  - spec -> twin (BatchNorm statistics moved by a few train-mode passes) -> from-pt (a saved
    nn.Module, and a state dict with --net) -> cgrad computes the twin's outputs (net_run);
    -> to-pt -> the twin loads it and computes bit-identical outputs; to-pt --module too;
  - a pickled nn.Module needs from-pt --trust-pickle (torch.load(weights_only=True) otherwise), and
    a hostile pickle's code does not run without it;
  - an nn.Sequential written by hand in PyTorch (not built from a spec) -> from-pt finds its spec;
  - export-onnx (checked by onnx.checker) -> import-onnx -> cgrad computes PyTorch's outputs.
  - nn.SiLU, nn.GELU (erf and tanh), nn.Hardswish, nn.Softplus(beta) exported at opsets 13, 14, 17
    -> import-onnx (the node patterns) -> cgrad computes PyTorch's outputs.

  test_torch.py NET_RUN BIN_DIR     exit 0 pass, 1 fail, 77 skipped
"""
import os
import sys

from common import Checks, cli, net_run, skip, tmpdir  # noqa: E402

try:
    import numpy as np
    import torch
    import torch.nn as nn
except Exception as e:  # noqa: BLE001
    skip(f"cannot import torch/numpy: {e}")
try:
    import onnx
except Exception:  # noqa: BLE001
    onnx = None

from cgrad.twin import build  # noqa: E402

NET_RUN = sys.argv[1]
torch.manual_seed(0)
NETS = {
    "cnn": ("stem=conv2d(1,6,3,padding=1) batch_norm2d(6) relu residual(conv2d(6,6,3,padding=1) batch_norm2d(6) relu) "
            "p=parallel(conv2d(6,2,1) | identity | avg_pool2d(3,stride=1,padding=1) conv2d(6,3,1,bias=false)) "
            "max_pool2d(2) leaky_relu(0.1) flatten dropout(0.3) linear(396,16) tanh linear(16,4) log_softmax", [1, 12, 12]),
    "mlp": ("flatten linear(64,12) batch_norm1d(12) sigmoid linear(12,12) relu6 hardtanh(-0.5,0.5) linear(12,3)", [1, 8, 8]),
}


def trained(spec, shape):
    m = build(spec)
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, *shape))
    return m.eval()


def main():
    work = tmpdir()
    x = {k: np.random.RandomState(3).uniform(-1, 1, (6, *s)).astype(np.float32) for k, (_, s) in NETS.items()}

    def torch_out(m, k):
        with torch.no_grad():
            return m(torch.from_numpy(x[k])).numpy()

    def spec_torch_cgrad_torch():
        for k, (spec, shape) in NETS.items():
            m = trained(spec, shape)
            want = torch_out(m, k)
            mod_pt, sd_pt = os.path.join(work, k + "_mod.pt"), os.path.join(work, k + "_sd.pt")
            torch.save(m, mod_pt)
            torch.save(m.state_dict(), sd_pt)
            for src, extra in ((mod_pt, ["--trust-pickle"]), (sd_pt, ["--net", spec])):
                ck = os.path.join(work, k + ".safetensors")
                rc, out, err = cli("from-pt", src, ck, *extra)
                assert rc == 0, err
                got = net_run(NET_RUN, ck, x[k], work)
                d = np.abs(got - want.reshape(6, -1)).max()
                assert d < 1e-4, f"{k} from {src}: cgrad differs from PyTorch by {d}"
                back = os.path.join(work, k + "_back.pt")
                rc, out, err = cli("to-pt", ck, back)
                assert rc == 0, err
                m2 = build(spec).eval()
                m2.load_state_dict(torch.load(back), strict=True)
                assert np.array_equal(torch_out(m2, k), want), f"{k}: the round trip changed PyTorch's outputs"
            rc, out, err = cli("to-pt", ck, back, "--module")
            assert rc == 0, err
            assert np.array_equal(torch_out(torch.load(back).eval(), k), want)

    def hand_written_sequential():
        m = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, bias=False), nn.BatchNorm2d(4, eps=1e-3), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5), nn.LogSoftmax(dim=1))
        with torch.no_grad():
            m.train()
            m(torch.randn(4, 1, 12, 12))
        m.eval()
        pt, ck = os.path.join(work, "hand.pt"), os.path.join(work, "hand.safetensors")
        torch.save(m, pt)
        rc, out, err = cli("from-pt", pt, ck, "--trust-pickle")
        assert rc == 0, err
        assert "conv2d(1,4,3,stride=2,bias=false) batch_norm2d(4,eps=0.001) relu adaptive_avg_pool2d(1) flatten " \
               "linear(4,5) log_softmax" in out, out
        with torch.no_grad():
            want = m(torch.from_numpy(x["cnn"])).numpy()
        assert np.abs(net_run(NET_RUN, ck, x["cnn"], work) - want).max() < 1e-4
        torch.save(m.state_dict(), pt)
        rc, out, err = cli("from-pt", pt, ck)
        assert rc == 1 and "--net" in err and "Traceback" not in err, err
        bad = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Softmax(dim=1))
        torch.save(bad, pt)
        rc, out, err = cli("from-pt", pt, ck, "--trust-pickle")
        assert rc == 1 and "layer 1" in err and "Softmax" in err and "Traceback" not in err, err

    def onnx_export_import():
        if onnx is None:
            print("(no python3-onnx: export skipped)")
            return
        for k, (spec, shape) in NETS.items():
            m = trained(spec, shape)
            want = torch_out(m, k)
            pt, ck, ox, ck2 = (os.path.join(work, k + e) for e in ("_e.pt", "_e.safetensors", ".onnx", "_o.safetensors"))
            torch.save(m, pt)
            assert cli("from-pt", pt, ck, "--trust-pickle")[0] == 0
            rc, out, err = cli("export-onnx", ck, ox, "--input-shape", ",".join(map(str, shape)))
            assert rc == 0, err
            model = onnx.load(ox)
            onnx.checker.check_model(model)
            assert [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}] \
                == ["input"]
            rc, out, err = cli("import-onnx", ox, ck2)
            assert rc == 0, err
            d = np.abs(net_run(NET_RUN, ck2, x[k], work) - want.reshape(6, -1)).max()
            assert d < 1e-4, f"{k}: ONNX round trip differs from PyTorch by {d}: {out}"

    def onnx_activations():
        """nn.SiLU, nn.GELU (both), nn.Hardswish, nn.Softplus(beta) through torch.onnx.export at
        opsets 13 (Hardswish as HardSigmoid * x), 14 and 17 -> import-onnx -> PyTorch's outputs."""
        if onnx is None:
            print("(no python3-onnx: export skipped)")
            return
        import io
        m = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.SiLU(), nn.Flatten(), nn.Linear(192, 16), nn.GELU(),
                          nn.Linear(16, 16), nn.GELU(approximate="tanh"), nn.Linear(16, 16), nn.Hardswish(),
                          nn.Linear(16, 16), nn.Softplus(beta=2.0), nn.Linear(16, 16), nn.SiLU(), nn.Linear(16, 4)).eval()
        xi = np.random.RandomState(5).uniform(-2, 2, (6, 1, 8, 8)).astype(np.float32)
        with torch.no_grad():
            want = m(torch.from_numpy(xi)).numpy()
        for opset in (13, 14, 17):
            buf = io.BytesIO()
            torch.onnx.export(m, torch.from_numpy(xi[:2]), buf, opset_version=opset, input_names=["input"],
                              output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
            ox, ck = os.path.join(work, f"act{opset}.onnx"), os.path.join(work, f"act{opset}.safetensors")
            with open(ox, "wb") as f:
                f.write(buf.getvalue())
            ops = {n.op_type for n in onnx.load(ox).graph.node}
            assert {"Erf", "Sigmoid", "Mul", "Tanh"} <= ops and ("HardSigmoid" in ops) == (opset < 14), ops
            rc, out, err = cli("import-onnx", ox, ck)
            assert rc == 0, err
            assert "conv2d(1,3,3,padding=1) silu flatten linear(192,16) gelu linear(16,16) gelu(approximate='tanh') " \
                   "linear(16,16) hardswish linear(16,16) softplus(beta=2.0) linear(16,16) silu linear(16,4)" in out, out
            d = np.abs(net_run(NET_RUN, ck, xi, work) - want).max()
            assert d < 1e-4, f"opset {opset}: ONNX import of the activations differs from PyTorch by {d}"

    def pickle_needs_trust():
        """A .pt holding a pickled nn.Module is refused without --trust-pickle (one line naming the
        file and the flag) and loads with it; a pickle whose __reduce__ would create a marker file is
        refused and the marker is not created; a state dict loads without the flag."""
        from cgrad.torch_convert import load_pt
        m = build("flatten linear(4,3)").eval()
        pt, ck = os.path.join(work, "trust.pt"), os.path.join(work, "trust.safetensors")
        torch.save(m, pt)
        rc, out, err = cli("from-pt", pt, ck)
        assert rc == 1 and pt in err and "--trust-pickle" in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert not os.path.exists(ck)
        rc, out, err = cli("from-pt", pt, ck, "--trust-pickle")
        assert rc == 0 and "flatten linear(4,3)" in out, err
        try:
            load_pt(pt)
        except ValueError as e:
            assert "--trust-pickle" in str(e), e
        else:
            raise AssertionError("load_pt loaded a pickled nn.Module without trust_pickle=True")
        assert isinstance(load_pt(pt, trust_pickle=True), nn.Module)
        sd = os.path.join(work, "trust_sd.pt")
        torch.save(m.state_dict(), sd)
        rc, out, err = cli("from-pt", sd, ck, "--net", "flatten linear(4,3)")
        assert rc == 0, err
        marker = os.path.join(work, "pwned")

        class Hostile:
            def __reduce__(self):
                return (open, (marker, "w"))   # unpickling calls open(marker, "w"): creates the file
        evil = os.path.join(work, "evil.pt")
        torch.save({"w": torch.zeros(2), "x": Hostile()}, evil)
        assert not os.path.exists(marker)
        rc, out, err = cli("from-pt", evil, ck, "--net", "flatten linear(4,3)")
        assert rc == 1 and evil in err and "--trust-pickle" in err, err
        assert not os.path.exists(marker), "unpickling ran the file's code"
        sub = os.path.join(work, "sub.pt")
        with open(sub, "wb") as f:
            f.write(b"junk that is no zip and no pickle")
        rc, out, err = cli("from-pt", sub, ck)
        assert rc == 1 and sub in err and "Traceback" not in err, err

    return Checks("torch").run(pickle_needs_trust, spec_torch_cgrad_torch, hand_written_sequential, onnx_export_import, onnx_activations)


if __name__ == "__main__":
    sys.exit(main())
