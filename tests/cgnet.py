#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""cgnet: a PyTorch twin of cgrad's one-line network spec language.

It mirrors cgrad's C parser (lib/nn/spec.c): the same spec text builds the same network in
PyTorch, with the same state-dict names, so checkpoints move between the two unchanged.

Grammar:
  spec   := layer (WS layer)*          layers are separated by whitespace (spaces, tabs, newlines)
  layer  := [name "="] op ["(" args ")"]     name: [A-Za-z_][A-Za-z0-9_]*
  args   := positional values first, then key=value, comma separated; whitespace allowed inside
  value  := integer (3, -1) | decimal (0.25, 1e-5, .5) | true | false
  residual(layers...) computes x + layers(x); its content is itself a layer list (may nest).
  parallel(A | B | ...) runs each branch (a layer list) on x and concatenates the outputs along
  dim 1: torch.cat([A(x), B(x), ...], 1) (class Parallel, an nn.ModuleList of nn.Sequential).
  identity is nn.Identity: parallel(identity | layers...) is a DenseNet or U-Net skip.
  residual and parallel nest in each other up to 8 deep in all.
  "#" starts a comment that runs to the end of the line.

A layer's parameters are named "<name>.<param>", where name is the layer's given name or else its
0-based position in its sequence, exactly like nn.Sequential ("0.weight", "3.1.running_var"); layer
k of branch j of a parallel at position i is "i.j.k.weight".
Errors raise ValueError naming the 0-based character offset into the spec.

  cgnet.py 'SPEC'        print the module and its state_dict keys with shapes
  cgnet.py --self-test   run the built-in checks
"""
import os
import re
import sys
import warnings
from collections import OrderedDict

try:
    import torch
    import torch.nn as nn
except ImportError as _e:  # run as a script without torch: skipped (77), as ctest expects
    if __name__ == "__main__":
        print(f"SKIP: cannot import torch: {_e}")
        sys.exit(77)
    raise

# nn.Dropout2d on a 2-D [N, F] input drops elementwise, which the seed net relies on.
warnings.filterwarnings("ignore", message=r"dropout2d: Received a 2-D input", category=UserWarning)

SEED_SPEC_PATH = os.path.join(os.path.dirname(__file__), "..", "apps", "nets", "seed.net")

REQ = object()  # marks a required parameter
SAME = None     # pool stride default: same as the kernel

def _conv_transpose2d(a):
    # PyTorch checks output_padding only in forward; cgrad's parser rejects it up front.
    if a["output_padding"] >= a["stride"] and a["output_padding"] >= a["dilation"]:
        raise ValueError(f"output_padding {a['output_padding']} must be smaller than stride {a['stride']} "
                         f"or dilation {a['dilation']}")
    return nn.ConvTranspose2d(a["in"], a["out"], a["kernel"], a["stride"], a["padding"], a["output_padding"],
                              a["groups"], a["bias"], a["dilation"])


# op -> (module factory taking the resolved args, [(param, type, default), ...])
OPS = {
    "conv2d": (lambda a: nn.Conv2d(a["in"], a["out"], a["kernel"], a["stride"], a["padding"],
                                   a["dilation"], a["groups"], a["bias"]),
               [("in", int, REQ), ("out", int, REQ), ("kernel", int, REQ), ("stride", int, 1),
                ("padding", int, 0), ("dilation", int, 1), ("groups", int, 1), ("bias", bool, True)]),
    "conv_transpose2d": (lambda a: _conv_transpose2d(a),
                         [("in", int, REQ), ("out", int, REQ), ("kernel", int, REQ), ("stride", int, 1),
                          ("padding", int, 0), ("output_padding", int, 0), ("groups", int, 1), ("bias", bool, True),
                          ("dilation", int, 1)]),
    "linear": (lambda a: nn.Linear(a["in"], a["out"], a["bias"]),
               [("in", int, REQ), ("out", int, REQ), ("bias", bool, True)]),
    "batch_norm2d": (lambda a: nn.BatchNorm2d(a["channels"], a["eps"], a["momentum"]),
                     [("channels", int, REQ), ("eps", float, 1e-5), ("momentum", float, 0.1)]),
    "max_pool2d": (lambda a: nn.MaxPool2d(a["kernel"], a["stride"], a["padding"]),
                   [("kernel", int, REQ), ("stride", int, SAME), ("padding", int, 0)]),
    "avg_pool2d": (lambda a: nn.AvgPool2d(a["kernel"], a["stride"], a["padding"]),
                   [("kernel", int, REQ), ("stride", int, SAME), ("padding", int, 0)]),
    "adaptive_avg_pool2d": (lambda a: nn.AdaptiveAvgPool2d(a["output_size"]),
                            [("output_size", int, REQ)]),
    "adaptive_max_pool2d": (lambda a: nn.AdaptiveMaxPool2d(a["output_size"]),
                            [("output_size", int, REQ)]),
    "embedding": (lambda a: Embedding(a["num_embeddings"], a["embedding_dim"]),
                  [("num_embeddings", int, REQ), ("embedding_dim", int, REQ)]),
    "dropout": (lambda a: nn.Dropout(a["p"]), [("p", float, REQ)]),
    "dropout2d": (lambda a: nn.Dropout2d(a["p"]), [("p", float, REQ)]),
    "leaky_relu": (lambda a: nn.LeakyReLU(a["negative_slope"]), [("negative_slope", float, 0.01)]),
    "relu": (lambda a: nn.ReLU(), []),
    "sigmoid": (lambda a: nn.Sigmoid(), []),
    "tanh": (lambda a: nn.Tanh(), []),
    "flatten": (lambda a: nn.Flatten(1), []),
    "log_softmax": (lambda a: nn.LogSoftmax(dim=1), []),
    "gelu": (lambda a: nn.GELU(approximate=a["approximate"]), [("approximate", ("none", "tanh"), "none")]),
    "silu": (lambda a: nn.SiLU(), []),
    "upsample": (lambda a: nn.Upsample(scale_factor=a["scale_factor"], mode="nearest"), [("scale_factor", int, REQ)]),
    "group_norm": (lambda a: nn.GroupNorm(a["num_groups"], a["num_channels"], a["eps"], a["affine"]),
                   [("num_groups", int, REQ), ("num_channels", int, REQ), ("eps", float, 1e-5), ("affine", bool, True)]),
    "batch_norm1d": (lambda a: nn.BatchNorm1d(a["num_features"], a["eps"], a["momentum"]),
                     [("num_features", int, REQ), ("eps", float, 1e-5), ("momentum", float, 0.1)]),
    "layer_norm": (lambda a: nn.LayerNorm(a["normalized_shape"], a["eps"], a["elementwise_affine"]),
                   [("normalized_shape", int, REQ), ("eps", float, 1e-5), ("elementwise_affine", bool, True)]),
    "hardswish": (lambda a: nn.Hardswish(), []),
    "softplus": (lambda a: nn.Softplus(a["beta"], a["threshold"]), [("beta", float, 1.0), ("threshold", float, 20.0)]),
    "relu6": (lambda a: nn.ReLU6(), []),
    "identity": (lambda a: nn.Identity(), []),
    "hardtanh": (lambda a: nn.Hardtanh(a["min_val"], a["max_val"]), [("min_val", float, -1.0), ("max_val", float, 1.0)]),
}

MAX_DEPTH = 8   # residual and parallel nested in each other, in all (lib/nn/spec.c SPEC_MAX_DEPTH)

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
INTEGER = re.compile(r"[-+]?\d+")


class Embedding(nn.Embedding):
    """nn.Embedding on float input holding whole numbers, as cgrad's Embedding takes it."""

    def forward(self, x):
        return super().forward(x.long())


class Residual(nn.Sequential):
    """x + layers(x)."""

    def forward(self, x):
        return x + super().forward(x)


class Parallel(nn.ModuleList):
    """torch.cat([branch(x) for branch in self], 1); each branch an nn.Sequential."""

    def forward(self, x):
        return torch.cat([m(x) for m in self], 1)


class _Parser:
    def __init__(self, spec):
        self.s, self.i, self.depth = spec, 0, 0

    def fail(self, msg, pos=None):
        pos = self.i if pos is None else pos
        near = self.s[pos:pos + 20] or "end of spec"
        raise ValueError(f"spec error at position {pos}: {msg} (near {near!r})")

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_ws(self):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "#":
                nl = self.s.find("\n", self.i)
                self.i = len(self.s) if nl < 0 else nl + 1
            elif c.isspace():
                self.i += 1
            else:
                break

    def name(self, what):
        m = NAME.match(self.s, self.i)
        if not m:
            self.fail(f"expected {what}")
        self.i = m.end()
        return m.group()

    def layers(self, closing, bars=False):
        """Layers up to the end of the spec (closing=False) or up to a ')' (closing=True), or a '|'
        (bars=True: a parallel's branch)."""
        out, names = [], set()
        self.skip_ws()
        while self.peek() and self.peek() not in (")", "|"):
            layer = self.layer()
            if layer["name"] is not None:
                if layer["name"] in names:
                    self.fail(f"duplicate layer name {layer['name']!r}", layer["pos"])
                names.add(layer["name"])
            out.append(layer)
            if self.peek() not in ("", ")", "#", "|") and not self.peek().isspace():
                self.fail("expected whitespace between layers")
            self.skip_ws()
        if self.peek() == "|" and not bars:
            self.fail("'|' separates the branches of a parallel only")
        if self.peek() == ")" and not closing:
            self.fail("unbalanced ')'")
        if not self.peek() and closing:
            self.fail("unbalanced '(': missing ')'")
        return out

    def layer(self):
        pos = self.i
        name, op = None, self.name("a layer")
        if self.peek() == "=":
            self.i += 1
            name, op = op, self.name("an op after '='")
        rec = {"name": name, "op": op, "pos": pos, "args": {}, "children": [], "branches": []}
        if op in ("residual", "parallel"):
            if self.peek() != "(":
                self.fail(f"{op} needs '(layers...)'")
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.fail(f"residual and parallel nest deeper than {MAX_DEPTH}", pos)
            self.i += 1
            if op == "residual":
                rec["children"] = self.layers(closing=True)
                if not rec["children"]:
                    self.fail("residual needs at least one layer")
            else:
                while True:
                    branch = self.layers(closing=True, bars=True)
                    if not branch:
                        self.fail(f"parallel: branch {len(rec['branches'])} holds no layers")
                    rec["branches"].append(branch)
                    if self.peek() != "|":
                        break
                    self.i += 1
            self.depth -= 1
            self.i += 1
            return rec
        if op not in OPS:
            self.fail(f"unknown op {op!r}", pos)
        positional, keyed = [], {}
        if self.peek() == "(":
            self.i += 1
            self.skip_ws()
            while self.peek() != ")":
                if not self.peek():
                    self.fail("unbalanced '(': missing ')'")
                apos = self.i
                m = NAME.match(self.s, self.i)
                j = m.end() if m else self.i
                while j < len(self.s) and self.s[j].isspace():
                    j += 1
                if m and m.group() not in ("true", "false") and self.s[j:j + 1] == "=":
                    self.i = j + 1
                    self.skip_ws()
                    if m.group() in keyed:
                        self.fail(f"duplicate argument {m.group()!r}", apos)
                    keyed[m.group()] = (self.value(), apos)
                elif keyed:
                    self.fail("positional argument after key=value")
                else:
                    positional.append((self.value(), apos))
                self.skip_ws()
                if self.peek() == ",":
                    self.i += 1
                    self.skip_ws()
                    if self.peek() == ")":
                        self.fail("expected an argument after ','")
                elif self.peek() not in (")", ""):
                    self.fail("expected ',' or ')'")
            self.i += 1
        rec["args"] = self.resolve(op, positional, keyed, pos)
        return rec

    def value(self):
        # a word (for a parameter that takes one of a few words), bare or quoted
        q = self.peek() if self.peek() in ("'", '"') else ""
        m = NAME.match(self.s, self.i + len(q))
        if m and m.group() not in ("true", "false"):
            if q and self.s[m.end():m.end() + 1] != q:
                self.fail("a quoted word must end with its quote")
            self.i = m.end() + len(q)
            return ("word", m.group())
        for word, v in (("true", True), ("false", False)):
            if self.s.startswith(word, self.i) and not NAME.match(self.s, self.i + len(word)):
                self.i += len(word)
                return v
        m = NUMBER.match(self.s, self.i)
        if not m or NAME.match(self.s, m.end()) or self.s[m.end():m.end() + 1] == ".":
            self.fail("bad value: expected an integer, a decimal, true or false")
        self.i = m.end()
        return int(m.group()) if INTEGER.fullmatch(m.group()) else float(m.group())

    def resolve(self, op, positional, keyed, pos):
        params = OPS[op][1]
        if len(positional) > len(params):
            self.fail(f"too many arguments for {op} (takes {len(params)})", positional[len(params)][1])
        given = {params[k][0]: v for k, v in enumerate(positional)}
        for key, v in keyed.items():
            if key not in (p[0] for p in params):
                self.fail(f"unknown argument {key!r} for {op}", v[1])
            if key in given:
                self.fail(f"argument {key!r} of {op} given twice", v[1])
            given[key] = v
        args = {}
        for pname, ptype, default in params:
            if pname not in given:
                if default is REQ:
                    self.fail(f"{op} needs argument {pname!r}", pos)
                args[pname] = default
                continue
            v, apos = given[pname]
            if isinstance(ptype, tuple):
                if not (isinstance(v, tuple) and v[1] in ptype):
                    self.fail(f"{op} argument {pname!r} must be one of {'|'.join(ptype)}", apos)
                args[pname] = v[1]
                continue
            if isinstance(v, tuple):
                self.fail(f"bad value {v[1]!r}: expected an integer, a decimal, true or false", apos)
            if ptype is bool and not isinstance(v, bool):
                self.fail(f"{op} argument {pname!r} must be true or false", apos)
            if ptype is not bool and isinstance(v, bool):
                self.fail(f"{op} argument {pname!r} must be a number, not {v}", apos)
            if ptype is int and isinstance(v, float):
                self.fail(f"{op} argument {pname!r} must be an integer, not {v}", apos)
            args[pname] = float(v) if ptype is float else v
        return args


def parse(spec):
    """Layer records: dicts with name (or None), op, args (every parameter, defaults filled in),
    pos (0-based offset into spec), children (residual's layers) and branches (parallel's layer
    lists)."""
    layers = _Parser(spec).layers(closing=False)
    if not layers:
        raise ValueError("spec error at position 0: empty spec")
    return layers


def _sequential(records, cls=nn.Sequential):
    mods = OrderedDict()
    for k, rec in enumerate(records):
        key = rec["name"] if rec["name"] is not None else str(k)
        if rec["op"] == "residual":
            mods[key] = _sequential(rec["children"], Residual)
            continue
        if rec["op"] == "parallel":
            mods[key] = Parallel([_sequential(b) for b in rec["branches"]])
            continue
        try:
            mods[key] = OPS[rec["op"]][0](rec["args"])
        except (ValueError, RuntimeError, TypeError) as e:
            raise ValueError(f"spec error at position {rec['pos']}: {rec['op']}: {e}") from e
    return cls(mods)


def build(spec):
    """The network as an nn.Sequential, in train mode with PyTorch's default initialisation."""
    return _sequential(parse(spec))


def seed_spec():
    """The text of apps/nets/seed.net, the MNIST seed net."""
    with open(SEED_SPEC_PATH, encoding="utf-8") as f:
        return f.read()


SEED = ("conv1=conv2d(1,32,3) relu conv2=conv2d(32,64,3) max_pool2d(2) dropout1=dropout2d(0.25) "
        "flatten fc1=linear(9216,128) relu dropout2=dropout2d(0.5) fc2=linear(128,10) log_softmax")
RESNET = ("conv2d(1,32,3,padding=1) batch_norm2d(32) relu residual(conv2d(32,32,3,padding=1) "
          "batch_norm2d(32) relu conv2d(32,32,3,padding=1) batch_norm2d(32)) relu "
          "conv2d(32,64,3,stride=2,padding=1) batch_norm2d(64) relu residual(conv2d(64,64,3,padding=1) "
          "batch_norm2d(64) relu conv2d(64,64,3,padding=1) batch_norm2d(64)) relu "
          "adaptive_avg_pool2d(1) flatten linear(64,10) log_softmax")


def _self_test():
    x = torch.zeros(2, 1, 28, 28)

    def seed_net():
        m = build(SEED)
        assert list(m.state_dict()) == [f"{n}.{p}" for n in ("conv1", "conv2", "fc1", "fc2")
                                        for p in ("weight", "bias")]
        assert m.training and m(x).shape == (2, 10)
        kinds = [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.MaxPool2d, nn.Dropout2d, nn.Flatten, nn.Linear,
                 nn.ReLU, nn.Dropout2d, nn.Linear, nn.LogSoftmax]
        assert [type(c) for c in m] == kinds
        assert m[3].kernel_size == 2 and m[3].stride == 2 and m.dropout1.p == 0.25 and m[8].p == 0.5

    def resnet():
        m = build(RESNET)
        keys = m.state_dict()
        for k in ("1.weight", "1.running_mean", "1.num_batches_tracked", "3.0.weight", "3.1.running_var"):
            assert k in keys, k
        assert isinstance(m[3], Residual) and m(x).shape == (2, 10)

    def comments():
        multi = "# the seed net\nconv1=conv2d( 1 , 32, 3 )  # first conv\n\trelu\n" + \
                SEED[SEED.index("conv2="):].replace(" ", "\n  # layer\n") + "\n# end"
        assert list(build(multi).state_dict()) == list(build(SEED).state_dict())

    def errors():
        bad = ["conv3d(1,2,3)", "conv2d(1,2)", "linear(1,2,bais=true)", "relu(1)", "dropout(0.5,0.1)",
               "conv2d(1.5,2,3)", "linear(1,2,bias=1)", "dropout(true)", "conv2d(1,2,3", "relu)",
               "residual(relu", "linear(1,2,in=3)", "a=relu a=relu", "linear(in=1,2)", "relu()relu", "linear(1,2,)",
               "adaptive_avg_pool2d()", "adaptive_max_pool2d(2,3)", "conv2d(4,4,3,groups=3)", "", "linear(1,2,bias=x)",
               "conv_transpose2d(1,2,3,output_padding=1)", "conv_transpose2d(4,3,3,groups=2)"]
        for spec in bad:
            try:
                build(spec)
            except ValueError as e:
                assert "position" in str(e), e
            else:
                raise AssertionError(f"no error for {spec!r}")

    def other_ops():
        m = build("conv2d(1,4,3) sigmoid c=conv2d(4,4,3,groups=2,bias=false,dilation=2) tanh "
                  "avg_pool2d(2,stride=1,padding=1) leaky_relu(0.2) max_pool2d(2, stride=2, padding=0) "
                  "flatten dropout(0.5) linear(484,16,bias=true) relu() "
                  "r=residual(linear(16,16) residual(relu) tanh) linear(16,10) log_softmax")
        assert m(x).shape == (2, 10)
        assert m.c.weight.shape == (4, 2, 3, 3) and m.c.bias is None and m.c.dilation == (2, 2)
        assert m[4].stride == 1 and m[4].padding == 1 and m[5].negative_slope == 0.2 and m[8].p == 0.5
        assert "r.0.weight" in m.state_dict() and isinstance(m.r[1], Residual)
        bn = build("batch_norm2d(8, eps=1e-3, momentum=.5)")[0]
        assert bn.eps == 1e-3 and bn.momentum == 0.5

    def conv_transpose():
        m = build("conv2d(1,4,3,stride=2,padding=1) up=conv_transpose2d(4,6,3,2,1,1,2) relu "
                  "conv_transpose2d(6,2,2,bias=false,dilation=2)")
        assert m(x).shape == (2, 2, 30, 30)
        assert m.up.weight.shape == (4, 3, 3, 3) and m.up.output_padding == (1, 1) and m.up.groups == 2
        assert m[3].bias is None and m[3].dilation == (2, 2) and list(m.state_dict())[-1] == "3.weight"

    def residual_math():
        m = build("residual(lin=linear(3,3))").eval()
        v = torch.randn(5, 3)
        assert torch.allclose(m(v), v + m[0].lin(v))
        assert list(m.state_dict()) == ["0.lin.weight", "0.lin.bias"]

    def parallel():
        m = build("conv2d(1,4,3,padding=1) relu p=parallel(conv2d(4,2,1) | conv2d(4,3,3,padding=1) relu | "
                  "max_pool2d(3,stride=1,padding=1) conv2d(4,1,1)) parallel(identity|conv2d(6,2,3,padding=1)) "
                  "flatten linear(6272,10)")
        assert isinstance(m.p, Parallel) and len(m.p) == 3 and isinstance(m.p[1], nn.Sequential)
        assert isinstance(m[3][0][0], nn.Identity)
        keys = list(m.state_dict())
        for k in ("p.0.0.weight", "p.1.0.weight", "p.2.1.bias", "3.1.0.weight", "5.weight"):
            assert k in keys, k
        assert m(x).shape == (2, 10)
        v = torch.randn(2, 6, 5, 5)
        skip = m[3].eval()
        assert torch.equal(skip(v), torch.cat([v, skip[1](v)], 1))
        deep = "parallel(residual(" * 4 + "relu" + "))" * 4
        assert build(deep)(v).shape == v.shape
        for bad in ("parallel(residual(" * 4 + "parallel(relu)" + "))" * 4, "relu | relu", "parallel(relu | )",
                    "parallel()", "residual(relu | relu)", "parallel relu", "parallel(relu | relu"):
            try:
                build(bad)
            except ValueError as e:
                assert "position" in str(e), e
            else:
                raise AssertionError(f"no error for {bad!r}")

    passed = failed = 0
    for check in (seed_net, resnet, comments, errors, other_ops, conv_transpose, residual_math, parallel):
        try:
            check()
            passed += 1
        except Exception as e:  # noqa: BLE001 - report every failing check
            failed += 1
            print(f"FAIL {check.__name__}: {type(e).__name__}: {e}")
    print(f"cgnet self-test: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    if argv == ["--self-test"]:
        return _self_test()
    if len(argv) != 1:
        print("usage: cgnet.py 'SPEC' | --self-test", file=sys.stderr)
        return 2
    try:
        model = build(argv[0])
    except ValueError as e:
        print(e, file=sys.stderr)
        return 1
    print(model)
    for key, t in model.state_dict().items():
        print(f"{key:32s} {list(t.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
