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
import errno
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
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        raise ValueError(f"output file name is {len(os.fsencode(os.path.basename(given)))} bytes long; the "
                         f"file system allows at most {_name_max(os.path.dirname(given))}: "
                         f"{os.path.basename(given)[:40]}...") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ValueError(f"output path is a directory, not a file: {given}")
    if given.startswith(_DIRECT_PREFIXES) or (mode is not None and not stat.S_ISREG(mode)):
        return given, False
    target = os.path.realpath(given)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise ValueError(f"output directory does not exist: {folder}")
    size, limit = len(os.fsencode(os.path.basename(target))), _name_max(folder)
    if size > limit:
        raise ValueError(f"output file name is {size} bytes long; the file system allows at most "
                         f"{limit}: {os.path.basename(target)[:40]}...")
    return target, True


def _name_max(folder: str) -> int:
    """The longest file name (bytes) the file system of ``folder`` allows (255 where unknown)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, ValueError, OSError):
        return 255


def _temporary_name_parts(folder: str, name: str) -> tuple[str, str]:
    """``(prefix, suffix)`` of the temporary file for ``name``: ``.NAME.XXXXXXXX.tmpSUFFIX`` as long as
    it fits the file system's name limit, the name shortened (never the random part) where it would
    not: a name of up to the limit stays writable atomically."""
    base, suffix = os.path.splitext(name)
    limit = _name_max(folder) - 8  # mkstemp's random part
    tail = f".tmp{suffix}" if len(os.fsencode(f"..tmp{suffix}")) <= limit // 2 else ".tmp"
    room = limit - len(os.fsencode(tail)) - 2  # the two dots around the base
    while len(os.fsencode(base)) > room:
        base = base[:-1]
    return f".{base}.", tail


@contextlib.contextmanager
def atomic_path(path):
    """Yield the path to write for ``path`` (module docstring): a temporary file next to the target
    (same suffix), moved onto it on success, for a regular or new file; the path itself for a
    device, FIFO or socket.

    On any exception the temporary file is removed and the target is left as it was, so a failed
    run never leaves a half-written file. The temporary name fits the file system's name limit (the
    base name shortened where needed), so any name the file system accepts is written atomically.
    Raises ``ValueError`` if the target folder is missing, the path is a directory or its name is
    longer than the file system allows; ``OSError`` (e.g. permission denied, disk full) as the system reports it.
    """
    target, atomic = resolve_output(path)
    if not atomic:
        yield target
        return
    folder = os.path.dirname(target)
    prefix, suffix = _temporary_name_parts(folder, os.path.basename(target))
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
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
