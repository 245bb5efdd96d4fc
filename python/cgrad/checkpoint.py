# SPDX-License-Identifier: MIT
"""cgrad checkpoints (safetensors files) as NumPy, without PyTorch.

A checkpoint of mnist-train or cg_trainer_save (format "cgrad-run-v1") holds the model's tensors at
the top level under PyTorch's state-dict names ("conv1.weight", "3.1.running_var"; BatchNorm's
num_batches_tracked an I64 scalar) and the optimizer's tensors under "optim."; its metadata holds
the net's spec under "net", the loss, the normalisation ("data.normalize") and the run's state under
the prefixes optim., sched., rng., train., data. and run. (docs/mnist.md "Checkpoints").

  load(path) -> Checkpoint(model, metadata, spec)    model: the model's tensors only
  save(path, model, spec, loss=None, normalize=None) a model-only checkpoint mnist-eval --model reads
"""
from collections import OrderedDict, namedtuple

import numpy as np

from . import safetensors
from .spec import parse

FORMAT = "cgrad-run-v1"
RUN_TENSOR_PREFIXES = ("optim.",)
LOSSES = ("auto", "nll", "cross_entropy", "mse")

Checkpoint = namedtuple("Checkpoint", "model metadata spec")


def load(path):
    """The model's tensors (everything outside optim.*), the metadata, and the spec (None when the
    file has none: a plain state dict is mnist-eval's seed net or its --net)."""
    tensors, meta = safetensors.read(path)
    model = OrderedDict((k, v) for k, v in tensors.items() if not k.startswith(RUN_TENSOR_PREFIXES))
    return Checkpoint(model, meta, meta.get("net"))


def save(path, model, spec, loss=None, normalize=None):
    """Write model (name -> array: float tensors as F32, integer ones as I64) with its spec as a
    model-only checkpoint (format cgrad-run-v1 without a run: mnist-eval reads its net, loss and
    normalisation; mnist-train cannot resume it). The spec is parsed first: a bad one is refused."""
    parse(spec)
    if loss is not None and loss not in LOSSES:
        raise ValueError(f"loss {loss!r} is not one of {', '.join(LOSSES)}")
    out = OrderedDict()
    for k, v in model.items():
        a = np.asarray(v)
        if a.dtype.kind == "f":
            a = a.astype("<f4")
        elif a.dtype.kind in "iub":
            a = a.astype("<i8")
        else:
            raise ValueError(f"tensor {k!r}: dtype {a.dtype} is neither float nor integer")
        out[k] = a
    meta = {"format": FORMAT, "net": " ".join(spec.split()) if "#" not in spec else spec}
    if loss is not None:
        meta["loss"] = loss
    if normalize is not None:
        meta["data.normalize"] = normalize
    safetensors.write(path, out, meta)
