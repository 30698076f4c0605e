"""File output: the one way the package writes a file, and the one format (and reader) of a cache entry.

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

Every cache (the sweep's per-task files, the CLI's LaTeX table) stores entries through
:func:`write_entry` and reads them through :func:`read_entry`: an entry holds its key and a
SHA-256 digest of its content, and is used only if both match and the reader's check accepts its
values; otherwise a :class:`CacheWarning` names the file and the work is redone.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
import warnings


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


# ----------------------------------------------------------------------------- cache entries
class CacheWarning(UserWarning):
    """A cache entry that did not prove itself (wrong key, content not matching its digest, values
    refused by the reader's check, not a regular file, unreadable): it is not used, its work is
    redone; the warning names the file."""


def _digest(content) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_entry(path, key: dict, content) -> None:
    """Write one cache entry ``{"key", "digest", "content"}`` atomically and durably (fsync before the
    rename: a killed run never leaves a renamed but empty file). The one format of every cache of
    the package (the sweep cache, the CLI's LaTeX cache); :func:`read_entry` reads it. A path that
    exists but is not a regular file (a FIFO, a device) is left alone: nothing is written there."""
    path = os.fspath(path)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(path).st_mode):
            return
    content = json.loads(json.dumps(content, allow_nan=True))  # the form a reader will see
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"key": key, "digest": _digest(content), "content": content}, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())


def read_entry(path, key: dict, check=None):
    """The content of the cache entry at ``path`` if it proves itself, else None.

    None without a word when there is no file. A :class:`CacheWarning` naming the file, and None (the
    caller recomputes and overwrites it), when the entry is not a regular file (a FIFO is never
    opened for reading, so nothing hangs), cannot be read or parsed, is for another ``key``, or its
    content does not match its SHA-256 digest (edited or truncated), or ``check(content)`` raises
    ``ValueError`` / ``TypeError`` (e.g. a non-finite value).
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _rejected(path, f"cannot be opened ({exc.strerror})")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return _rejected(path, "is not a regular file; skipped")
        with os.fdopen(fd, "rb", closefd=False) as f:
            payload = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        return _rejected(path, f"cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:80]})")
    finally:
        os.close(fd)
    if not isinstance(payload, dict) or set(payload) != {"key", "digest", "content"}:
        return _rejected(path, "is not a cache entry of this format (key, digest, content)")
    if payload["key"] != key:
        return _rejected(path, "holds another key than its name says")
    content = payload["content"]
    if payload["digest"] != _digest(content):
        return _rejected(path, "does not match its digest (edited or truncated)")
    if check is not None:
        try:
            check(content)
        except (ValueError, TypeError) as exc:
            return _rejected(path, f"holds refused values ({exc})")
    return content


def _rejected(path: str, why: str):
    warnings.warn(f"cache entry {path} {why}: not used, recomputed", CacheWarning, stacklevel=3)
    return None
