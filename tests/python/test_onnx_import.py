#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ONNX -> cgrad without PyTorch: graphs built here with onnx.helper are imported (cgrad-torch
import-onnx), evaluated by cgrad (tests/python/net_run.c, and mnist-eval --model on IDX files
written here) and compared with a NumPy evaluation of the same graph.

  test_onnx_import.py NET_RUN BIN_DIR     exit 0 pass, 1 fail, 77 skipped (no onnx or numpy)
"""
import math
import os
import re
import struct
import subprocess
import sys

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except Exception as e:  # noqa: BLE001
    print(f"SKIP: cannot import onnx/numpy (Debian: python3-onnx python3-numpy): {e}")
    sys.exit(77)

from common import Checks, cli, net_run, tmpdir  # noqa: E402

NET_RUN, BIN = sys.argv[1], sys.argv[2]
OPSET = 13
rng = np.random.RandomState(7)


# ---- a NumPy evaluator of the graphs (the reference) ---------------------------------------------
def conv(x, w, b, stride=1, pad=0, dil=1, group=1):
    n, c, h, wd = x.shape
    o, cg, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dil * (k - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dil * (k - 1) - 1) // stride + 1
    y = np.zeros((n, o, oh, ow), dtype=np.float64)
    og = o // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(k):
            for j in range(k):
                patch = xs[:, :, i * dil:i * dil + stride * (oh - 1) + 1:stride, j * dil:j * dil + stride * (ow - 1) + 1:stride]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    if b is not None:
        y += b[None, :, None, None]
    return y


def pool(x, k, s, p, kind, include_pad=True):
    n, c, h, w = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    wins = np.stack([xp[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s] for i in range(k) for j in range(k)])
    return wins.max(0) if kind == "max" else wins.sum(0) / (k * k)


def reference(model, x):
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) if numpy_helper.to_array(t).dtype.kind == "f"
           else numpy_helper.to_array(t) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x.astype(np.float64)
    for n in model.graph.node:
        a = {at.name: helper.get_attribute_value(at) for at in n.attribute}
        i = [env[t] if t else None for t in n.input]
        op = n.op_type
        if op == "Conv":
            pads = a.get("pads", [0] * 4)
            y = conv(i[0], i[1], i[2] if len(i) > 2 else None, a.get("strides", [1])[0], pads[0],
                     a.get("dilations", [1])[0], a.get("group", 1))
        elif op == "BatchNormalization":
            sh = (1, -1, 1, 1) if i[0].ndim == 4 else (1, -1)
            y = (i[0] - i[3].reshape(sh)) / np.sqrt(i[4].reshape(sh) + a.get("epsilon", 1e-5)) * i[1].reshape(sh) + \
                i[2].reshape(sh)
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "LeakyRelu":
            y = np.where(i[0] > 0, i[0], i[0] * a.get("alpha", 0.01))
        elif op == "Sigmoid":
            y = 1 / (1 + np.exp(-i[0]))
        elif op == "Tanh":
            y = np.tanh(i[0])
        elif op == "Constant":
            y = numpy_helper.to_array(a["value"]).astype(np.float64)
        elif op == "Erf":
            y = np.vectorize(math.erf)(i[0])
        elif op == "HardSigmoid":
            y = np.clip(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)
        elif op == "Softplus":
            y = np.log1p(np.exp(i[0]))
        elif op == "Mul":
            y = i[0] * i[1]
        elif op == "Div":
            y = i[0] / i[1]
        elif op == "Pow":
            y = i[0] ** i[1]
        elif op == "Clip":
            y = np.clip(i[0], i[1], i[2])
        elif op in ("MaxPool", "AveragePool"):
            y = pool(i[0], a["kernel_shape"][0], a.get("strides", [1])[0], a.get("pads", [0])[0],
                     "max" if op == "MaxPool" else "avg")
        elif op == "GlobalAveragePool":
            y = i[0].mean((2, 3), keepdims=True)
        elif op == "GlobalMaxPool":
            y = i[0].max((2, 3), keepdims=True)
        elif op == "Flatten":
            y = i[0].reshape(i[0].shape[0], -1)
        elif op == "Gemm":
            bm = i[1].T if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * i[0] @ bm + (a.get("beta", 1.0) * i[2] if len(i) > 2 else 0)
        elif op == "MatMul":
            y = i[0] @ i[1]
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "Concat":
            y = np.concatenate(i, a["axis"])
        elif op == "LogSoftmax":
            z = i[0] - i[0].max(1, keepdims=True)
            y = z - np.log(np.exp(z).sum(1, keepdims=True))
        elif op in ("Dropout", "Identity"):
            y = i[0]
        else:
            raise AssertionError(f"the reference has no {op}")
        env[n.output[0]] = y
    return env[model.graph.output[0].name]


# ---- graph building -------------------------------------------------------------------------------
class G:
    def __init__(self, shape):
        self.nodes, self.inits, self.shape, self.k = [], [], shape, 0

    def w(self, *shape, scale=0.5, positive=False):
        self.k += 1
        a = rng.uniform(0.5 if positive else -scale, 1.5 if positive else scale, shape).astype(np.float32)
        name = f"w{self.k}"
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    def node(self, op, inputs, name=None, **attrs):
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name or f"{op.lower()}_{self.k}", **attrs))
        return out

    def conv(self, x, cin, cout, k, bias=True, **attrs):
        ins = [x, self.w(cout, cin // attrs.get("group", 1), k, k)] + ([self.w(cout)] if bias else [])
        return self.node("Conv", ins, kernel_shape=[k, k], **attrs)

    def bn(self, x, c):
        return self.node("BatchNormalization", [x, self.w(c, positive=True), self.w(c), self.w(c),
                                                self.w(c, positive=True)], epsilon=1e-3)

    def model(self, out):
        g = helper.make_graph(self.nodes, "test", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                 ["N", *self.shape])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", "K"])], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
        onnx.checker.check_model(m)
        return m


def seq_graph():
    g = G([1, 12, 12])
    t = g.conv("input", 1, 4, 3, pads=[1, 1, 1, 1])
    t = g.node("Relu", [g.bn(t, 4)])
    t = g.node("MaxPool", [t], kernel_shape=[2, 2], strides=[2, 2])
    t = g.conv(t, 4, 6, 3, group=2, bias=False)
    t = g.node("LeakyRelu", [t], alpha=0.2)
    t = g.node("AveragePool", [t], kernel_shape=[2, 2], strides=[2, 2])
    t = g.node("Dropout", [g.node("Flatten", [t])])
    t = g.node("Gemm", [t, g.w(10, 24), g.w(10)], transB=1)
    return g.model(g.node("LogSoftmax", [t], axis=1))


def mlp_graph():
    g = G([1, 6, 6])
    t = g.node("Flatten", [g.node("Sigmoid", [g.conv("input", 1, 2, 3, strides=[2, 2], dilations=[1, 1])])])
    t = g.node("Add", [g.node("MatMul", [t, g.w(8, 16)]), g.w(16)])
    t = g.node("Tanh", [t])
    t = g.node("Gemm", [t, g.w(16, 12), g.w(12)], alpha=0.5, beta=2.0)
    t = g.node("Clip", [g.bn(t, 12), "lo", "hi"])
    g.inits += [numpy_helper.from_array(np.array(-0.3, np.float32), "lo"),
                numpy_helper.from_array(np.array(0.4, np.float32), "hi")]
    t = g.node("MatMul", [t, g.w(12, 5)])
    t = g.node("Clip", [t, "zero", "six"])
    g.inits += [numpy_helper.from_array(np.array(0, np.float32), "zero"),
                numpy_helper.from_array(np.array(6, np.float32), "six")]
    return g.model(g.node("LogSoftmax", [t], axis=1))


def residual_graph():
    g = G([2, 8, 8])
    x = g.node("Relu", [g.conv("input", 2, 4, 3, pads=[1, 1, 1, 1])])
    f = g.node("Relu", [g.bn(g.conv(x, 4, 4, 3, pads=[1, 1, 1, 1]), 4)])
    inner = g.node("Add", [g.conv(f, 4, 4, 1), f])            # a residual inside the residual: f + conv(f)
    t = g.node("Relu", [g.node("Add", [x, g.node("Tanh", [inner])])])
    t = g.node("Flatten", [g.node("GlobalAveragePool", [t])])
    return g.model(g.node("LogSoftmax", [g.node("Gemm", [t, g.w(4, 5), g.w(5)])], axis=1))


def parallel_graph():
    g = G([1, 7, 7])
    x = g.node("Relu", [g.conv("input", 1, 4, 3, pads=[1, 1, 1, 1])])
    b1 = g.conv(x, 4, 2, 1)
    b2 = g.conv(g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), 4, 3, 1)
    t = g.node("Concat", [b1, x, b2], axis=1)
    t = g.node("Flatten", [g.node("GlobalMaxPool", [t])])
    return g.model(g.node("Gemm", [t, g.w(3, 9)], transB=1))


def const(g, v):
    """A scalar float constant: an initializer, or a Constant node as torch.onnx.export writes."""
    g.k += 1
    name = f"c{g.k}"
    if g.k % 2:
        g.inits.append(numpy_helper.from_array(np.array(v, np.float32), name))
    else:
        g.nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.float32))))
    return name


def silu(g, x):
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


def hardswish13(g, x, alpha=1 / 6):   # torch.onnx.export, opset 13
    return g.node("Mul", [x, g.node("HardSigmoid", [x], alpha=alpha)])


def gelu_torch(g, x, sqrt2=1.4142135623730951, half=0.5):
    """torch 1.13: Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)."""
    e = g.node("Erf", [g.node("Div", [x, const(g, sqrt2)], name="gelu_div")])
    return g.node("Mul", [g.node("Mul", [x, g.node("Add", [e, const(g, 1.0)])]), const(g, half)], name="gelu_half")


def gelu_halfx(g, x):
    """x * 0.5 first, erf of x * (1/sqrt 2), the sum written 1 + erf."""
    e = g.node("Erf", [g.node("Mul", [const(g, 1 / math.sqrt(2)), x])])
    return g.node("Mul", [g.node("Add", [const(g, 1.0), e]), g.node("Mul", [const(g, 0.5), x])])


def gelu_div2(g, x):
    """(1 + erf) * x / 2."""
    e = g.node("Erf", [g.node("Div", [x, const(g, math.sqrt(2))])])
    return g.node("Div", [g.node("Mul", [g.node("Add", [e, const(g, 1.0)]), x]), const(g, 2.0)])


def gelu_tanh_torch(g, x, kappa=0.044715):
    """torch 1.13's GELU(approximate='tanh')."""
    x3 = g.node("Mul", [x, g.node("Mul", [x, x])])
    inner = g.node("Add", [x, g.node("Mul", [const(g, kappa), x3], name="gelu_kappa")])
    t = g.node("Tanh", [g.node("Mul", [const(g, math.sqrt(2 / math.pi)), inner])])
    return g.node("Mul", [const(g, 0.5), g.node("Mul", [x, g.node("Add", [const(g, 1.0), t])])])


def gelu_tanh_pow(g, x):
    x3 = g.node("Pow", [x, const(g, 3.0)])
    inner = g.node("Add", [g.node("Mul", [x3, const(g, 0.044715)]), x])
    t = g.node("Tanh", [g.node("Mul", [inner, const(g, math.sqrt(2 / math.pi))])])
    return g.node("Mul", [g.node("Mul", [x, const(g, 0.5)]), g.node("Add", [t, const(g, 1.0)])])


def softplus_beta(g, x, b_in=2.0, b_out=2.0):   # torch 1.13's Softplus(beta=2)
    return g.node("Div", [g.node("Softplus", [g.node("Mul", [x, const(g, b_in)])], name="sp"), const(g, b_out)])


def activations_graph():
    """Every activation pattern on [N, F] between linear layers, and silu in a conv residual."""
    g = G([2, 5, 5])
    t = g.conv("input", 2, 3, 3, pads=[1, 1, 1, 1])
    t = g.node("Add", [t, silu(g, t)])                        # residual(silu): x feeds Sigmoid, Mul and Add
    t = g.node("Flatten", [hardswish13(g, t)])
    for act in (silu, gelu_torch, gelu_halfx, gelu_div2, gelu_tanh_torch, gelu_tanh_pow, softplus_beta):
        t = act(g, g.node("Gemm", [t, g.w(8, 75 if act is silu else 8, scale=0.8)], transB=1))
    return g.model(g.node("Gemm", [t, g.w(8, 4), g.w(4)]))


def run_case(model, name, work):
    path, ck = os.path.join(work, name + ".onnx"), os.path.join(work, name + ".safetensors")
    onnx.save(model, path)
    rc, out, err = cli("import-onnx", path, ck)
    assert rc == 0, f"import-onnx exit {rc}: {err}"
    assert "wrote" in out and "net:" in out, out
    shape = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    x = rng.uniform(0, 1, (5, *shape)).astype(np.float32)
    got = net_run(NET_RUN, ck, x, work)
    want = reference(model, x)
    want = want.reshape(want.shape[0], -1)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.abs(got - want).max()
    assert err < 1e-4, f"{name}: cgrad differs from the NumPy reference by {err}\n{got}\n{want}"
    return ck, out


def main():
    work = tmpdir()
    specs = {}

    def sequential():
        _, out = run_case(seq_graph(), "seq", work)
        specs["seq"] = out
        assert "conv2d(1,4,3,padding=1) batch_norm2d(4,eps=0.001) relu max_pool2d(2) conv2d(4,6,3,groups=2,bias=false)" \
            " leaky_relu(negative_slope=0.2) avg_pool2d(2) flatten linear(24,10) log_softmax" in out, out

    def mlp_matmul_gemm_clip():
        _, out = run_case(mlp_graph(), "mlp", work)
        assert "linear(8,16)" in out and "linear(16,12)" in out and "hardtanh(min_val=-0.3,max_val=0.4)" in out and "relu6" in out \
            and "batch_norm1d(12" in out and "linear(12,5,bias=false)" in out, out

    def residual_nested():
        _, out = run_case(residual_graph(), "res", work)
        assert "residual(conv2d(4,4,3,padding=1) batch_norm2d(4,eps=0.001) relu residual(conv2d(4,4,1)) tanh)" in out, out

    def parallel_concat():
        _, out = run_case(parallel_graph(), "par", work)
        assert "parallel(conv2d(4,2,1) | identity | max_pool2d(3,stride=1,padding=1) conv2d(4,3,1))" in out, out

    def mnist_eval_reads_it():
        # IDX files of 12x12 u8 images; the checkpoint says normalize none: cgrad sees img/255.
        m = seq_graph()
        ck = os.path.join(work, "seq_eval.safetensors")
        onnx.save(m, os.path.join(work, "seq_eval.onnx"))
        rc, _, err = cli("import-onnx", os.path.join(work, "seq_eval.onnx"), ck, "--normalize", "none", "--loss", "nll")
        assert rc == 0, err
        imgs = rng.randint(0, 256, (40, 12, 12)).astype(np.uint8)
        logp = reference(m, imgs[:, None].astype(np.float32) / 255)
        labels = rng.randint(0, 10, 40).astype(np.uint8)
        labels[:20] = logp[:20].argmax(1)   # half of them right
        for fname, arr in (("img.idx", imgs), ("lab.idx", labels)):
            with open(os.path.join(work, fname), "wb") as f:
                f.write(struct.pack(">BBBB", 0, 0, 8, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape))
                f.write(arr.tobytes())
        r = subprocess.run([os.path.join(BIN, "mnist-eval"), "--model", ck, "--test-images", os.path.join(work, "img.idx"),
                            "--test-labels", os.path.join(work, "lab.idx"), "--threads", "1"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        mt = re.search(r"average loss: ([0-9.]+), accuracy: (\d+)/(\d+)", r.stdout)
        assert mt, r.stdout
        loss = -logp[np.arange(40), labels].mean()
        acc = int((logp.argmax(1) == labels).sum())
        assert abs(float(mt.group(1)) - loss) < 1e-3 and int(mt.group(2)) == acc, (r.stdout, loss, acc)

    def activation_patterns():
        _, out = run_case(activations_graph(), "act", work)
        assert "conv2d(2,3,3,padding=1) residual(silu) hardswish flatten linear(75,8,bias=false) silu " \
               "linear(8,8,bias=false) gelu linear(8,8,bias=false) gelu linear(8,8,bias=false) gelu " \
               "linear(8,8,bias=false) gelu(approximate='tanh') linear(8,8,bias=false) gelu(approximate='tanh') " \
               "linear(8,8,bias=false) softplus(beta=2.0) linear(8,4)" in out, out

    def activation_constants_refused():
        def refused(build, node, *words):
            g = G([6])
            t = build(g, g.node("Gemm", ["input", g.w(6, 6)], transB=1))
            path = os.path.join(work, "badact.onnx")
            onnx.save(g.model(t), path)
            rc, _, err = cli("import-onnx", path, os.path.join(work, "badact.safetensors"))
            assert rc == 1 and "Traceback" not in err and f"'{node}'" in err and all(w in err for w in words), \
                (node, rc, err)
        refused(lambda g, x: gelu_torch(g, x, sqrt2=1.5), "gelu_div", "divides by 1.5", "sqrt(2)")
        refused(lambda g, x: gelu_torch(g, x, half=0.6), "gelu_half", "scales by 0.6", "0.5")
        refused(lambda g, x: gelu_tanh_torch(g, x, kappa=0.05), "gelu_kappa", "0.044715")
        refused(lambda g, x: g.node("Mul", [x, g.node("HardSigmoid", [x], name="hsig")]), "hsig", "alpha 0.2", "1/6")
        refused(lambda g, x: softplus_beta(g, x, 2.0, 3.0), "sp", "divided by 3", "beta")
        refused(lambda g, x: g.node("Erf", [x], name="lone_erf"), "lone_erf", "GELU")
        refused(lambda g, x: g.node("Mul", [x, g.node("Tanh", [x])], name="tanhmul"), "tanhmul", "silu")

    def unmappable_named():
        g = G([1, 4, 4])
        t = g.node("Flatten", ["input"])
        t = g.node("Softmax", [g.node("Gemm", [t, g.w(3, 16)], transB=1)], name="probs", axis=1)
        path, ck = os.path.join(work, "bad.onnx"), os.path.join(work, "bad.safetensors")
        onnx.save(g.model(t), path)
        rc, out, err = cli("import-onnx", path, ck)
        assert rc == 1 and "'probs'" in err and "Softmax" in err and path in err, (rc, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and not os.path.exists(ck), err

    def non_square_named():
        g = G([1, 6, 6])
        t = g.conv("input", 1, 2, 3, name=None, pads=[1, 0, 1, 0])
        path = os.path.join(work, "pads.onnx")
        onnx.save(g.model(t), path)
        rc, _, err = cli("import-onnx", path, os.path.join(work, "pads.safetensors"))
        assert rc == 1 and "Conv" in err and "pads [1, 0, 1, 0]" in err, err

    def two_computed_branches_refused():
        g = G([1, 4, 4])
        x = g.node("Relu", ["input"])
        t = g.node("Add", [g.node("Sigmoid", [x]), g.node("Tanh", [x])], name="sum2")
        path = os.path.join(work, "add2.onnx")
        onnx.save(g.model(t), path)
        rc, _, err = cli("import-onnx", path, os.path.join(work, "add2.safetensors"))
        assert rc == 1 and "'sum2'" in err and "residual" in err, err

    return Checks("onnx import").run(sequential, mlp_matmul_gemm_clip, residual_nested, parallel_concat,
                                     mnist_eval_reads_it, activation_patterns, activation_constants_refused,
                                     unmappable_named, non_square_named,
                                     two_computed_branches_refused)


if __name__ == "__main__":
    sys.exit(main())
