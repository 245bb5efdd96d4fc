# SPDX-License-Identifier: MIT
"""ONNX -> cgrad: a graph whose ops cgrad's spec covers becomes a spec and a checkpoint, with
Debian's python3-onnx and NumPy only (no PyTorch).

  convert(model_or_path) -> (spec, tensors)     the spec text and its state dict (NumPy arrays)

The graph must have one input and one output, and be a chain of layers in which a tensor used by
several nodes (a fork) is joined again by one node: Add, where one side is the fork's input itself
(x + f(x): residual), or Concat along axis 1 (parallel; a side that is the input itself is
identity). Ops: Conv, BatchNormalization, Relu, LeakyRelu, Sigmoid, Tanh, HardSwish, Softplus,
the node patterns of silu, hardswish, gelu (Erf, and tanh) and softplus(beta) (see fuse), Clip (relu6, hardtanh), MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Flatten (axis 1),
Reshape to [0, -1], Gemm, MatMul (+ Add of a bias), LogSoftmax, and Dropout and Identity (dropped:
inference). Anything else raises OnnxImportError naming the node (its name, op and index).
"""
from collections import OrderedDict

import numpy as np

from ._deps import need_onnx
from .fileio import read_input
from .spec import write

JOINS = ("Add", "Concat")


class OnnxImportError(ValueError):
    """A graph, node or attribute cgrad's spec cannot say; the message names the node."""


def _f32(v):
    """A float attribute (float32 in ONNX) as the shortest decimal that reads back to it."""
    return float(repr(np.float32(v)))


def _rec(op, args=None, params=None):
    return {"op": op, "args": args or {}, "params": params or OrderedDict()}


class _Importer:
    def __init__(self, model):
        onnx = need_onnx("ONNX import")
        from onnx import numpy_helper
        self.nh = numpy_helper
        self.onnx = onnx
        g = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.nodes = []
        for i, n in enumerate(g.node):
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
                self.inits[n.output[0]] = self._constant(n, i)
            else:
                self.nodes.append((i, n))
        inputs = [v for v in g.input if v.name not in self.inits]
        if len(inputs) != 1 or len(g.output) != 1:
            raise OnnxImportError(f"the graph has {len(inputs)} inputs and {len(g.output)} outputs; cgrad's nets "
                                  "take one input and give one output")
        self.input, self.output = inputs[0].name, g.output[0].name
        self.fuse()
        dims = inputs[0].type.tensor_type.shape.dim
        self.rank = len(dims) if dims else 4
        self.consumers = {}
        for i, n in self.nodes:
            for t in n.input:
                if t and t not in self.inits:
                    self.consumers.setdefault(t, []).append((i, n))
        self.done = set()

    # ---- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def where(i, n):
        return f"node {n.name!r} ({n.op_type}, node {i})" if n.name else f"node {i} ({n.op_type}, unnamed)"

    def fail(self, i, n, msg):
        raise OnnxImportError(f"{self.where(i, n)}: {msg}")

    def _constant(self, n, i):
        for a in n.attribute:
            if a.name == "value":
                return self.nh.to_array(a.t)
        self.fail(i, n, "a Constant without a tensor 'value'")

    def attrs(self, n):
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in n.attribute}

    def init(self, i, n, k, what, optional=False):
        name = n.input[k] if k < len(n.input) else ""
        if not name:
            if optional:
                return None
            self.fail(i, n, f"has no {what} (input {k})")
        if name not in self.inits:
            self.fail(i, n, f"{what} (input {k}, {name!r}) is computed, not a constant: cgrad's layers hold their "
                            "weights")
        return self.inits[name]

    def square(self, i, n, vals, what, default):
        vals = list(vals) if vals is not None else None
        if vals is None or not vals:
            return default
        if len(set(vals)) != 1:
            self.fail(i, n, f"{what} {vals} is not the same on every side; the spec says square kernels, strides "
                            "and symmetric padding only")
        return int(vals[0])

    def pool_args(self, i, n, a):
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            self.fail(i, n, f"auto_pad {a['auto_pad']!r}: give explicit pads")
        if a.get("ceil_mode", 0):
            self.fail(i, n, "ceil_mode=1: the spec's pools round down")
        if self.square(i, n, a.get("dilations"), "dilations", 1) != 1:
            self.fail(i, n, "dilated pooling: the spec's pools have no dilation")
        if len(n.output) > 1 and n.output[1]:
            self.fail(i, n, "the indices output is used: the spec's max pool gives values only")
        k = self.square(i, n, a.get("kernel_shape"), "kernel_shape", None)
        if k is None:
            self.fail(i, n, "no kernel_shape")
        return k, self.square(i, n, a.get("strides"), "strides", 1), self.square(i, n, a.get("pads"), "pads", 0)

    def need_rank(self, i, n, rank, want):
        if rank != want:
            self.fail(i, n, f"takes a rank-{rank} tensor here; cgrad maps it for rank {want} only")

    # ---- activations written as several nodes -----------------------------------------------------
    def fuse(self):
        """Replace each pattern of nodes that is one of cgrad's activations (as torch.onnx.export
        writes them, opsets 13-17) by one node, its last, taking the pattern's input x:
          silu                 Mul(x, Sigmoid(x))
          hardswish            Mul(x, HardSigmoid(x, alpha=1/6, beta=0.5))     (opset < 14)
          gelu                 x * 0.5 * (1 + Erf(x / sqrt(2)))                 (x * 0.70710677 too)
          gelu(approximate=tanh)  x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
          softplus(beta=b)     Div(Softplus(Mul(x, b)), b)
        the products in any order, 0.5 as Mul 0.5 or Div 2. A pattern whose constants differ is
        refused, naming the node that holds the constant."""
        self.fused = {}
        self.prod = {o: (i, n) for i, n in self.nodes for o in n.output if o}
        self.cons = {}
        for i, n in self.nodes:
            for t in n.input:
                if t and t not in self.inits:
                    self.cons.setdefault(t, []).append((i, n))
        matchers = {"Sigmoid": self.m_silu, "HardSigmoid": self.m_hardswish, "Erf": self.m_gelu,
                    "Tanh": self.m_gelu_tanh, "Softplus": self.m_softplus}
        used, last = set(), {}
        for i, n in self.nodes:
            if n.op_type in matchers and n.domain in ("", "ai.onnx") and i not in used:
                m = matchers[n.op_type](i, n)
                if m:
                    x, y, rec, idx = m
                    if used & set(idx):
                        self.fail(i, n, "is in two activation patterns at once")
                    used |= set(idx)
                    last[self.prod[y][0]] = (x, y, rec)
        nodes = []
        for i, n in self.nodes:
            if i in last:
                x, y, rec = last[i]
                nodes.append((i, self.onnx.helper.make_node(n.op_type, [x], [y], name=n.name)))
                self.fused[i] = rec
            elif i not in used:
                nodes.append((i, n))
        self.nodes = nodes

    def scalar(self, t):
        v = self.inits.get(t)
        if v is None or np.asarray(v).size != 1 or np.asarray(v).dtype.kind != "f":
            return None
        return float(np.asarray(v).reshape(()))

    @staticmethod
    def near(v, want):
        return v is not None and abs(v - want) <= 1e-6 * abs(want)

    @staticmethod
    def other(n, t):
        """The input of the two-input node n that is not t (t itself for n(t, t)), or None."""
        ins = list(n.input)
        if len(ins) != 2 or t not in ins:
            return None
        ins.remove(t)
        return ins[0]

    def only(self, t):
        """(index, node) of the one node that uses t, or None (also when t is the graph's output)."""
        c = self.cons.get(t, [])
        return c[0] if len(c) == 1 and t != self.output else None

    def by_scalar(self, t, ops=("Mul",)):
        """(index, node, other input, constant) where t is made by Mul(a, c)/Mul(c, a) (or Div(a, c)
        if in ops) of a scalar constant c, used by one node only; else None."""
        p = self.prod.get(t)
        if p is None or p[1].op_type not in ops or len(p[1].input) != 2 or self.only(t) is None:
            return None
        j, m = p
        a, b = m.input
        if self.scalar(b) is not None and a not in self.inits:
            return j, m, a, self.scalar(b)
        if m.op_type == "Mul" and self.scalar(a) is not None and b not in self.inits:
            return j, m, b, self.scalar(a)
        return None

    def m_silu(self, i, n):
        x, nxt = n.input[0], self.only(n.output[0])
        if nxt and nxt[1].op_type == "Mul" and self.other(nxt[1], n.output[0]) == x and x not in self.inits:
            return x, nxt[1].output[0], _rec("silu"), [i, nxt[0]]
        return None

    def m_hardswish(self, i, n):
        x, nxt = n.input[0], self.only(n.output[0])
        if not (nxt and nxt[1].op_type == "Mul" and self.other(nxt[1], n.output[0]) == x and x not in self.inits):
            return None
        a = self.attrs(n)
        alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
        if not (self.near(alpha, 1 / 6) and self.near(beta, 0.5)):
            self.fail(i, n, f"alpha {alpha:.7g}, beta {beta:.7g}: x * HardSigmoid(x) is cgrad's hardswish only with "
                            "alpha 1/6 and beta 0.5")
        return x, nxt[1].output[0], _rec("hardswish"), [i, nxt[0]]

    def one_plus(self, i, n, what):
        """The Add(n's output, 1) after n: (index, node)."""
        nxt = self.only(n.output[0])
        if not nxt or nxt[1].op_type != "Add" or self.scalar(self.other(nxt[1], n.output[0])) is None:
            self.fail(i, n, f"cgrad maps {n.op_type} only in {what}")
        one = self.scalar(self.other(nxt[1], n.output[0]))
        if not self.near(one, 1.0):
            self.fail(*nxt, f"adds {one:.7g}: {what} adds 1")
        return nxt

    def times_half_x(self, u, x, anchor, what):
        """The Mul/Div nodes that make x * 0.5 * u, in any order: (output tensor, their indices)."""
        used, nx, c, cnode, cur = [], 0, 1.0, None, u
        while nx < 1 or cnode is None:
            nxt = self.only(cur)
            if nxt is None or nxt[1].op_type not in ("Mul", "Div") or len(used) >= 3:
                self.fail(*anchor, f"is not followed by the products of {what}")
            j, m = nxt
            o = self.other(m, cur)
            if m.op_type == "Div":
                if m.input[0] != cur or self.scalar(m.input[1]) is None:
                    self.fail(j, m, f"is not a product of {what}")
                c, cnode = c / self.scalar(m.input[1]), (j, m)
            elif o == x:
                nx += 1
            elif self.scalar(o) is not None:
                c, cnode = c * self.scalar(o), (j, m)
            else:
                h = self.by_scalar(o)
                if h is None or h[2] != x or self.only(o)[0] != j:
                    self.fail(j, m, f"is not a product of {what}")
                nx, c, cnode = nx + 1, c * h[3], (h[0], h[1])
                used.append(h[0])
            used.append(j)
            cur = m.output[0]
        if nx != 1:
            self.fail(*anchor, f"is not followed by the products of {what}")
        if not self.near(c, 0.5):
            self.fail(*cnode, f"scales by {c:.7g}: {what} scales by 0.5")
        return cur, used

    def m_gelu(self, i, n):
        what = "GELU's pattern x * 0.5 * (1 + Erf(x / sqrt(2)))"
        d = self.by_scalar(n.input[0], ("Mul", "Div"))
        if d is None:
            self.fail(i, n, f"cgrad maps Erf only in {what}")
        dj, dn, x, c = d
        scale = 1 / c if dn.op_type == "Div" and c else c
        if not self.near(scale, 1 / np.sqrt(2)):
            self.fail(dj, dn, f"{'divides' if dn.op_type == 'Div' else 'multiplies'} by {c:.7g}: {what} divides by "
                              "sqrt(2) = 1.4142135 (or multiplies by 0.70710677)")
        aj, an = self.one_plus(i, n, what)
        y, used = self.times_half_x(an.output[0], x, (i, n), what)
        return x, y, _rec("gelu"), [dj, i, aj] + used

    def cube(self, t, x):
        """Indices of the nodes that make t = x^3 (Mul(x, Mul(x, x)) either way, or Pow(x, 3)), or None."""
        p = self.prod.get(t)
        if p is None or self.only(t) is None:
            return None
        j, m = p
        if m.op_type == "Pow" and list(m.input[:1]) == [x] and self.near(self.scalar(m.input[1]), 3.0):
            return [j]
        if m.op_type != "Mul" or self.other(m, x) is None:
            return None
        sq = self.prod.get(self.other(m, x))
        if sq is None or sq[1].op_type != "Mul" or list(sq[1].input) != [x, x] or self.only(sq[1].output[0]) is None:
            return None
        return [j, sq[0]]

    def m_gelu_tanh(self, i, n):
        nxt = self.only(n.output[0])
        if not nxt or nxt[1].op_type != "Add" or self.scalar(self.other(nxt[1], n.output[0])) is None:
            return None   # a Tanh layer
        what = "GELU's tanh pattern x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))"
        b = self.by_scalar(n.input[0])
        s = b and self.prod.get(b[2])
        if not s or s[1].op_type != "Add" or len(s[1].input) != 2 or self.only(b[2]) is None:
            self.fail(i, n, f"is followed by an Add: cgrad maps that only as {what}")
        for x, k in (tuple(s[1].input), tuple(reversed(s[1].input))):
            kk = self.by_scalar(k)
            c3 = kk and self.cube(kk[2], x)
            if c3:
                break
        else:
            self.fail(i, n, f"is followed by an Add: cgrad maps that only as {what}")
        if not self.near(b[3], float(np.sqrt(2 / np.pi))):
            self.fail(b[0], b[1], f"multiplies by {b[3]:.7g}: {what} multiplies by sqrt(2/pi) = 0.7978846")
        if not self.near(kk[3], 0.044715):
            self.fail(kk[0], kk[1], f"multiplies by {kk[3]:.7g}: {what} multiplies x^3 by 0.044715")
        aj, an = self.one_plus(i, n, what)
        y, used = self.times_half_x(an.output[0], x, (i, n), what)
        return x, y, _rec("gelu", {"approximate": "tanh"}), c3 + [kk[0], s[0], b[0], i, aj] + used

    def m_softplus(self, i, n):
        pre = self.by_scalar(n.input[0])
        nxt = self.only(n.output[0])
        post = None
        if nxt and nxt[1].op_type in ("Mul", "Div") and self.scalar(self.other(nxt[1], n.output[0])) is not None \
                and (nxt[1].op_type == "Mul" or nxt[1].input[0] == n.output[0]):
            c = self.scalar(self.other(nxt[1], n.output[0]))
            post = c if nxt[1].op_type == "Div" else (1 / c if c else 0.0)
        if pre is None and post is None:
            return None   # softplus with beta 1
        what = "cgrad's softplus(beta) is Softplus(x * beta) / beta, beta > 0"
        if pre is None or post is None or not self.near(pre[3], post) or pre[3] <= 0:
            self.fail(i, n, f"Softplus of x * {pre[3] if pre else 1:.7g}, divided by {post or 1:.7g}: {what}")
        return pre[2], nxt[1].output[0], _rec("softplus", {"beta": _f32(pre[3])}), [pre[0], i, nxt[0]]

    # ---- one node -> layer records ---------------------------------------------------------------
    def convert(self, i, n, rank):
        """(records, output tensor, rank) of node n (and of a bias Add after a MatMul)."""
        op, a = n.op_type, self.attrs(n)
        if n.domain not in ("", "ai.onnx"):
            self.fail(i, n, f"op {n.domain}.{op} is not in the ONNX standard domain; cgrad's spec has no such layer")
        out = n.output[0]
        if i in self.fused:
            return [self.fused[i]], out, rank
        if op == "Conv":
            self.need_rank(i, n, rank, 4)
            w = self.init(i, n, 1, "weight")
            b = self.init(i, n, 2, "bias", optional=True)
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                self.fail(i, n, f"auto_pad {a['auto_pad']!r}: give explicit pads")
            if w.ndim != 4:
                self.fail(i, n, f"weight of shape {list(w.shape)}: cgrad's conv2d is 2-D")
            k = self.square(i, n, a.get("kernel_shape") or w.shape[2:], "kernel_shape", None)
            if w.shape[2] != w.shape[3]:
                self.fail(i, n, f"kernel {list(w.shape[2:])} is not square")
            g = int(a.get("group", 1))
            args = {"in": int(w.shape[1]) * g, "out": int(w.shape[0]), "kernel": k,
                    "stride": self.square(i, n, a.get("strides"), "strides", 1),
                    "padding": self.square(i, n, a.get("pads"), "pads", 0),
                    "dilation": self.square(i, n, a.get("dilations"), "dilations", 1), "groups": g,
                    "bias": b is not None}
            params = OrderedDict(weight=w)
            if b is not None:
                params["bias"] = b
            return [_rec("conv2d", args, params)], out, 4
        if op == "BatchNormalization":
            if a.get("training_mode", 0):
                self.fail(i, n, "training_mode=1: import the inference graph")
            scale, bias = self.init(i, n, 1, "scale"), self.init(i, n, 2, "bias")
            mean, var = self.init(i, n, 3, "mean"), self.init(i, n, 4, "var")
            eps = _f32(a.get("epsilon", 1e-5))
            mom = float(f"{1.0 - float(np.float32(a.get('momentum', 0.9))):.6g}")  # PyTorch momentum = 1 - ONNX momentum
            params = OrderedDict(weight=scale, bias=bias, running_mean=mean, running_var=var,
                                 num_batches_tracked=np.array(0, dtype=np.int64))
            c = int(scale.shape[0])
            if rank == 4:
                return [_rec("batch_norm2d", {"channels": c, "eps": eps, "momentum": mom}, params)], out, 4
            if rank == 2:
                return [_rec("batch_norm1d", {"num_features": c, "eps": eps, "momentum": mom}, params)], out, 2
            self.fail(i, n, f"on a rank-{rank} tensor: cgrad has batch norm for rank 2 and 4")
        simple = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish"}
        if op in simple:
            return [_rec(simple[op])], out, rank
        if op == "LeakyRelu":
            return [_rec("leaky_relu", {"negative_slope": _f32(a.get("alpha", 0.01))})], out, rank
        if op == "Softplus":
            return [_rec("softplus")], out, rank
        if op == "Clip":
            if self.opset < 11:
                lo, hi = a.get("min"), a.get("max")
            else:
                lo = self.init(i, n, 1, "min", optional=True)
                hi = self.init(i, n, 2, "max", optional=True)
            lo = None if lo is None else _f32(np.asarray(lo).reshape(()))
            hi = None if hi is None else _f32(np.asarray(hi).reshape(()))
            if lo == 0.0 and hi == 6.0:
                return [_rec("relu6")], out, rank
            if lo is None or hi is None:
                self.fail(i, n, "a Clip without both bounds: cgrad has relu6 and hardtanh(min, max)")
            return [_rec("hardtanh", {"min_val": lo, "max_val": hi})], out, rank
        if op == "MaxPool":
            self.need_rank(i, n, rank, 4)
            if a.get("storage_order", 0):
                self.fail(i, n, "storage_order=1")
            k, s, p = self.pool_args(i, n, a)
            return [_rec("max_pool2d", {"kernel": k, "stride": s, "padding": p})], out, 4
        if op == "AveragePool":
            self.need_rank(i, n, rank, 4)
            k, s, p = self.pool_args(i, n, a)
            if p and not a.get("count_include_pad", 0):
                self.fail(i, n, "count_include_pad=0 with padding: cgrad's avg_pool2d counts the padding "
                                "(PyTorch's default)")
            return [_rec("avg_pool2d", {"kernel": k, "stride": s, "padding": p})], out, 4
        if op == "Pad":   # PyTorch exports AvgPool2d(padding=p) as Pad + AveragePool: count_include_pad
            self.need_rank(i, n, rank, 4)
            mode = a.get("mode", b"constant")
            pads = a.get("pads") if self.opset < 11 else self.init(i, n, 1, "pads")
            value = a.get("value", 0.0) if self.opset < 11 else self.init(i, n, 2, "constant_value", optional=True)
            pads = [int(v) for v in np.asarray(pads).reshape(-1)]
            cons = self.consumers.get(out, [])
            if mode not in (b"constant", "constant") or (value is not None and float(np.asarray(value).reshape(())) != 0) \
                    or len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5] or len(set(pads[2:4] + pads[6:8])) != 1 \
                    or len(cons) != 1 or cons[0][1].op_type != "AveragePool" or out == self.output:
                self.fail(i, n, "cgrad maps a Pad only as the zero padding of an AveragePool (PyTorch's "
                                "AvgPool2d(padding=p)), the same on every side")
            j, pool = cons[0]
            k, s, p = self.pool_args(j, pool, self.attrs(pool))
            if p:
                self.fail(j, pool, "pads both in a Pad and in the AveragePool")
            self.done.add(j)
            return [_rec("avg_pool2d", {"kernel": k, "stride": s, "padding": pads[2]})], pool.output[0], 4
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            self.need_rank(i, n, rank, 4)
            return [_rec("adaptive_avg_pool2d" if op == "GlobalAveragePool" else "adaptive_max_pool2d",
                         {"output_size": 1})], out, 4
        if op == "Flatten":
            if int(a.get("axis", 1)) != 1:
                self.fail(i, n, f"axis {a.get('axis')}: the spec's flatten keeps the batch dim only (axis 1)")
            return [_rec("flatten")], out, 2
        if op == "Reshape":
            shape = self.init(i, n, 1, "shape")
            if list(shape.reshape(-1)) != [0, -1] or a.get("allowzero", 0):
                self.fail(i, n, f"to shape {list(shape.reshape(-1))}: cgrad maps a Reshape to [0, -1] (flatten) only")
            return [_rec("flatten")], out, 2
        if op == "Gemm":
            self.need_rank(i, n, rank, 2)
            if a.get("transA", 0):
                self.fail(i, n, "transA=1: the input must be [batch, features]")
            w = self.init(i, n, 1, "B (weight)").astype(np.float32)
            c = self.init(i, n, 2, "C (bias)", optional=True)
            w = w if a.get("transB", 0) else w.T
            w = w * np.float32(a.get("alpha", 1.0)) if a.get("alpha", 1.0) != 1.0 else w
            params = OrderedDict(weight=np.ascontiguousarray(w))
            if c is not None:
                c = np.asarray(c, dtype=np.float32)
                if c.size == 1 and w.shape[0] != 1:
                    c = np.full(w.shape[0], c.reshape(()), dtype=np.float32)
                if c.size != w.shape[0]:
                    self.fail(i, n, f"bias of shape {list(c.shape)} for {w.shape[0]} outputs")
                params["bias"] = c.reshape(-1) * np.float32(a.get("beta", 1.0))
            return [_rec("linear", {"in": int(w.shape[1]), "out": int(w.shape[0]), "bias": c is not None},
                         params)], out, 2
        if op == "MatMul":
            self.need_rank(i, n, rank, 2)
            w = self.init(i, n, 1, "weight (B)")
            if w.ndim != 2:
                self.fail(i, n, f"weight of shape {list(w.shape)}: a linear layer's is 2-D")
            params = OrderedDict(weight=np.ascontiguousarray(w.T))
            cons = self.consumers.get(out, [])
            if len(cons) == 1 and cons[0][1].op_type == "Add" and out != self.output:
                j, add = cons[0]
                other = [t for t in add.input if t != out]
                if len(other) == 1 and other[0] in self.inits:
                    b = self.inits[other[0]]
                    if b.size != w.shape[1]:
                        self.fail(j, add, f"bias of shape {list(b.shape)} after a MatMul of {w.shape[1]} outputs")
                    params["bias"] = b.reshape(-1)
                    self.done.add(j)
                    return [_rec("linear", {"in": int(w.shape[0]), "out": int(w.shape[1]), "bias": True}, params)], \
                        add.output[0], 2
            return [_rec("linear", {"in": int(w.shape[0]), "out": int(w.shape[1]), "bias": False}, params)], out, 2
        if op == "LogSoftmax":
            axis = int(a.get("axis", 1 if self.opset < 13 else -1))
            if not (axis == 1 or (axis == -1 and rank == 2)) or (self.opset < 13 and rank != 2):
                self.fail(i, n, f"axis {axis} on a rank-{rank} tensor: cgrad's log_softmax is over dim 1")
            return [_rec("log_softmax")], out, rank
        if op in ("Dropout", "Identity"):
            if len(n.output) > 1 and n.output[1] and n.output[1] in self.consumers:
                self.fail(i, n, "its mask is used")
            return [], out, rank
        if op in ("Mul", "Div", "HardSigmoid"):
            self.fail(i, n, f"cgrad maps {op} only in the patterns of silu (x * Sigmoid(x)), hardswish "
                            "(x * HardSigmoid(x)), gelu (Erf or Tanh) and softplus(beta) (Softplus(x * b) / b)")
        if op == "Add":
            self.fail(i, n, "adds a constant or joins tensors that are not a residual (x + f(x)) of one fork")
        if op == "Concat":
            self.fail(i, n, "joins tensors that are not the branches of one fork")
        self.fail(i, n, f"op {op} has no layer in cgrad's spec (it maps Conv, BatchNormalization, Relu, LeakyRelu, "
                        "Sigmoid, Tanh, HardSwish, Softplus, the patterns of silu and gelu, Clip, MaxPool, AveragePool, GlobalAveragePool, "
                        "GlobalMaxPool, Flatten, Gemm, MatMul+Add, LogSoftmax, Add (residual), Concat (parallel))")

    # ---- the walk ----------------------------------------------------------------------------------
    def is_join(self, n):
        return n.op_type in JOINS and sum(1 for t in n.input if t and t not in self.inits) >= 2

    def chain(self, t, rank):
        """Layers from tensor t up to the graph's output or to a join: (records, end tensor, rank, join)."""
        recs = []
        while True:
            cons = [c for c in self.consumers.get(t, []) if c[0] not in self.done]
            if t == self.output:
                if cons:
                    i, n = cons[0]
                    self.fail(i, n, "uses the graph's output: the output must be the last layer's")
                return recs, t, rank, None
            if not cons:
                raise OnnxImportError(f"tensor {t!r} is neither used nor the graph's output {self.output!r}")
            if len(cons) > 1:
                rec, t, rank = self.fork(t, cons, rank)
                recs.append(rec)
                continue
            i, n = cons[0]
            if self.is_join(n):
                return recs, t, rank, (i, n)
            new, t, rank = self.convert(i, n, rank)
            self.done.add(i)
            recs.extend(new)

    def fork(self, t, cons, rank):
        ends = []
        for i, n in cons:
            if self.is_join(n):
                ends.append(([], t, rank, (i, n)))
            else:
                new, t2, r2 = self.convert(i, n, rank)
                self.done.add(i)
                sub, t3, r3, j = self.chain(t2, r2)
                ends.append((new + sub, t3, r3, j))
        joins = {e[3][0] if e[3] else None for e in ends}
        names = ", ".join(self.where(i, n) for i, n in cons)
        if len(joins) != 1 or None in joins:
            raise OnnxImportError(f"tensor {t!r} feeds {names}, whose paths do not meet again in one Add or Concat: "
                                  "cgrad's spec says residual (x + f(x)) and parallel (Concat of branches) forks only")
        ji, jn = ends[0][3]
        acts = [x for x in jn.input if x and x not in self.inits]
        if sorted(acts) != sorted(e[1] for e in ends):
            self.fail(ji, jn, f"joins {acts}, not exactly the branches that fork from {t!r}")
        self.done.add(ji)
        if jn.op_type == "Add":
            if len(ends) != 2 or sum(1 for e in ends if not e[0]) != 1:
                self.fail(ji, jn, "adds two computed branches; cgrad's residual is x + f(x), one side the fork's "
                                  "input itself")
            body = next(e for e in ends if e[0])
            if body[2] != rank:
                self.fail(ji, jn, "the residual branch changes the tensor's rank")
            return {"op": "residual", "children": body[0]}, jn.output[0], rank
        axis = int(self.attrs(jn).get("axis", 1))
        if axis != 1:
            self.fail(ji, jn, f"axis {axis}: cgrad's parallel concatenates along dim 1")
        pending = list(ends)
        branches = []
        for x in jn.input:
            k = next(k for k, e in enumerate(pending) if e[1] == x)
            e = pending.pop(k)
            branches.append(e[0] if e[0] else [_rec("identity")])
        if len({e[2] for e in ends}) != 1:
            self.fail(ji, jn, "the branches end in tensors of different ranks")
        return {"op": "parallel", "branches": branches}, jn.output[0], ends[0][2]

    def run(self):
        recs, _, _, join = self.chain(self.input, self.rank)
        if join is not None:
            self.fail(*join, "joins tensors that do not fork from one tensor")
        if not recs:
            raise OnnxImportError("the graph computes nothing cgrad's spec can say (no layers)")
        left = [self.where(i, n) for i, n in self.nodes if i not in self.done]
        if left:
            raise OnnxImportError(f"nodes not on the path from the input to the output: {', '.join(left)}")
        tensors = OrderedDict()
        _name(recs, "", tensors)
        return write(recs), tensors


def _name(recs, prefix, tensors):
    for k, r in enumerate(recs):
        p = f"{prefix}{k}."
        if r["op"] == "residual":
            _name(r["children"], p, tensors)
        elif r["op"] == "parallel":
            for j, b in enumerate(r["branches"]):
                _name(b, f"{p}{j}.", tensors)
        else:
            for key, v in r["params"].items():
                v = np.asarray(v)
                tensors[p + key] = v.astype(np.int64) if v.dtype.kind in "iub" else v.astype(np.float32)


def _no_external_data(model):
    """Refuse a model whose tensors live in other files: their paths come from the model, and
    reading them would open whatever it names."""
    from onnx import TensorProto
    g = model.graph
    tensors = list(g.initializer) + [t for s in g.sparse_initializer for t in (s.values, s.indices)]
    for n in g.node:
        tensors += [a.t for a in n.attribute if a.HasField("t")] + [t for a in n.attribute for t in a.tensors]
    for t in tensors:
        if t.HasField("data_location") and t.data_location == TensorProto.EXTERNAL or len(t.external_data):
            raise OnnxImportError(f"tensor {t.name!r} keeps its data in an external file; refusing it (embed the "
                                  "data: onnx.save_model(m, path, save_as_external_data=False))")


def convert(model):
    """(spec text, OrderedDict of the state dict) of an onnx.ModelProto or a path to a .onnx file."""
    onnx = need_onnx("ONNX import")
    if isinstance(model, str):
        raw = read_input(model, "ONNX model")   # a regular file, bounded; InputError names it
        try:
            model = onnx.load_model_from_string(raw)
        except Exception as e:  # noqa: BLE001 - protobuf raises its own DecodeError
            raise OnnxImportError(f"cannot read it as an ONNX model: {e}") from None
    _no_external_data(model)
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001
        raise OnnxImportError(f"not a valid ONNX model: {str(e).splitlines()[0] if str(e) else e}") from None
    return _Importer(model).run()
