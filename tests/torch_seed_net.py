# SPDX-License-Identifier: MIT
"""The seed network in PyTorch, built from its one definition (apps/nets/seed.net) by the spec
grammar's Python twin (python/cgrad/twin.py), for tests/gen_fixtures.py, tests/torch_interop.py and
bench/compare_pytorch.py. Its state_dict names (conv1.weight ... fc2.bias) are cgrad's."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from cgrad.spec import SEED_SPEC  # noqa: E402
from cgrad.twin import build  # noqa: E402


def Net():  # noqa: N802 (it stands where the tutorial's class Net stood)
    return build(SEED_SPEC)
