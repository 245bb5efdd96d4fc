# SPDX-License-Identifier: MIT
"""The PyTorch twin of cgrad's spec language: the same spec text builds the same network as
nn.Modules, with the same state-dict names, so weights move between the two unchanged.
Needs PyTorch (Debian: python3-torch); importing this module without it raises
cgrad.MissingDependency with that advice.

  build(spec) -> nn.Sequential       module_spec(module) -> spec text (the inverse, where it can)
"""
import warnings
from collections import OrderedDict

from ._deps import need_torch
from .spec import PARAMS, RESERVED_NAMES, RESERVED_WHY, SEED_SPEC, SpecError, parse, write  # noqa: F401 (re-exported)

torch = need_torch("cgrad.twin (spec -> PyTorch)")
import torch.nn as nn  # noqa: E402

# nn.Dropout2d on a 2-D [N, F] input drops elementwise, which the seed net relies on.
warnings.filterwarnings("ignore", message=r"dropout2d: Received a 2-D input", category=UserWarning)


def _conv_transpose2d(a):
    # PyTorch checks output_padding only in forward; cgrad's parser rejects it up front.
    if a["output_padding"] >= a["stride"] and a["output_padding"] >= a["dilation"]:
        raise ValueError(f"output_padding {a['output_padding']} must be smaller than stride {a['stride']} "
                         f"or dilation {a['dilation']}")
    return nn.ConvTranspose2d(a["in"], a["out"], a["kernel"], a["stride"], a["padding"], a["output_padding"],
                              a["groups"], a["bias"], a["dilation"])


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


# op -> module factory taking the resolved args (every parameter, defaults filled in)
FACTORIES = {
    "conv2d": lambda a: nn.Conv2d(a["in"], a["out"], a["kernel"], a["stride"], a["padding"], a["dilation"],
                                  a["groups"], a["bias"]),
    "conv_transpose2d": _conv_transpose2d,
    "linear": lambda a: nn.Linear(a["in"], a["out"], a["bias"]),
    "batch_norm2d": lambda a: nn.BatchNorm2d(a["channels"], a["eps"], a["momentum"]),
    "max_pool2d": lambda a: nn.MaxPool2d(a["kernel"], a["stride"], a["padding"]),
    "avg_pool2d": lambda a: nn.AvgPool2d(a["kernel"], a["stride"], a["padding"]),
    "adaptive_avg_pool2d": lambda a: nn.AdaptiveAvgPool2d(a["output_size"]),
    "adaptive_max_pool2d": lambda a: nn.AdaptiveMaxPool2d(a["output_size"]),
    "embedding": lambda a: Embedding(a["num_embeddings"], a["embedding_dim"]),
    "dropout": lambda a: nn.Dropout(a["p"]),
    "dropout2d": lambda a: nn.Dropout2d(a["p"]),
    "leaky_relu": lambda a: nn.LeakyReLU(a["negative_slope"]),
    "relu": lambda a: nn.ReLU(),
    "sigmoid": lambda a: nn.Sigmoid(),
    "tanh": lambda a: nn.Tanh(),
    "flatten": lambda a: nn.Flatten(1),
    "log_softmax": lambda a: nn.LogSoftmax(dim=1),
    "gelu": lambda a: nn.GELU(approximate=a["approximate"]),
    "silu": lambda a: nn.SiLU(),
    "upsample": lambda a: nn.Upsample(scale_factor=a["scale_factor"], mode="nearest"),
    "group_norm": lambda a: nn.GroupNorm(a["num_groups"], a["num_channels"], a["eps"], a["affine"]),
    "batch_norm1d": lambda a: nn.BatchNorm1d(a["num_features"], a["eps"], a["momentum"]),
    "layer_norm": lambda a: nn.LayerNorm(a["normalized_shape"], a["eps"], a["elementwise_affine"]),
    "hardswish": lambda a: nn.Hardswish(),
    "softplus": lambda a: nn.Softplus(a["beta"], a["threshold"]),
    "relu6": lambda a: nn.ReLU6(),
    "identity": lambda a: nn.Identity(),
    "hardtanh": lambda a: nn.Hardtanh(a["min_val"], a["max_val"]),
}
assert set(FACTORIES) == set(PARAMS)


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
            mods[key] = FACTORIES[rec["op"]](rec["args"])
        except (ValueError, RuntimeError, TypeError) as e:
            raise SpecError(f"spec error at char {rec['pos'] + 1}: {rec['op']}: {e}", rec["pos"]) from e
    return cls(mods)


def build(spec):
    """The network as an nn.Sequential, in train mode with PyTorch's default initialisation."""
    return _sequential(parse(spec))


# ---- module -> spec: the structures the grammar can say ------------------------------------------

def _pair(v, what, path):
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise ValueError(f"layer {path} ({what}): {v} is not square; the spec says square kernels, strides "
                             "and paddings only")
        return int(v[0])
    return int(v)


def _layer_record(m, path):
    """(op, args) of one leaf module, or ValueError naming the layer's path and type."""
    t = type(m)
    if t is nn.Conv2d:
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise ValueError(f"layer {path} (Conv2d): padding {m.padding!r} mode {m.padding_mode!r}: the spec "
                             "says zero padding given as a number only")
        return "conv2d", {"in": m.in_channels, "out": m.out_channels, "kernel": _pair(m.kernel_size, "kernel", path),
                          "stride": _pair(m.stride, "stride", path), "padding": _pair(m.padding, "padding", path),
                          "dilation": _pair(m.dilation, "dilation", path), "groups": m.groups,
                          "bias": m.bias is not None}
    if t is nn.ConvTranspose2d:
        return "conv_transpose2d", {"in": m.in_channels, "out": m.out_channels,
                                    "kernel": _pair(m.kernel_size, "kernel", path),
                                    "stride": _pair(m.stride, "stride", path),
                                    "padding": _pair(m.padding, "padding", path),
                                    "output_padding": _pair(m.output_padding, "output_padding", path),
                                    "groups": m.groups, "bias": m.bias is not None,
                                    "dilation": _pair(m.dilation, "dilation", path)}
    if t is nn.Linear:
        return "linear", {"in": m.in_features, "out": m.out_features, "bias": m.bias is not None}
    if t in (nn.BatchNorm2d, nn.BatchNorm1d):
        if not m.affine or not m.track_running_stats or m.momentum is None:
            raise ValueError(f"layer {path} ({t.__name__}): the spec's batch norm is affine with running "
                             "statistics and a momentum")
        if t is nn.BatchNorm2d:
            return "batch_norm2d", {"channels": m.num_features, "eps": m.eps, "momentum": m.momentum}
        return "batch_norm1d", {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum}
    if t in (nn.MaxPool2d, nn.AvgPool2d):
        kind = "max_pool2d" if t is nn.MaxPool2d else "avg_pool2d"
        if t is nn.MaxPool2d and (_pair(m.dilation, "dilation", path) != 1 or m.return_indices):
            raise ValueError(f"layer {path} (MaxPool2d): dilation or return_indices: the spec has neither")
        if m.ceil_mode:
            raise ValueError(f"layer {path} ({t.__name__}): ceil_mode=True: the spec's pools floor")
        if t is nn.AvgPool2d and (not m.count_include_pad or m.divisor_override is not None):
            raise ValueError(f"layer {path} (AvgPool2d): the spec's average counts the padding (count_include_pad="
                             "True, no divisor_override)")
        return kind, {"kernel": _pair(m.kernel_size, "kernel", path), "stride": _pair(m.stride, "stride", path),
                      "padding": _pair(m.padding, "padding", path)}
    if t in (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        if t is nn.AdaptiveMaxPool2d and m.return_indices:
            raise ValueError(f"layer {path} (AdaptiveMaxPool2d): return_indices: the spec has none")
        return ("adaptive_avg_pool2d" if t is nn.AdaptiveAvgPool2d else "adaptive_max_pool2d"), \
            {"output_size": _pair(m.output_size, "output_size", path)}
    if t is Embedding:
        return "embedding", {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim}
    if t in (nn.Dropout, nn.Dropout2d):
        return ("dropout" if t is nn.Dropout else "dropout2d"), {"p": float(m.p)}
    if t is nn.LeakyReLU:
        return "leaky_relu", {"negative_slope": float(m.negative_slope)}
    if t is nn.Flatten:
        if m.start_dim != 1 or m.end_dim != -1:
            raise ValueError(f"layer {path} (Flatten): start_dim={m.start_dim}, end_dim={m.end_dim}: the spec's "
                             "flatten is Flatten(1, -1)")
        return "flatten", {}
    if t is nn.LogSoftmax:
        if m.dim not in (1, -1):
            raise ValueError(f"layer {path} (LogSoftmax): dim={m.dim}: the spec's log_softmax is over dim 1")
        return "log_softmax", {}
    if t is nn.GELU:
        return "gelu", {"approximate": m.approximate}
    if t is nn.Upsample:
        sf = m.scale_factor
        if m.mode != "nearest" or m.size is not None or sf is None or float(_pair(sf, "scale_factor", path)) != \
                float(sf if not isinstance(sf, (tuple, list)) else sf[0]):
            raise ValueError(f"layer {path} (Upsample): the spec says nearest upsampling by a whole factor only")
        return "upsample", {"scale_factor": _pair(sf, "scale_factor", path)}
    if t is nn.GroupNorm:
        return "group_norm", {"num_groups": m.num_groups, "num_channels": m.num_channels, "eps": m.eps,
                              "affine": m.affine}
    if t is nn.LayerNorm:
        if len(m.normalized_shape) != 1:
            raise ValueError(f"layer {path} (LayerNorm): normalized_shape {tuple(m.normalized_shape)}: the spec "
                             "normalises the last dim only")
        return "layer_norm", {"normalized_shape": m.normalized_shape[0], "eps": m.eps,
                              "elementwise_affine": m.elementwise_affine}
    if t is nn.Softplus:
        return "softplus", {"beta": float(m.beta), "threshold": float(m.threshold)}
    if t is nn.Hardtanh:
        return "hardtanh", {"min_val": float(m.min_val), "max_val": float(m.max_val)}
    if t is nn.ReLU6:
        return "relu6", {}
    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu", nn.Hardswish: "hardswish",
              nn.Identity: "identity"}
    if t in simple:
        return simple[t], {}
    raise ValueError(f"layer {path} ({t.__module__}.{t.__name__}) has no spec: the spec says nn.Sequential of "
                     f"{', '.join(sorted(PARAMS))}, and cgrad's Residual and Parallel")


def _records(seq, path):
    out = []
    for k, (name, m) in enumerate(seq.named_children()):
        p = f"{path}.{name}" if path else name
        if not name.isidentifier() and name != str(k):
            raise ValueError(f"layer {p}: the name {name!r} is neither a word nor its position {k}")
        if name.isdigit() and name != str(k):
            raise ValueError(f"layer {p}: a numeric name must be the layer's position ({k})")
        if not path and name in RESERVED_NAMES:
            raise ValueError(f"layer {p}: layer name {name!r} is reserved: {RESERVED_WHY}")
        rec = {"name": None if name == str(k) else name}
        if isinstance(m, Residual):
            rec.update(op="residual", children=_records(m, p))
        elif isinstance(m, Parallel):
            branches = []
            for j, b in enumerate(m):
                if type(b) is not nn.Sequential:
                    raise ValueError(f"layer {p}.{j}: a Parallel's branch must be an nn.Sequential")
                branches.append(_records(b, f"{p}.{j}"))
            rec.update(op="parallel", branches=branches)
        elif type(m) is nn.Sequential:
            raise ValueError(f"layer {p}: an nn.Sequential inside an nn.Sequential has no spec (use Residual or "
                             "Parallel, or flatten it)")
        else:
            rec["op"], rec["args"] = _layer_record(m, p)
        out.append(rec)
    return out


def module_spec(module):
    """The spec text of module, an nn.Sequential of layers the grammar covers (Residual and Parallel
    of this module included): build(module_spec(m)) has m's state-dict names and shapes and computes
    the same function. ValueError names the first layer it cannot say, by its state-dict path."""
    if type(module) is not nn.Sequential:
        raise ValueError(f"the model is a {type(module).__name__}, not an nn.Sequential: the spec says sequences of "
                         "layers (rebuild it as nn.Sequential, or give its spec with --net)")
    recs = _records(module, "")
    if not recs:
        raise ValueError("the model is an empty nn.Sequential")
    return write(recs)
