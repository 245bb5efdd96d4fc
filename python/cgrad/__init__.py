# SPDX-License-Identifier: MIT
"""cgrad for PyTorch and ONNX users: pure Python, NumPy required, PyTorch and ONNX optional.

  cgrad.spec          the spec language's parser and writer (no PyTorch)
  cgrad.safetensors   a safetensors reader and writer (NumPy; byte-compatible with cgrad's)
  cgrad.checkpoint    cgrad checkpoints: the model's tensors, the spec, the metadata
  cgrad.twin          spec -> torch.nn.Module and back (needs python3-torch)
  cgrad.onnx_import   ONNX graph -> spec + checkpoint (needs python3-onnx; no PyTorch)
  cgrad.onnx_export   checkpoint -> ONNX through the PyTorch twin (needs python3-torch, python3-onnx)
  cgrad.cli           the cgrad-torch command

Parts that need PyTorch or ONNX import them when first used and raise cgrad.MissingDependency,
naming the Debian package to install, when they are absent.
"""
from ._deps import MissingDependency  # noqa: F401

__version__ = "0.1.0"
