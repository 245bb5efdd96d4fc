# SPDX-License-Identifier: MIT
"""Reading inputs and writing outputs safely.

Inputs (open_input, read_input): regular files only. The file is opened with O_NONBLOCK, so a FIFO
cannot block the open, and refused after fstat unless it is a regular file (a FIFO, a device, a
socket); reads are bounded by the size fstat reported (and MAX_INPUT_BYTES).

Outputs (atomic_write): a temporary file in the target's directory (tempfile.mkstemp), fsync,
os.replace. A target that is a symlink, a directory, or any other non-regular file (a FIFO, a
device, a socket) is refused rather than written through or replaced."""
import os
import stat
import tempfile

MAX_INPUT_BYTES = 1 << 33   # 8 GiB: no model file this package reads is near it


class InputError(OSError):
    """An input that cannot be read; the message names the path."""


def open_input(path, what="input"):
    """A binary file object of the regular file at path; InputError (naming what and path) for a
    missing or unreadable file, a directory, a FIFO, a device or a socket. Never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        why = "no such file" if isinstance(e, FileNotFoundError) else (e.strerror or str(e))
        raise InputError(f"{what} {path}: {why}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise InputError(f"{what} {path}: is {kind}, not a regular file; refusing to read it")
        if st.st_size > MAX_INPUT_BYTES:
            raise InputError(f"{what} {path}: {st.st_size} bytes, more than the {MAX_INPUT_BYTES} this reads")
        os.set_blocking(fd, True)   # clear O_NONBLOCK: a regular file reads as usual
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input(path, what="input"):
    """The bytes of the regular file at path (open_input's checks), at most its size at open."""
    with open_input(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            data = f.read(size + 1)
        except OSError as e:
            raise InputError(f"{what} {path}: {e.strerror or e}") from None
    if len(data) > size:
        raise InputError(f"{what} {path}: the file grew while it was read")
    return data


class OutputError(OSError):
    """An output that cannot be written; the message names the path."""


def check_target(path):
    """Refuse a target we should not replace: a symlink, a directory, a FIFO, a device, a socket,
    a missing directory."""
    if os.path.islink(path):
        raise OutputError(f"{path}: is a symlink; refusing to write through it (give the real path)")
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"{path}: {e.strerror or e}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or
                stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise OutputError(f"{path}: is {kind}, not a regular file; refusing to replace it")
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
