# SPDX-License-Identifier: MIT
"""cgrad's one-line network spec language in Python: the parser (the twin of lib/nn/spec.c) and a
writer, without PyTorch.

Grammar:
  spec   := layer (WS layer)*          layers are separated by whitespace (spaces, tabs, newlines)
  layer  := [name "="] op ["(" args ")"]     name: [A-Za-z_][A-Za-z0-9_]*
  args   := positional values first, then key=value, comma separated; whitespace allowed inside
  value  := integer (3, -1) | decimal (0.25, 1e-5, .5) | true | false | a word (gelu's 'tanh')
  residual(layers...) computes x + layers(x); its content is itself a layer list (may nest).
  parallel(A | B | ...) runs each branch (a layer list) on x and concatenates the outputs along
  dim 1. identity passes its input on: parallel(identity | layers...) is a DenseNet or U-Net skip.
  residual and parallel nest in each other up to 8 deep in all.
  "#" starts a comment that runs to the end of the line.

A layer's parameters are named "<name>.<param>", where name is the layer's given name or else its
0-based position in its sequence, exactly like PyTorch's nn.Sequential ("0.weight",
"3.1.running_var"); layer k of branch j of a parallel at position i is "i.j.k.weight".
Errors raise SpecError (a ValueError) naming the 1-based character position, as the C parser does.
"""
import re

SEED_SPEC = ("conv1=conv2d(1,32,3) relu conv2=conv2d(32,64,3) max_pool2d(2) dropout1=dropout2d(0.25) "
             "flatten fc1=linear(9216,128) relu dropout2=dropout2d(0.5) fc2=linear(128,10) log_softmax")
"""The MNIST seed net (apps/nets/seed.net): what mnist-eval assumes for a file without a spec."""

REQ = object()  # marks a required parameter
SAME = None     # pool stride default: same as the kernel


class SpecError(ValueError):
    """A spec that does not parse; .pos is the 0-based offset of the fault."""

    def __init__(self, msg, pos=0):
        super().__init__(msg)
        self.pos = pos


# op -> [(param, type, default), ...] in positional order (lib/nn/spec.c's tables)
PARAMS = {
    "conv2d": [("in", int, REQ), ("out", int, REQ), ("kernel", int, REQ), ("stride", int, 1), ("padding", int, 0), ("dilation", int, 1), ("groups", int, 1), ("bias", bool, True)],
    "conv_transpose2d": [("in", int, REQ), ("out", int, REQ), ("kernel", int, REQ), ("stride", int, 1), ("padding", int, 0), ("output_padding", int, 0), ("groups", int, 1), ("bias", bool, True), ("dilation", int, 1)],
    "linear": [("in", int, REQ), ("out", int, REQ), ("bias", bool, True)],
    "batch_norm2d": [("channels", int, REQ), ("eps", float, 1e-5), ("momentum", float, 0.1)],
    "max_pool2d": [("kernel", int, REQ), ("stride", int, SAME), ("padding", int, 0)],
    "avg_pool2d": [("kernel", int, REQ), ("stride", int, SAME), ("padding", int, 0)],
    "adaptive_avg_pool2d": [("output_size", int, REQ)],
    "adaptive_max_pool2d": [("output_size", int, REQ)],
    "embedding": [("num_embeddings", int, REQ), ("embedding_dim", int, REQ)],
    "dropout": [("p", float, REQ)],
    "dropout2d": [("p", float, REQ)],
    "leaky_relu": [("negative_slope", float, 0.01)],
    "relu": [],
    "sigmoid": [],
    "tanh": [],
    "flatten": [],
    "log_softmax": [],
    "gelu": [("approximate", ("none", "tanh"), "none")],
    "silu": [],
    "upsample": [("scale_factor", int, REQ)],
    "group_norm": [("num_groups", int, REQ), ("num_channels", int, REQ), ("eps", float, 1e-5), ("affine", bool, True)],
    "batch_norm1d": [("num_features", int, REQ), ("eps", float, 1e-5), ("momentum", float, 0.1)],
    "layer_norm": [("normalized_shape", int, REQ), ("eps", float, 1e-5), ("elementwise_affine", bool, True)],
    "hardswish": [],
    "softplus": [("beta", float, 1.0), ("threshold", float, 20.0)],
    "relu6": [],
    "identity": [],
    "hardtanh": [("min_val", float, -1.0), ("max_val", float, 1.0)],
}


MAX_DEPTH = 8   # residual and parallel nested in each other, in all (lib/nn/spec.c SPEC_MAX_DEPTH)

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
INTEGER = re.compile(r"[-+]?\d+")


# A run's checkpoint keeps its own state under these names (lib/cg_internal.h CG_NS_LIST): a
# top-level layer may not be named like one; the C parser refuses it in the same words.
RESERVED_NAMES = ("optim", "sched", "rng", "train", "data", "loss", "run", "net")
RESERVED_WHY = (f"a run's checkpoint keeps its own state under {', '.join(n + '.' for n in RESERVED_NAMES)} "
                "(rename the layer)")


class _Parser:
    def __init__(self, spec):
        self.s, self.i, self.depth = spec, 0, 0

    def fail(self, msg, pos=None):
        pos = self.i if pos is None else pos
        near = self.s[pos:pos + 20] or "end of spec"
        raise SpecError(f"spec error at char {pos + 1}: {msg} (near {near!r})", pos)

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
            if self.depth == 0 and op in RESERVED_NAMES:   # its tensors would be the run state's
                self.fail(f"layer name {op!r} is reserved: {RESERVED_WHY}", pos)
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
        if op not in PARAMS:
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
        params = PARAMS[op]
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
    pos (0-based offset into spec; messages say pos + 1, as the C parser does), children (residual's layers) and branches (parallel's layer
    lists)."""
    layers = _Parser(spec).layers(closing=False)
    if not layers:
        raise SpecError("spec error at char 1: empty spec", 0)
    return layers


def _fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{v} has no spelling in a spec")
        return repr(v)
    if isinstance(v, str):
        return f"'{v}'"
    return str(int(v))


def layer_text(op, args):
    """One layer as the spec writes it: the required arguments positionally, then key=value for
    each optional one that differs from its default (args may leave defaults out)."""
    params = PARAMS[op]
    pos, keyed = [], []
    for pname, ptype, default in params:
        if default is REQ:
            if pname not in args:
                raise ValueError(f"{op} needs argument {pname!r}")
            pos.append(_fmt_value(args[pname]))
            continue
        if pname not in args:
            continue
        v = args[pname]
        if ptype is float:
            v = float(v)
        if v == default or (default is SAME and v == args.get("kernel")):
            continue
        keyed.append(f"{pname}={_fmt_value(v)}")
    inside = ",".join(pos + keyed)
    return f"{op}({inside})" if inside else op


def write(records):
    """Spec text of layer records (dicts with op, args, and for residual "children", for parallel
    "branches"; "name" optional): the inverse of parse, up to whitespace and defaults."""
    out = []
    for rec in records:
        name = rec.get("name")
        prefix = f"{name}=" if name is not None else ""
        if rec["op"] == "residual":
            out.append(f"{prefix}residual({write(rec['children'])})")
        elif rec["op"] == "parallel":
            out.append(f"{prefix}parallel({' | '.join(write(b) for b in rec['branches'])})")
        else:
            out.append(prefix + layer_text(rec["op"], rec.get("args", {})))
    return " ".join(out)
