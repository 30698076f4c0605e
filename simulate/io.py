"""Atomic file output: the one way the package writes a file.

Every writer goes through :func:`atomic_path`: the sweep cache and ``SweepResult.to_csv`` here, the
CLI's tables and the figures and manifest of :mod:`icl_asymptotics`. Nothing in :mod:`asymptotics`
writes files.
"""
from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path`` (same suffix); move it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was, so a failed
    run never leaves a half-written file. Raises ``ValueError`` if the target folder is missing.
    """
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise ValueError(f"output directory does not exist: {folder}")
    base, suffix = os.path.splitext(os.path.basename(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
