# SPDX-License-Identifier: MIT
"""cgrad checkpoints <-> PyTorch (needs python3-torch), and ONNX export through the PyTorch twin.

  to_state_dict(ckpt, spec=None) -> (module, state_dict)   the twin with the checkpoint's weights
  load_pt(path, trust_pickle=False) -> object               torch.load(weights_only=True) unless trusted
  from_torch(obj, spec=None) -> (spec, tensors)             a module (or a state dict and its spec)
  export_onnx(ckpt, out, input_shape, spec=None, opset=13)  through torch.onnx.export; checked
"""
import io
from collections import OrderedDict

import numpy as np

from . import checkpoint
from ._deps import need_onnx, need_torch
from .fileio import atomic_write, open_input

torch = need_torch("PyTorch conversion")
from . import twin  # noqa: E402


def _spec_of(ck, spec, path):
    spec = spec or ck.spec
    if not spec:
        raise ValueError(f"{path}: the file has no net spec (metadata 'net'); give the net with --net SPEC")
    return spec


def to_module(path, spec=None):
    """The twin of the checkpoint at path (its spec, or spec), its weights loaded strictly, in eval
    mode; the spec it used."""
    ck = checkpoint.load(path)
    spec = _spec_of(ck, spec, path)
    model = twin.build(spec)
    sd = OrderedDict((k, torch.from_numpy(np.array(v))) for k, v in ck.model.items())
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path}: the weights do not fit the net {spec!r}: {' '.join(str(e).split())}") from None
    return model.eval(), spec


def save_pt(obj, out):
    atomic_write(out, writer=lambda f: torch.save(obj, f))


def load_pt(path, trust_pickle=False):
    """A .pt file's object (a module or a state dict), on the CPU. The file is read with
    torch.load(weights_only=True): tensors and plain containers only, no code runs. A file that
    needs full pickle (a whole nn.Module saved with torch.save(model)) is refused unless
    trust_pickle=True (cgrad-torch --trust-pickle): unpickling runs whatever code the file names."""
    import pickle
    f = open_input(path, "PyTorch file")   # a regular file, never a FIFO or a device; InputError names it
    with f:
        try:
            if trust_pickle:
                try:
                    return torch.load(f, map_location="cpu", weights_only=False)
                except TypeError:  # PyTorch before 1.13 has no weights_only
                    f.seek(0)
                    return torch.load(f, map_location="cpu")
            try:
                return torch.load(f, map_location="cpu", weights_only=True)
            except TypeError:
                raise ValueError(f"{path}: this PyTorch ({torch.__version__}) cannot load without running pickle "
                                 "code (weights_only needs 1.13); pass --trust-pickle if you trust the file") from None
            except pickle.UnpicklingError as e:
                first = " ".join(str(e).split("WeightsUnpickler error:")[-1].split())
                raise ValueError(f"{path}: needs full pickle to load (it holds more than tensors, e.g. a whole "
                                 f"nn.Module{': ' + first.strip()[:160] if first else ''}); unpickling can run any "
                                 "code: pass --trust-pickle only if you trust the file") from None
        except ValueError:
            raise
        except Exception as e:  # noqa: BLE001 - pickle and zip errors come in many types
            raise ValueError(f"{path}: cannot load it with torch.load: {type(e).__name__}: "
                             f"{' '.join(str(e).split())}") from None


def from_torch(obj, spec=None, what="the model"):
    """(spec, tensors) of a PyTorch nn.Module whose structure the spec can say (or of a state dict
    and spec); checked by loading the tensors into the spec's twin strictly."""
    if isinstance(obj, torch.nn.Module):
        sd = obj.state_dict()
        if spec is None:
            spec = twin.module_spec(obj)
    elif isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
        if not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise ValueError(f"{what}: a dict that is not a state dict (values: "
                             f"{sorted({type(v).__name__ for v in obj.values()})})")
        sd = obj
        if spec is None:
            raise ValueError(f"{what} is a state dict: give its net with --net SPEC (a saved nn.Module carries its "
                             "structure; a state dict does not)")
    else:
        raise ValueError(f"{what} is a {type(obj).__name__}, neither an nn.Module nor a state dict")
    net = twin.build(spec)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{what} does not fit the net {spec!r}: {' '.join(str(e).split())}") from None
    tensors = OrderedDict((k, v.detach().cpu().numpy()) for k, v in net.state_dict().items())
    return spec, tensors


def export_onnx(path, out, input_shape, spec=None, opset=13):
    """Write the checkpoint at path as an ONNX model (input "input" [N, *input_shape], output
    "output", the batch dim dynamic), checked by onnx.checker."""
    onnx = need_onnx("ONNX export")
    model, spec = to_module(path, spec)
    x = torch.zeros(1, *input_shape)
    try:
        model(x)
    except RuntimeError as e:
        raise ValueError(f"the net does not take input of shape {list(input_shape)} (--input-shape): "
                         f"{' '.join(str(e).split())}") from None
    buf = io.BytesIO()
    torch.onnx.export(model, x, buf, input_names=["input"], output_names=["output"], opset_version=opset,
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, do_constant_folding=True)
    m = onnx.load_from_string(buf.getvalue())
    m.doc_string = f"cgrad net: {spec}"
    onnx.checker.check_model(m)
    atomic_write(out, m.SerializeToString())
    return spec
