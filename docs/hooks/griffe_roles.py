"""Griffe extension: the docstrings' Sphinx roles (``:func:`solve_hp```) as mkdocstrings cross-references.

The docstrings cite other objects with Sphinx roles (``:func:``, ``:class:``, ``:mod:``, ``:meth:``,
...), short names relative to where they are written. This extension rewrites each role, once
the package is loaded, into an autorefs link to the object's full path (``[`solve_hp`][asymptotics.highprec.solve_hp]``),
so the site links it and the strict build fails when the target is not documented. Targets
outside the project (``os.replace``, ``matplotlib.figure.Figure``) and private ones
(``simulate._sizes.context_length``) become plain code. A short name that resolves nowhere is
reported as a warning (an error under ``mkdocs build --strict``).
"""
from __future__ import annotations

import logging
import re

import griffe

logger = logging.getLogger("mkdocs.plugins.griffe_roles")

PROJECT = ("asymptotics", "simulate", "icl_asymptotics")
ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`(~?)([^`<]*?)(?:\s*<([^>`]+)>)?`")


def _public(path: str) -> bool:
    return not any(p.startswith("_") and not (p.startswith("__") and p.endswith("__"))
                   for p in path.split("."))


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """Full dotted path of ``target`` as written in ``obj``'s docstring, or None."""
    head, _, rest = target.partition(".")
    if head in PROJECT:
        return target
    scopes = [obj] + ([obj.parent] if obj.parent is not None else [])
    for scope in scopes:
        for name in (target, head):
            try:
                path = scope.resolve(name)
            except (griffe.NameResolutionError, AttributeError, KeyError):
                continue
            return path if name == target else f"{path}.{rest}" if rest else path
    return None


def rewrite(text: str, obj: griffe.Object) -> str:
    """``text`` with every Sphinx role replaced by a cross-reference or plain code."""

    def repl(m):
        tilde, shown, explicit = m[1], m[2].strip(), m[3]
        target = (explicit or shown).strip()
        label = shown if explicit else (target.rsplit(".", 1)[-1] if tilde else target)
        path = _resolve(obj, target)
        if path is None:
            if target.split(".")[0] not in PROJECT and "." in target:
                return f"`{label}`"  # another library's object: shown, not linked
            logger.warning("%s: cannot resolve %r in the docstring of %s", obj.relative_filepath, m[0], obj.path)
            return f"`{label}`"
        if path.split(".")[0] not in PROJECT or not _public(path):
            return f"`{label}`"
        return f"[`{label}`][{path}]"

    return ROLE.sub(repl, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = rewrite(obj.docstring.value, obj)


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)
