"""Sphinx extension: the pages of the site that are generated from the code and the repository.

Nothing here is copied by hand. When the build starts (``builder-inited``) this extension writes,
into ``docs/generated/`` (git-ignored; rewritten only where the text changed):

- one API page per package (a table of its ``__all__``, each name linked to where it is defined)
  and one per public module (``automodule``: what the module defines), read by autodoc with the
  numpydoc docstrings; the Sphinx roles of the docstrings resolve natively;
- the parameter table from :mod:`asymptotics.params` (``PARAMS``, ``MEANINGS``, ``RANGES``), the
  CLI reference from :func:`icl_asymptotics.cli.build_parser`, the gallery from
  ``docs/figures/manifest*.json``, the latest JSON of each benchmark in ``benchmarks/results``,
  the citation page from ``CITATION.cff``, and the LaTeX of :mod:`asymptotics.symbolic`;
- the README (included by ``docs/index.md``, the home page), ``tests/README.md`` and
  ``notebooks/README.md`` with their links rewritten to the site's pages, and copies of the
  notebooks, which MyST-NB executes (and caches, ``docs/conf.py``).

The page generators are plain functions (``api_pages()``, ``cli_reference()``, ...) so that
``tests/test_docs.py`` can check them without building the site.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import pkgutil
import re
from importlib import import_module
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
OUT = "generated"  # under docs/: every page of this module lands here
PACKAGES = ("asymptotics", "simulate", "icl_asymptotics")

# Repository files linked from the README and shown on the site: repo path -> site source path
# (under docs/). The README is the home page: docs/index.md includes generated/README.inc.
REPO_PAGES = {
    "README.md": f"{OUT}/README.inc",
    "tests/README.md": f"{OUT}/tests.md",
    "notebooks/README.md": f"{OUT}/notebooks/index.md",
}
INCLUDED_FROM = {f"{OUT}/README.inc": "index.md"}  # links of an included file are the includer's
LINK_TARGETS = {**REPO_PAGES, "README.md": "index.md", "CITATION.cff": f"{OUT}/cite.md"}


# ----------------------------------------------------------------------------------------------
# API reference
def public_modules(package: str) -> list[str]:
    """Dotted names of the public submodules of ``package`` (no leading underscore, no __main__)."""
    pkg = import_module(package)
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith(("_", "__")))


def _assigned(module: str) -> set[str]:
    """Names assigned at the top level of ``module``'s source (where its data is defined)."""
    source = Path(import_module(module).__file__).read_text()
    names, todo = set(), list(ast.parse(source).body)
    while todo:  # module level, including the bodies of try / if blocks, not of defs and classes
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
        todo += [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)]
    return names


def canonical(package: str, name: str) -> str:
    """The dotted path where ``package.name`` is defined (its documented home on the site).

    A function or class: its ``__module__`` and ``__qualname__``. Data (``PARAMS``, ``ISOTROPIC``):
    the public module of a project package whose source assigns the name to that same object.
    """
    obj = getattr(import_module(package), name)
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and qualname and module.split(".")[0] in PACKAGES:
        return f"{module}.{qualname}"
    for pkg in PACKAGES:
        for mod in [pkg, *public_modules(pkg)]:
            if name in _assigned(mod) and getattr(import_module(mod), name, None) is obj:
                return f"{mod}.{name}"
    raise LookupError(f"{package}.{name}: no module of the project defines it")


def _home_is_package(package: str, path: str) -> bool:
    """Whether ``path`` (a name of ``package.__all__``) is documented on the package's own page:
    defined in the package's ``__init__`` or in one of its private modules (``simulate._sizes``)."""
    module = path.rsplit(".", 1)[0]
    return module == package or (module.startswith(package + ".") and module not in public_modules(package))


def api_pages() -> dict[str, str]:
    """Site source path -> MyST of every API page (autodoc and autosummary directives)."""
    pages = {}
    for package in PACKAGES:
        names = import_module(package).__all__
        homes = {n: canonical(package, n) for n in names}
        here = [n for n in names if _home_is_package(package, homes[n])]
        lines = [f"# `{package}`", "", "```{eval-rst}", f".. automodule:: {package}", "   :no-members:",
                 "```", "", "## Public names", "",
                 f"The names of `{package}.__all__`, each linked to the page of the module that "
                 "defines it.", "", "```{eval-rst}", f".. currentmodule:: {package}", "", ".. autosummary::", ""]
        lines += [f"   ~{homes[n][len(package) + 1:] if homes[n].startswith(package + '.') else homes[n]}"
                  for n in names if n not in here] + ["```", ""]
        if here:
            lines += ["## Defined in the package itself", "", "```{eval-rst}",
                      f".. currentmodule:: {package}", ""]
            for n in here:
                kind = "autodata" if not callable(getattr(import_module(package), n)) else (
                    "autoclass" if isinstance(getattr(import_module(package), n), type) else "autofunction")
                lines += [f".. {kind}:: {package}.{n}", ""]
            lines += ["```", ""]
        lines += ["## Modules", "", "```{toctree}", ":maxdepth: 1", ""]
        lines += [f"{package}/{m.split('.', 1)[1]}" for m in public_modules(package)] + ["```", ""]
        pages[f"{OUT}/api/{package}.md"] = "\n".join(lines)
        for module in public_modules(package):
            lines = [f"# `{module}`", "", "```{eval-rst}", f".. automodule:: {module}", "   :members:",
                     "   :undoc-members:", "   :show-inheritance:", "   :member-order: bysource", "```", ""]
            pages[f"{OUT}/api/{package}/{module.split('.', 1)[1]}.md"] = "\n".join(lines)
    return pages


# ----------------------------------------------------------------------------------------------
# Parameters and the command line
def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def parameters_page() -> str:
    """The model parameters: meaning and allowed range, from :mod:`asymptotics.params`."""
    from asymptotics.params import MEANINGS, PARAMS, RANGES
    from icl_asymptotics.cli import DEFAULTS

    lines = ["# Parameters", "",
             "The five parameters of the scaling limit `d -> inf`, in their canonical order "
             "(`asymptotics.PARAMS`). Every entry point of every layer (theory, high precision, "
             "simulation, CLI) checks values against these ranges and refuses others with a "
             "`ValueError` naming the parameter and its range; NaN is never accepted. Generated from "
             "{py:mod}`asymptotics.params`.", "",
             "| parameter | meaning | allowed range | CLI default |", "|---|---|---|---|"]
    for p in PARAMS:
        lines.append(f"| `{p}` | {_md_cell(MEANINGS[p])} | `{RANGES[p][-1]}` | `{DEFAULTS.get(p, '')}` |")
    lines += ["", "Finite-`d` simulation sizes are `l = round(alpha d)`, `k = round(kappa d)`, "
              "`n = round(tau d^2)` (half up; {py:func}`simulate.sizes`)."]
    return "\n".join(lines) + "\n"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """name -> (subparser, one-line help) of every subcommand, in the parser's order."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                out[name] = (sub, helps.get(name, ""))
    return out


def _option_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | value | default | help |", "|---|---|---|---|"]
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        flags = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{a.dest}`"
        if a.nargs == 0:
            value = ""
        elif a.choices:
            value = " \\| ".join(f"`{c}`" for c in a.choices)
        else:
            value = f"`{a.metavar or a.dest.upper()}`"
            if a.nargs in ("+", "*"):
                value += " ..."
        default = "" if a.default in (None, False, argparse.SUPPRESS) or a.nargs == 0 else a.default
        if hasattr(default, "text"):  # a parsed parameter spec: show what the user would type
            default = default.text
        default = f"`{default}`" if default != "" else ("required" if a.required else "")
        rows.append(f"| {flags} | {value} | {_md_cell(default)} | {_md_cell(a.help or '')} |")
    return rows


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The CLI reference: usage, options and help text of the parser and every subcommand."""
    if parser is None:
        from icl_asymptotics.cli import build_parser

        parser = build_parser()
    subs = _subcommands(parser)
    lines = ["# CLI reference", "",
             f"Generated from the argument parser (`icl_asymptotics.cli.build_parser`) of "
             f"`{parser.prog}`; the same text as `{parser.prog} COMMAND --help`. "
             "The [guide](../cli.md) explains the conventions.", "",
             "```text", parser.format_usage().strip(), "```", "",
             parser.description or "", "", "| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#cli-{name}) | {_md_cell(h or '')} |" for name, (_, h) in subs.items()]
    lines += ["", "Options of the command itself:", ""] + _option_rows(parser)
    if parser.epilog:
        lines += ["", "```text", parser.epilog.strip("\n"), "```"]
    for name, (sub, h) in subs.items():
        lines += ["", f"(cli-{name})=", f"## `{name}`", "", _md_cell(h or ""), "",
                  "```text", sub.format_usage().strip(), "```", "", sub.description or "", ""]
        lines += _option_rows(sub)
        if sub.epilog:
            lines += ["", "```text", sub.epilog.strip("\n"), "```"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Gallery, benchmarks, citation
SUMMARY_WIDTH = 100  # a value whose JSON is longer is summarised (counts and ranges)


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _range(values: list) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.3g}" if lo == hi else f"{lo:.3g} .. {hi:.3g}"


def summarise(value, width: int = SUMMARY_WIDTH) -> str:
    """A gallery table cell for a manifest value: its JSON in backticks when at most ``width``
    characters, else a summary (the full value stays in the manifest).

    A list of numbers gives its count and range, a list of records (dicts) its count and the
    range of each numeric field (3 significant digits), a list of strings its count and items, a
    dict each entry summarised, anything else its JSON cut at ``width``.
    """
    text = json.dumps(value)
    if len(text) <= width:
        return f"`{text}`"
    if isinstance(value, list) and value and all(_num(v) for v in value):
        return f"{len(value)} values, {_range(value)}"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = [k for k in value[0] if all(_num(v.get(k)) for v in value)]
        fields = ", ".join(f"`{k}` {_range([v[k] for v in value])}" for k in keys)
        return f"{len(value)} records" + (f" ({fields})" if fields else "")
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return f"{len(value)} items: " + ", ".join(value)
    if isinstance(value, dict):
        return "; ".join(f"`{k}`: {summarise(v, width)}" for k, v in value.items())
    return f"`{text[:width - 3]}...`"


def gallery_page(manifest_path: Path = ROOT / "docs" / "figures" / "manifest.json") -> str:
    """The figure gallery: each figure of the manifest with its command and its parameters."""
    manifest = json.loads(manifest_path.read_text())
    lines = ["# Gallery", "",
             f"The figures in `docs/figures`, made by `icl-asymptotics reproduce` (package version "
             f"{manifest.get('version', '?')}, size `{manifest.get('size', '?')}`). Lines are the "
             "`d -> inf` theory, points finite-`d` simulations (mean +- standard error). Each figure's "
             "parameters below are read from `docs/figures/manifest.json`; the [guide](../cli.md#gallery-full-size) "
             "discusses what each shows.", ""]
    if "seeding" in manifest:
        lines += [f"Seeding: {manifest['seeding']}.", ""]
    for rec in manifest["figures"]:
        name = rec["figure"]
        quick = rec.get("size", manifest.get("size")) == "quick"
        cmd = ["icl-asymptotics reproduce docs/figures"] + (["--quick"] if quick else [])
        cmd += [f"--only {name}"]
        if not manifest.get("simulate", True):
            cmd.append("--no-simulate")
        for key, flag in (("d", "--d"), ("n_seeds", "--seeds"), ("seed", "--seed")):
            if key in rec:
                cmd.append(f"{flag} {rec[key]}")
        lines += [f"## ({name}) {rec.get('what', '')}", "",
                  f"![{rec.get('what', name)}](../figures/{rec['file']})", "",
                  "```bash", " ".join(cmd), "```", "",
                  "or in Python: `icl_asymptotics.figures.build("
                  f"{name!r}, quick={quick})`.", "", "| parameter | value |", "|---|---|"]
        for key, value in rec.items():
            if key in ("figure", "what", "file", "size"):
                continue
            lines.append(f"| `{key}` | {_md_cell(summarise(value))} |")
        lines.append("")
    for extra in extra_manifests(manifest_path.parent):
        lines += _extra_gallery(json.loads(extra.read_text()), extra.name)
    return "\n".join(lines) + "\n"


def extra_manifests(folder: Path) -> list[Path]:
    """The other figure sets' manifests (``manifest_*.json``, e.g. structured tasks), sorted."""
    return sorted(folder.glob("manifest_*.json"))


def _extra_gallery(manifest: dict, name: str) -> list[str]:
    """A gallery section for a figure set with its own manifest: ``title``, ``command``, and per
    figure ``file``, ``figure``, ``what`` and its parameters."""
    lines = [f"## {manifest.get('title', name)}", "",
             f"Parameters read from `docs/figures/{name}` (package version {manifest.get('version', '?')}).",
             "", "```bash", manifest.get("command", ""), "```", ""]
    for rec in manifest["figures"]:
        lines += [f"### {rec.get('what', rec['figure'])}", "",
                  f"![{rec.get('what', rec['figure'])}](../figures/{rec['file']})", "",
                  "| parameter | value |", "|---|---|"]
        for key, value in rec.items():
            if key in ("figure", "what", "file"):
                continue
            lines.append(f"| `{key}` | {_md_cell(summarise(value))} |")
        lines.append("")
    return lines


_DATED = re.compile(r"^(?P<name>.+)_(?P<date>\d{4}-\d{2}-\d{2})\.json$")


def latest_benchmarks(results: Path = ROOT / "benchmarks" / "results") -> dict[str, Path]:
    """Benchmark name -> its most recent ``NAME_YYYY-MM-DD.json`` in ``results``."""
    latest = {}
    for path in sorted(results.glob("*.json")):
        m = _DATED.match(path.name)
        name, date = (m["name"], m["date"]) if m else (path.stem, "")
        if name not in latest or date >= latest[name][0]:
            latest[name] = (date, path)
    return {name: path for name, (date, path) in sorted(latest.items())}


def benchmarks_page() -> str:
    results = ROOT / "benchmarks" / "results"
    lines = ["# Benchmarks", "",
             "The scripts in `benchmarks/` print JSON, with the baseline measured in the same "
             "process and the ratio: `python benchmarks/bench_theory.py` (vectorised theory vs "
             "scalar Python loops), `python benchmarks/bench_sim.py` (fast simulator vs a naive "
             "token/Gram simulator), `python benchmarks/sweep_overhead.py`. Below: the latest "
             "recorded JSON of each, from `benchmarks/results`.", ""]
    readme = results / "README.md"
    if readme.exists():
        text = readme.read_text().strip()
        lines += ["## About these runs", "", re.sub(r"^# .*\n", "", text).strip(), ""]
    for name, path in latest_benchmarks(results).items():
        lines += [f"## `{name}`", "", f"`benchmarks/results/{path.name}`", "",
                  "```json", json.dumps(json.loads(path.read_text()), indent=1), "```", ""]
    return "\n".join(lines) + "\n"


def _author(a: dict) -> str:
    if "family-names" in a:
        return f"{a['family-names']}, {a.get('given-names', '')}".rstrip(", ")
    return "{" + a.get("name", "") + "}"  # an entity: braces keep BibTeX from splitting it


def _bibtex(ref: dict) -> str:
    """A BibTeX entry for a CFF reference (``preferred-citation`` or the software itself)."""
    authors = " and ".join(_author(a) for a in ref.get("authors", []))
    first = (ref.get("authors") or [{}])[0]
    key = re.sub(r"\W", "", (first.get("family-names") or ref.get("title", "ref").split(":")[0]).lower())
    key += str(ref.get("year") or "")
    fields = {"title": ref.get("title"), "author": authors, "journal": ref.get("journal"),
              "volume": ref.get("volume"), "number": ref.get("issue"), "pages": ref.get("start"),
              "version": ref.get("version"), "year": ref.get("year")}
    notes = [i["value"] for i in ref.get("identifiers", []) if i.get("value")]
    if ref.get("doi"):
        fields["doi"] = ref["doi"]
    if notes:
        fields["note"] = ", ".join(notes)
    body = ",\n".join(f"  {k:<7} = {{{v}}}" for k, v in fields.items() if v not in (None, ""))
    kind = {"article": "article", "software": "software"}.get(ref.get("type"), "misc")
    return f"@{kind}{{{key},\n{body}\n}}"


def cite_page() -> str:
    import yaml

    text = (ROOT / "CITATION.cff").read_text()
    cff = yaml.safe_load(text)
    lines = ["# How to cite", "", cff.get("message", ""), ""]
    if "preferred-citation" in cff:
        lines += ["## The paper", "", "```bibtex", _bibtex(cff["preferred-citation"]), "```", ""]
    software = {"type": "software", "title": cff.get("title"), "version": cff.get("version"),
                "authors": cff.get("authors", []), "year": str(cff.get("date-released", ""))[:4] or None}
    lines += ["## This software", "", "```bibtex", _bibtex(software), "```", "",
              "from `CITATION.cff` at the root of the repository (GitHub and Zenodo read it):", "",
              "```yaml", text.strip(), "```", ""]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# The derived formulas (LaTeX from asymptotics.symbolic)
FORMULA_GROUPS = [
    ("Marchenko–Pastur transform", ("q", "marchenko_pastur", "m", "F2", "mu")),
    ("Effective ridge", ("fixed_point", "nu_")),
    ("Error formulas, structural form", ("_structural",)),
    ("Error formulas, positive-sum form (the float64 kernels)", ("sigma2", "T1", "T2", "T3", "T4", "B5", "e_idg", "e_icl")),
    ("Ridgeless closed forms", ("ridgeless_",)),
    ("The paper's Result 1", ("result1_",)),
    ("Limits", ("limit_",)),
    ("Large-tau expansion", ("large_tau_",)),
]


def _group(name: str) -> int:
    for i, (_, keys) in enumerate(FORMULA_GROUPS):
        if any(name == k or (k.endswith("_") and name.startswith(k)) or (k.startswith("_") and name.endswith(k))
               or (not k.endswith("_") and not k.startswith("_") and name.startswith(k + "_")) for k in keys):
            return i
    return len(FORMULA_GROUPS)


def formulas_page(table: dict[str, str] | None = None) -> str:
    """Every formula of :func:`asymptotics.symbolic.latex_formulas`, typeset by MathJax (served by the site)."""
    if table is None:
        from asymptotics.symbolic import latex_formulas

        table = latex_formulas()
    lines = ["# Derived formulas", "",
             "The results derived with sympy in {py:mod}`asymptotics.symbolic`, "
             "printed by `sympy.latex` at build time (the same text as `icl-asymptotics latex NAME`). "
             "The derivation and provenance of each are in the [theory](../THEORY.md); "
             "[verification](../verification.md) says how each is checked.", ""]
    groups = [[] for _ in range(len(FORMULA_GROUPS) + 1)]
    for name, tex in table.items():
        groups[_group(name)].append((name, tex))
    titles = [t for t, _ in FORMULA_GROUPS] + ["Other"]
    for title, items in zip(titles, groups):
        if not items:
            continue
        lines += [f"## {title}", ""]
        for name, tex in items:
            lines += [f"`{name}`", "", "```{math}", tex, "```", ""]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Repository Markdown files shown as pages
_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def rewrite_links(text: str, source: str) -> str:
    """Rewrite the relative links of the repository file ``source`` to the site's pages."""
    base = Path(source).parent
    dest = REPO_PAGES.get(source, "index.md")
    page_dir = Path(INCLUDED_FROM.get(dest, dest)).parent

    def fix(m):
        target = m[2]
        if re.match(r"^[a-z]+:|^#", target):
            return m[0]
        path, _, anchor = target.partition("#")
        repo_path = (base / path).as_posix() if str(base) != "." else path
        if repo_path in LINK_TARGETS:
            new = LINK_TARGETS[repo_path]
        elif repo_path.startswith("docs/"):
            new = repo_path[len("docs/"):]
        else:
            return m[0]
        new = os.path.relpath(new, page_dir).replace(os.sep, "/")
        return f"{m[1]}{new}{'#' + anchor if anchor else ''}{m[3]}"

    return _LINK.sub(fix, text)


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def generated_pages(formulas: bool = True) -> dict[str, str]:
    """Site source path (under docs/) -> text of every generated page (``formulas=False``: all
    but the sympy one). The notebooks are copied as they are."""
    pages = {dest: rewrite_links((ROOT / src).read_text(), src) for src, dest in REPO_PAGES.items()}
    pages.update(api_pages())
    pages[f"{OUT}/parameters.md"] = parameters_page()
    pages[f"{OUT}/cli-reference.md"] = cli_reference()
    pages[f"{OUT}/gallery.md"] = gallery_page()
    pages[f"{OUT}/benchmarks.md"] = benchmarks_page()
    pages[f"{OUT}/cite.md"] = cite_page()
    for nb in notebooks():
        pages[f"{OUT}/notebooks/{nb.name}"] = nb.read_text()
    if formulas:
        pages[f"{OUT}/formulas.md"] = formulas_page()  # runs the sympy derivation (about 20 s)
    return pages


def write_pages(pages: dict[str, str], root: Path = DOCS) -> list[str]:
    """Write ``pages`` under ``root``, touching only files whose text changed (so that Sphinx
    rereads, and MyST-NB re-executes, only what changed); remove stale generated files.
    Returns the paths written."""
    written = []
    for rel, text in pages.items():
        path = root / rel
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(rel)
    for path in sorted((root / OUT).rglob("*"), reverse=True):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in pages:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return written


THEORY_NOTE = """
:::{note}
This page writes most formulas in plain text, as in the repository's `docs/THEORY.md` (section 4's
main result is also typeset). The [derived formulas](generated/formulas.md) page shows every derived
formula typeset, as `asymptotics.symbolic` derives it.
:::
"""


# ----------------------------------------------------------------------------------------------
# Sphinx events
def _lookup(dotted: str):
    """The object at ``dotted``: as Python sees it (attributes first: ``simulate.sweep`` is the
    function), else as a module path (``simulate.validate.Extrapolation``), else None."""
    head, *rest = dotted.split(".")
    try:
        obj = import_module(head)
    except ImportError:
        return None
    for part in rest:
        obj = getattr(obj, part, None)
        if obj is None:
            break
    if obj is not None:
        return obj
    for i in range(len(rest), 0, -1):  # the longest importable module prefix, then attributes
        try:
            obj = import_module(".".join([head, *rest[:i]]))
        except ImportError:
            continue
        for part in rest[i:]:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj
    return None


def home(target: str, module: str | None = None) -> str | None:
    """Where the object that the docstring reference ``target`` names is documented: its
    defining module's path, for a name re-exported by a package (``simulate.run`` ->
    ``simulate.core.run``) or imported into the module that cites it (``run`` written in
    ``simulate.validate``). None when ``target`` is no object of the project."""
    for dotted in ([f"{module}.{target}"] if module else []) + [target]:
        if dotted.split(".")[0] not in PACKAGES:
            continue
        obj = _lookup(dotted)
        parent_path, _, name = dotted.rpartition(".")
        parent = _lookup(parent_path)
        if isinstance(parent, type) and (obj is None or not hasattr(obj, "__qualname__")):
            return f"{home(parent_path)}.{name}"  # a field or property: documented with its class
        if obj is None:
            continue
        if isinstance(obj, ModuleType):
            return obj.__name__
        mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if isinstance(mod, str) and isinstance(qual, str) and mod.split(".")[0] in PACKAGES:
            return f"{mod}.{qual}"
        if isinstance(parent, ModuleType) and parent.__name__.split(".")[0] in PACKAGES:
            try:
                return canonical(parent.__name__, name)
            except LookupError:
                pass
        return dotted
    return None


def _on_missing_reference(app, env, node, contnode):
    """Resolve a Python reference to a re-exported or imported name (the docstrings cite
    ``simulate.run``, or ``run`` where it is imported) to where the object is documented."""
    if node.get("refdomain") != "py" or node.get("reftype") == "mod":
        return None
    target = node["reftarget"]
    path = home(target, node.get("py:module"))
    if path is None or path == target:
        return None
    return env.domains["py"].resolve_xref(env, node["refdoc"], app.builder, node["reftype"], path, node, contnode)


def _on_builder_inited(app):
    from sphinx.util import logging

    written = write_pages(generated_pages())
    logging.getLogger(__name__).info(f"site_pages: {len(written)} generated page(s) changed")


def _on_source_read(app, docname, source):
    if docname == "THEORY":
        head, sep, rest = source[0].partition("\n")
        source[0] = head + sep + THEORY_NOTE + rest


def setup(app):
    app.connect("builder-inited", _on_builder_inited)
    app.connect("source-read", _on_source_read)
    app.connect("missing-reference", _on_missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
