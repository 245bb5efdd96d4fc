# SPDX-License-Identifier: MIT
"""Shared by tests/python/test_*.py: the package from the source tree, net_run, the CLI."""
import os
import subprocess
import sys
import tempfile

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "python"))

try:
    import numpy as np  # noqa: E402
except ImportError as _e:
    print(f"SKIP: cannot import numpy (Debian: python3-numpy): {_e}")
    sys.exit(77)


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(77)


class Checks:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def run(self, *fns):
        for fn in fns:
            try:
                fn()
                self.passed += 1
                print(f"ok   {fn.__name__}")
            except Exception as e:  # noqa: BLE001 - report every failing check
                self.failed += 1
                import traceback
                traceback.print_exc()
                print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def tmpdir():
    return tempfile.mkdtemp(prefix="cgrad-py.")


def net_run(net_run_exe, ckpt, x, workdir):
    """cgrad's outputs of the checkpoint's net for x [N, ...] (float32), through tests/python/net_run.c."""
    x = np.ascontiguousarray(x, dtype="<f4")
    xin, xout = os.path.join(workdir, "x.f32"), os.path.join(workdir, "y.f32")
    x.tofile(xin)
    r = subprocess.run([net_run_exe, "run", ckpt, ",".join(str(d) for d in x.shape[1:]), xin, xout],
                       capture_output=True, text=True)
    if r.returncode:
        raise AssertionError(f"net_run failed ({r.returncode}): {r.stderr.strip()}")
    y = np.fromfile(xout, dtype="<f4")
    return y.reshape(x.shape[0], -1)


def cli(*args, path_first=None, timeout=None):
    """Run cgrad-torch from the source tree: (exit status, stdout, stderr). path_first: a directory
    searched before the package (to hide a module). timeout: seconds, past which the run is killed
    and an AssertionError says it hung."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(([path_first] if path_first else []) + [os.path.join(SRC, "python")]))
    try:
        r = subprocess.run(["/usr/bin/python3", "-m", "cgrad.cli", *args], capture_output=True, text=True, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"cgrad-torch {' '.join(args)}: still running after {timeout} s (hung)") from None
    return r.returncode, r.stdout, r.stderr
