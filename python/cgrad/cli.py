# SPDX-License-Identifier: MIT
"""cgrad-torch: cgrad checkpoints to and from PyTorch and ONNX.

  cgrad-torch spec2torch SPEC [--out FILE.pt]          the spec's PyTorch twin: print it, save its state dict
  cgrad-torch to-pt CKPT OUT.pt [--net SPEC] [--module] a cgrad checkpoint's model as a PyTorch state dict
  cgrad-torch from-pt IN.pt OUT.safetensors [--net SPEC] [--trust-pickle]
                                                        a PyTorch state dict + spec (or, with --trust-pickle,
                                                        a pickled nn.Module) -> checkpoint
  cgrad-torch export-onnx CKPT OUT.onnx [--input-shape C,H,W]   through the twin and torch.onnx.export
  cgrad-torch import-onnx IN.onnx OUT.safetensors      ONNX -> checkpoint with its spec (no PyTorch needed)

SPEC is spec text or @FILE (a .net file). Inputs must be regular files (a FIFO or a device is refused).
Outputs are written atomically; a symlink, a FIFO or a device as the target is refused.
Exit status: 0 done, 1 an error (one line naming the file and the problem), 2 a usage error.
"""
import argparse
import os
import sys
import traceback

PROG = "cgrad-torch"


class UserError(Exception):
    pass


def _spec_arg(text):
    if text is None:
        return None
    if text.startswith("@"):
        path = text[1:]
        from .fileio import read_input
        try:
            return read_input(path, "net file").decode("utf-8")
        except OSError as e:
            raise UserError(f"--net {text}: {e}") from None
        except UnicodeDecodeError:
            raise UserError(f"--net {text}: {path} is not UTF-8 text") from None
    return text


def _need_file(path, what):
    """Refuse a missing input, or one that is not a regular file (a directory, a FIFO, a device),
    before any optional dependency is imported; the readers check again when they open it."""
    from .fileio import open_input
    try:
        open_input(path, what).close()
    except OSError as e:
        raise UserError(str(e)) from None


def _shape(text):
    try:
        dims = [int(d) for d in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not C,H,W (whole numbers, comma separated)") from None
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r}: every dim must be at least 1")
    return dims


def _normalize_arg(p):
    p.add_argument("--loss", choices=("auto", "nll", "cross_entropy", "mse"),
                   help="the loss mnist-eval scores with (saved as metadata 'loss'; default: mnist-eval's auto)")
    p.add_argument("--normalize", metavar="MEAN,STD",
                   help="the input normalisation mnist-eval applies (metadata 'data.normalize': MEAN,STD, "
                        "M1,..,Mk/S1,..,Sk or none; default: the programs' default)")


def _summary(spec, tensors):
    n = sum(int(v.size) for v in tensors.values())
    return f"{len(tensors)} tensors, {n} numbers; net: {' '.join(spec.split())}"


def cmd_spec2torch(a):
    from . import twin
    from .torch_convert import save_pt
    spec = _spec_arg(a.spec)
    if a.seed is not None:
        twin.torch.manual_seed(a.seed)
    model = twin.build(spec)
    print(model)
    for key, t in model.state_dict().items():
        print(f"{key:32s} {list(t.shape)}")
    if a.out:
        save_pt(model.state_dict(), a.out)
        print(f"wrote {a.out}")


def cmd_to_pt(a):
    from .torch_convert import save_pt, to_module
    _need_file(a.checkpoint, "checkpoint")
    model, spec = to_module(a.checkpoint, _spec_arg(a.net))
    save_pt(model if a.module else model.state_dict(), a.out)
    print(f"wrote {a.out}: {'the nn.Module' if a.module else 'the state dict'} of {' '.join(spec.split())}")


def cmd_from_pt(a):
    from . import checkpoint
    from .torch_convert import from_torch, load_pt
    _need_file(a.input, "input")
    obj = load_pt(a.input, trust_pickle=a.trust_pickle)
    spec, tensors = from_torch(obj, _spec_arg(a.net), what=a.input)
    checkpoint.save(a.out, tensors, spec, loss=a.loss, normalize=a.normalize)
    print(f"wrote {a.out}: {_summary(spec, tensors)}")


def cmd_export_onnx(a):
    from .torch_convert import export_onnx
    _need_file(a.checkpoint, "checkpoint")
    spec = export_onnx(a.checkpoint, a.out, a.input_shape, _spec_arg(a.net), a.opset)
    print(f"wrote {a.out} (opset {a.opset}, input [N,{','.join(map(str, a.input_shape))}]): {' '.join(spec.split())}")


def cmd_import_onnx(a):
    from . import checkpoint
    from .onnx_import import convert
    _need_file(a.input, "input")
    try:
        spec, tensors = convert(a.input)
    except ValueError as e:
        raise UserError(f"{a.input}: {e}") from None
    checkpoint.save(a.out, tensors, spec, loss=a.loss, normalize=a.normalize)
    print(f"wrote {a.out}: {_summary(spec, tensors)}")


def parser():
    p = argparse.ArgumentParser(prog=PROG, description="cgrad checkpoints to and from PyTorch and ONNX. "
                                "PyTorch (python3-torch) is needed by spec2torch, to-pt, from-pt and export-onnx; "
                                "ONNX (python3-onnx) by export-onnx and import-onnx.",
                                epilog="Docs: docs/interop.md. Exit status 0 done, 1 error, 2 usage error.")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    s = sub.add_parser("spec2torch", help="build a spec's PyTorch twin; print it (and save its state dict)")
    s.add_argument("spec", metavar="SPEC", help="spec text, or @FILE")
    s.add_argument("--out", metavar="FILE.pt", help="save the freshly initialised state dict with torch.save")
    s.add_argument("--seed", type=int, help="torch.manual_seed before building")
    s.set_defaults(fn=cmd_spec2torch)
    s = sub.add_parser("to-pt", help="a cgrad checkpoint's model -> PyTorch state dict (.pt)")
    s.add_argument("checkpoint", metavar="CKPT", help="a cgrad checkpoint (mnist-train --save, cg_checkpoint_save)")
    s.add_argument("out", metavar="OUT.pt")
    s.add_argument("--net", metavar="SPEC", help="the net, for a file without a spec (text or @FILE)")
    s.add_argument("--module", action="store_true",
                   help="save the whole nn.Module (loading it needs this package) instead of the state dict")
    s.set_defaults(fn=cmd_to_pt)
    s = sub.add_parser("from-pt", help="a PyTorch nn.Sequential (or state dict + --net) -> cgrad checkpoint")
    s.add_argument("input", metavar="IN.pt", help="torch.save of an nn.Module or of a state dict")
    s.add_argument("out", metavar="OUT.safetensors")
    s.add_argument("--net", metavar="SPEC", help="the net's spec (text or @FILE); needed for a state dict")
    s.add_argument("--trust-pickle", action="store_true",
                   help="allow a file that needs full pickle (a whole nn.Module saved with torch.save(model)); "
                        "unpickling runs any code the file names, so give it only for files you trust. Without "
                        "it the file is read with torch.load(weights_only=True): state dicts only")
    _normalize_arg(s)
    s.set_defaults(fn=cmd_from_pt)
    s = sub.add_parser("export-onnx", help="a cgrad checkpoint -> ONNX (through PyTorch), checked by onnx.checker")
    s.add_argument("checkpoint", metavar="CKPT")
    s.add_argument("out", metavar="OUT.onnx")
    s.add_argument("--input-shape", type=_shape, default=[1, 28, 28], metavar="C,H,W",
                   help="one example's shape (default 1,28,28)")
    s.add_argument("--net", metavar="SPEC", help="the net, for a file without a spec (text or @FILE)")
    s.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13)")
    s.set_defaults(fn=cmd_export_onnx)
    s = sub.add_parser("import-onnx", help="an ONNX model -> cgrad checkpoint with its spec (no PyTorch needed)")
    s.add_argument("input", metavar="IN.onnx")
    s.add_argument("out", metavar="OUT.safetensors")
    _normalize_arg(s)
    s.set_defaults(fn=cmd_import_onnx)
    return p


def main(argv=None):
    p = parser()
    a = p.parse_args(argv)
    if not a.cmd:
        p.print_usage(sys.stderr)
        print(f"{PROG}: a COMMAND is required (spec2torch, to-pt, from-pt, export-onnx, import-onnx)", file=sys.stderr)
        return 2
    from ._deps import MissingDependency
    try:
        a.fn(a)
    except (UserError, MissingDependency, ValueError, OSError) as e:   # SafetensorsError, OutputError among them
        print(f"{PROG} {a.cmd}: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        if e.name != "numpy":
            print(f"{PROG} {a.cmd}: cannot import {e.name}: {e}", file=sys.stderr)
            return 1
        print(f"{PROG} {a.cmd}: needs NumPy (Debian: apt-get install python3-numpy); /usr/bin/python3 is the "
              "interpreter Debian's packages are for", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - a bug, or an error of torch/onnx we did not foresee
        if os.environ.get("CGRAD_TORCH_DEBUG"):
            traceback.print_exc()
        print(f"{PROG} {a.cmd}: {type(e).__name__}: {' '.join(str(e).split())} "
              "(CGRAD_TORCH_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
