# SPDX-License-Identifier: MIT
"""The optional dependencies, imported where a part needs them, with a message that says what to
install (Debian's packages) instead of an ImportError's traceback."""


class MissingDependency(ImportError):
    """An optional module the called part needs is not importable."""


def need_torch(what):
    try:
        import torch  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any failure to import means: not usable
        raise MissingDependency(f"{what} needs PyTorch (Debian: apt-get install python3-torch): {e}") from e
    return torch


def need_onnx(what):
    try:
        import onnx  # noqa: F401
        import onnx.numpy_helper  # noqa: F401
    except Exception as e:  # noqa: BLE001
        raise MissingDependency(f"{what} needs ONNX (Debian: apt-get install python3-onnx): {e}") from e
    return onnx
