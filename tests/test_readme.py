"""The README (and the command examples of docs/cli.md, ``--help`` and the notebooks) stays true
(issue 17, items 7 and 10): every Python block runs alone in a fresh interpreter, every example
command is one the CLI accepts and writes only into git-ignored folders, the bare commands come
after the instruction to activate the venv, and the notebooks it names are the notebooks there are.

The Python blocks are checked in two ways: statically (every name a block reads is bound in that
block or a builtin: fast, every block), and by running them in a fresh interpreter in an empty
folder (the theory blocks, about a second each; the blocks that simulate take 40 s and run under
``-m slow``)."""
import builtins
import os
import re
import shlex
import subprocess
import symtable
import sys
from pathlib import Path

import pytest

from icl_asymptotics import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)


def _unbound(source: str) -> set:
    """Names the block reads that nothing in it binds (imports, assignments, defs, loop targets,
    comprehension variables) and that are not builtins: what a fresh interpreter would not know."""
    top = symtable.symtable(source, "<readme>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    missing = set()

    def walk(table):
        for sym in table.get_symbols():
            name = sym.get_name()
            free = sym.is_referenced() and (sym.is_global() or table is top) and not (
                table is top and (sym.is_assigned() or sym.is_imported()))
            if free and name not in bound and not hasattr(builtins, name):
                missing.add(name)
        for child in table.get_children():
            walk(child)

    walk(top)
    return missing


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


def test_unbound_detects_a_missing_import():
    # The check is not vacuous: the structured-task block as it was (A and simulate not imported).
    assert _unbound("from m import f\nC = f(0.9)\nA.e_icl(C)\n[simulate.run(x) for x in (C,)]\n") == {
        "A", "simulate"}
    assert _unbound("import numpy as np\nx = [np.sin(t) for t in range(3)]\nprint(len(x))\n") == set()


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_is_self_contained(index):
    """Before: the structured-task block used ``A`` (and ``simulate``) without importing them."""
    assert _unbound(BLOCKS[index]) == set(), BLOCKS[index]


def _run_block(source, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if "simulate" not in b])
def test_readme_theory_block_runs_alone(index, tmp_path):
    _run_block(BLOCKS[index], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if "simulate" in b])
def test_readme_simulation_block_runs_alone(index, tmp_path):
    _run_block(BLOCKS[index], tmp_path)


def test_readme_names_every_notebook():
    """Before: it named 3 of the 5 notebooks."""
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 5
    section = README.split("## Notebooks", 1)[1].split("\n## ", 1)[0]
    assert [n for n in notebooks if n not in section] == []


def test_bare_commands_come_after_the_venv_activation():
    """Before: the command table used a bare ``icl-asymptotics`` that a fresh shell does not have
    (the set-up line installs it in .venv only), with no word about activating the venv."""
    activate = README.find(". .venv/bin/activate")
    bare = re.search(r"(?<![\w/.-])(icl-asymptotics [a-z]|python -m)", README)
    assert activate != -1 and bare is not None and activate < bare.start()


# ----------------------------------------------------------------------------- example commands
COMMANDS = set(next(a for a in cli.build_parser()._actions if a.dest == "command").choices)


def _commands(text: str) -> list[str]:
    """``icl-asymptotics COMMAND ARGS...`` lines in ``text`` (inline code spans and code lines,
    each ``&&`` part of a chain, a ``.venv/bin/`` prefix removed, ``\\`` continuations joined); a
    bare mention of a command (``icl-asymptotics phase``) is not an example."""
    text = text.replace("\\\n", " ")
    spans = re.findall(r"`([^`\n]+)`", text) + re.findall(r"^(?: {4}| {2})(\S.*)$", text, re.M)
    out = []
    for span in spans:
        for part in span.split("&&"):
            part = part.strip()
            m = re.match(r"(?:\.venv/bin/)?icl-asymptotics (([a-z]+) \S.*)$", part)
            if m and m[2] in COMMANDS:
                out.append(m[1])
    return out


def _sources() -> dict:
    parser = cli.build_parser()
    texts = {"README.md": README, "docs/cli.md": (ROOT / "docs" / "cli.md").read_text(encoding="utf-8"),
             "icl-asymptotics --help": parser.format_help()}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        texts[f"notebooks/{nb.name}"] = nb.read_text(encoding="utf-8").replace("\\n", "\n")
    return {where: _commands(text) for where, text in texts.items()}


SOURCES = _sources()
IGNORED = {m[1] for m in re.finditer(r"^/([^/*!\s]+)/$", (ROOT / ".gitignore").read_text(), re.M)}
#: The tracked gallery: ``reproduce docs/figures`` regenerates files that are committed on purpose.
TRACKED_OUTPUTS = ("docs/figures",)


def test_example_commands_are_found():
    assert len(SOURCES["README.md"]) >= 9 and len(SOURCES["docs/cli.md"]) >= 9
    assert len(SOURCES["icl-asymptotics --help"]) >= 8


@pytest.mark.parametrize("where", sorted(SOURCES))
def test_example_commands_parse_and_write_only_into_ignored_folders(where):
    """Before: the examples wrote figures/, dd.png, phase.png, curve.csv, ... into the repository
    root, where they showed up as untracked files. Now into out/ (and caches into cache/), which
    .gitignore lists."""
    assert {"out", "cache"} <= IGNORED
    parser = cli.build_parser()
    for command in SOURCES[where]:
        args = parser.parse_args(shlex.split(command))  # an unknown option exits here
        for attr in ("output", "csv", "outdir", "cache"):
            path = getattr(args, attr, None)
            if path is None or path == "-":
                continue
            path = os.path.normpath(path)
            top = path.split(os.sep)[0]
            assert top in IGNORED or (attr == "outdir" and path in TRACKED_OUTPUTS), (where, command, path)
