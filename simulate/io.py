"""File output: the one way the package writes a file.

Every writer goes through :func:`atomic_path`: the sweep cache and ``SweepResult.to_csv`` here, the
CLI's tables and the figures and manifest of :mod:`icl_asymptotics`. Nothing in :mod:`asymptotics`
writes files. What happens depends on what the path names:

- a regular file, or nothing yet: written atomically (a temporary file in the same folder, moved
  into place with ``os.replace`` only when complete); an existing file keeps its permission bits
  and, where the process may set them, its owner and group;
- a symbolic link: the file it points to is written (atomically, as above), the link stays a link;
- anything else that exists (a character or block device such as ``/dev/null`` or ``/dev/full``, a
  FIFO, a socket), and any path under ``/dev/`` or ``/proc/`` (``/dev/stdout`` behind a pipe or a
  shell redirection, appending ``>>`` included): written directly, through the path as given, as
  a shell redirection would (a FIFO blocks until a reader opens it); a device is never replaced by
  a regular file.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile


_DIRECT_PREFIXES = ("/dev/", "/proc/")


def resolve_output(path) -> tuple[str, bool]:
    """``(target, atomic)``: the path that will be written and whether it is written atomically
    (a regular file or a new one, symbolic links followed to the file they name) or directly (a
    device, FIFO or socket, and anything under ``/dev/`` or ``/proc/``, such as ``/dev/stdout``:
    written through the path as given, so that a shell redirection or pipe behind it gets the
    output). Raises ``ValueError`` if the path is a directory or the folder of a new file does not
    exist."""
    given = os.path.abspath(os.fspath(path))
    try:
        mode = os.stat(given).st_mode  # follows symbolic links
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise ValueError(f"output path is a directory, not a file: {given}")
    if given.startswith(_DIRECT_PREFIXES) or (mode is not None and not stat.S_ISREG(mode)):
        return given, False
    target = os.path.realpath(given)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise ValueError(f"output directory does not exist: {folder}")
    return target, True


@contextlib.contextmanager
def atomic_path(path):
    """Yield the path to write for ``path`` (module docstring): a temporary file next to the target
    (same suffix), moved onto it on success, for a regular or new file; the path itself for a
    device, FIFO or socket.

    On any exception the temporary file is removed and the target is left as it was, so a failed
    run never leaves a half-written file. Raises ``ValueError`` if the target folder is missing or
    the path is a directory; ``OSError`` (e.g. permission denied, disk full) as the system reports it.
    """
    target, atomic = resolve_output(path)
    if not atomic:
        yield target
        return
    folder = os.path.dirname(target)
    base, suffix = os.path.splitext(os.path.basename(target))
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        _copy_metadata(old, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _copy_metadata(old, tmp) -> None:
    """Give ``tmp`` the permission bits and owner of the file it replaces (``old``, an ``os.stat``
    result), or the usual ``0666 & ~umask`` for a new file (mkstemp makes 0600)."""
    if old is None:
        os.chmod(tmp, 0o666 & ~_umask())
        return
    if hasattr(os, "chown"):
        new = os.stat(tmp)
        if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
            try:
                os.chown(tmp, old.st_uid, old.st_gid)
            except PermissionError:  # only root may give a file away; a member may keep the group
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, -1, old.st_gid)
    os.chmod(tmp, stat.S_IMODE(old.st_mode))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
