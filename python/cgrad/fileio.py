# SPDX-License-Identifier: MIT
"""Writing output files atomically: a temporary file in the target's directory (tempfile.mkstemp),
fsync, os.replace. A target that is a symlink is refused rather than written through."""
import os
import tempfile


class OutputError(OSError):
    """An output that cannot be written; the message names the path."""


def check_target(path):
    """Refuse a target we should not replace: a symlink, a directory, a missing directory."""
    if os.path.islink(path):
        raise OutputError(f"{path}: is a symlink; refusing to write through it (give the real path)")
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise OutputError(f"{path}: directory {d} does not exist")


def atomic_write(path, data=None, writer=None):
    """Write bytes data (or call writer(fileobj)) to path atomically."""
    check_target(path)
    d = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    except OSError as e:
        raise OutputError(f"{path}: cannot create a temporary file in {d}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if writer is not None:
                writer(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OutputError(f"{path}: {e.strerror or e}") from None
        raise


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m
