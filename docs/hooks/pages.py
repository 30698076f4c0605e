"""MkDocs hook: the pages of the site that are generated from the code and the repository.

Nothing here is copied by hand. At build time this hook

- builds the navigation, with one API page per package (members from its ``__all__``) and per
  public module (members not re-exported by the package), and one page per ``notebooks/*.ipynb``;
- renders the parameter table from :mod:`asymptotics.params` (``PARAMS``, ``MEANINGS``,
  ``RANGES``), the CLI reference from :func:`icl_asymptotics.cli.build_parser`, the gallery from
  ``docs/figures/manifest.json``, the latest JSON of each benchmark in ``benchmarks/results``, the
  citation page from ``CITATION.cff``, and the LaTeX of :mod:`asymptotics.symbolic`;
- adds the README (home page), ``tests/README.md`` and ``notebooks/README.md`` with their links
  rewritten to the site's pages, and the notebooks themselves (executed by mkdocs-jupyter).

The page generators are plain functions (``api_pages()``, ``cli_reference()``, ...) so that
``tests/test_docs.py`` can check them without building the site.
"""
from __future__ import annotations

import argparse
import json
import pkgutil
import re
from importlib import import_module
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("asymptotics", "simulate", "icl_asymptotics")

# Repository files linked from the README and shown as pages here: repo path -> site page.
REPO_PAGES = {
    "README.md": "index.md",
    "tests/README.md": "tests.md",
    "notebooks/README.md": "notebooks/index.md",
}
LINK_TARGETS = {**REPO_PAGES, "CITATION.cff": "cite.md"}

# Pages of the site in navigation order; nav() puts the notebooks and the API reference between.
NAV_HEAD = [
    {"Getting started": "index.md"},
    {"Theory": "THEORY.md"},
    {"Derived formulas": "formulas.md"},
    {"Parameters": "parameters.md"},
]
NAV_TAIL = [
    {"Command line": [{"Guide": "cli.md"}, {"Reference": "cli-reference.md"}]},
    {"Gallery": "gallery.md"},
    {"Trained Transformers": "transformer.md"},
    {"Verification": "verification.md"},
    {"Tests": "tests.md"},
    {"Benchmarks": "benchmarks.md"},
    {"Architecture": "ARCHITECTURE.md"},
    {"How to cite": "cite.md"},
]


# ----------------------------------------------------------------------------------------------
# API reference
def public_modules(package: str) -> list[str]:
    """Dotted names of the public submodules of ``package`` (no leading underscore, no __main__)."""
    pkg = import_module(package)
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_"))


def _reexports(package: str) -> tuple[dict[str, str], set[str]]:
    """name in ``package.__all__`` -> the dotted path of the object it re-exports (griffe, static),
    and the names whose object is shadowed by a submodule of the same name.

    ``simulate.sweep`` is the function ``simulate.sweep.sweep`` at run time (imported after the
    submodule loads), but the submodule statically: such a name is documented by its full path.
    """
    import griffe

    pkg = griffe.load(package, search_paths=[str(ROOT)], resolve_aliases=False)
    runtime = import_module(package)
    out, shadowed = {}, set()
    for name in runtime.__all__:
        member = pkg.members.get(name)
        obj = getattr(runtime, name)
        if member is not None and member.is_alias:
            out[name] = member.target_path
        elif member is not None and member.is_module and not isinstance(obj, ModuleType):
            out[name] = f"{obj.__module__}.{obj.__qualname__}"
            shadowed.add(name)
        else:
            out[name] = f"{package}.{name}"
    return out, shadowed


def _yaml_list(items) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def api_pages() -> dict[str, str]:
    """Site path -> Markdown of every API page (mkdocstrings ``:::`` blocks)."""
    pages = {}
    for package in PACKAGES:
        targets, shadowed = _reexports(package)
        names = [n for n in import_module(package).__all__ if n not in shadowed]
        modules = public_modules(package)
        lines = [f"# `{package}`", "",
                 f"The public names of `{package}` (its `__all__`); the modules below document "
                 "what the package does not re-export.", "",
                 f"::: {package}", "    options:", "      show_root_heading: false",
                 f"      members: {_yaml_list(names)}", ""]
        for name in sorted(shadowed):  # `package.name` is also a submodule: full path
            lines += [f"::: {targets[name]}", "    options:", "      show_root_heading: true", ""]
        lines += ["## Modules", ""]
        lines += [f"- [`{m}`]({package}/{m.split('.', 1)[1]}.md)" for m in modules]
        pages[f"api/{package}.md"] = "\n".join(lines) + "\n"
        for module in modules:
            here = sorted(n for n, t in targets.items() if t.rsplit(".", 1)[0] == module)
            lines = [f"# `{module}`", ""]
            if here:
                refs = [targets[n] if n in shadowed else f"{package}.{n}" for n in here]
                lines += ["Defined here and documented with the package: "
                          + ", ".join(f"[`{r}`][{r}]" for r in refs) + ".", ""]
            lines += [f"::: {module}", "    options:", "      show_root_heading: false"]
            if here:
                lines.append(f"      filters: {_yaml_list(['!^_[^_]'] + [f'!^{n}$' for n in here])}")
            pages[f"api/{package}/{module.split('.', 1)[1]}.md"] = "\n".join(lines) + "\n"
    return pages


def api_nav() -> list:
    nav = []
    for package in PACKAGES:
        nav.append({f"{package}": [{"Package": f"api/{package}.md"}]
                    + [{m.split(".", 1)[1]: f"api/{package}/{m.split('.', 1)[1]}.md"}
                       for m in public_modules(package)]})
    return nav


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
             "[`asymptotics.params`][asymptotics.params].", "",
             "| parameter | meaning | allowed range | CLI default |", "|---|---|---|---|"]
    for p in PARAMS:
        lines.append(f"| `{p}` | {_md_cell(MEANINGS[p])} | `{RANGES[p][-1]}` | `{DEFAULTS.get(p, '')}` |")
    lines += ["", "Finite-`d` simulation sizes are `l = round(alpha d)`, `k = round(kappa d)`, "
              "`n = round(tau d^2)` (half up; [`simulate.sizes`][simulate.sizes])."]
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
             "The [guide](cli.md) explains the conventions.", "",
             "```text", parser.format_usage().strip(), "```", "",
             parser.description or "", "", "| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#cli-{name}) | {_md_cell(h or '')} |" for name, (_, h) in subs.items()]
    lines += ["", "Options of the command itself:", ""] + _option_rows(parser)
    if parser.epilog:
        lines += ["", "```text", parser.epilog.strip("\n"), "```"]
    for name, (sub, h) in subs.items():
        lines += ["", f"## `{name}` {{#cli-{name}}}", "", _md_cell(h or ""), "",
                  "```text", sub.format_usage().strip(), "```", "", sub.description or "", ""]
        lines += _option_rows(sub)
        if sub.epilog:
            lines += ["", "```text", sub.epilog.strip("\n"), "```"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Gallery, benchmarks, citation
def gallery_page(manifest_path: Path = ROOT / "docs" / "figures" / "manifest.json") -> str:
    """The figure gallery: each figure of the manifest with its command and its parameters."""
    manifest = json.loads(manifest_path.read_text())
    lines = ["# Gallery", "",
             f"The figures in `docs/figures`, made by `icl-asymptotics reproduce` (package version "
             f"{manifest.get('version', '?')}, size `{manifest.get('size', '?')}`). Lines are the "
             "`d -> inf` theory, points finite-`d` simulations (mean +- standard error). Each figure's "
             "parameters below are read from `docs/figures/manifest.json`; the [guide](cli.md#gallery-full-size) "
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
                  f"![{rec.get('what', name)}](figures/{rec['file']})", "",
                  "```bash", " ".join(cmd), "```", "",
                  "or in Python: `icl_asymptotics.figures.build("
                  f"{name!r}, quick={quick})`.", "", "| parameter | value |", "|---|---|"]
        for key, value in rec.items():
            if key in ("figure", "what", "file", "size"):
                continue
            lines.append(f"| `{key}` | `{_md_cell(json.dumps(value))}` |")
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
                  f"![{rec.get('what', rec['figure'])}](figures/{rec['file']})", "",
                  "| parameter | value |", "|---|---|"]
        for key, value in rec.items():
            if key in ("figure", "what", "file"):
                continue
            lines.append(f"| `{key}` | `{_md_cell(json.dumps(value))}` |")
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
    """Every formula of :func:`asymptotics.symbolic.latex_formulas`, rendered by MathJax."""
    if table is None:
        from asymptotics.symbolic import latex_formulas

        table = latex_formulas()
    lines = ["# Derived formulas", "",
             "The results derived with sympy in [`asymptotics.symbolic`][asymptotics.symbolic], "
             "printed by `sympy.latex` at build time (the same text as `icl-asymptotics latex NAME`). "
             "The derivation and provenance of each are in the [theory](THEORY.md); "
             "[verification](verification.md) says how each is checked.", ""]
    groups = [[] for _ in range(len(FORMULA_GROUPS) + 1)]
    for name, tex in table.items():
        groups[_group(name)].append((name, tex))
    titles = [t for t, _ in FORMULA_GROUPS] + ["Other"]
    for title, items in zip(titles, groups):
        if not items:
            continue
        lines += [f"## {title}", ""]
        for name, tex in items:
            lines += [f"`{name}`", "", '<div class="arithmatex formula">', f"\\[{tex}\\]", "</div>", ""]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Repository Markdown files shown as pages
_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def rewrite_links(text: str, source: str) -> str:
    """Rewrite the relative links of the repository file ``source`` to the site's pages."""
    base = Path(source).parent

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
        page_dir = Path(REPO_PAGES.get(source, "index.md")).parent
        new = Path(new).relative_to(page_dir).as_posix() if page_dir != Path(".") else new
        return f"{m[1]}{new}{'#' + anchor if anchor else ''}{m[3]}"

    return _LINK.sub(fix, text)


def generated_pages(formulas: bool = True) -> dict[str, str]:
    """Site path -> Markdown of every generated page (``formulas=False``: all but the sympy one)."""
    pages = {dest: rewrite_links((ROOT / src).read_text(), src) for src, dest in REPO_PAGES.items()}
    pages.update(api_pages())
    pages["parameters.md"] = parameters_page()
    pages["cli-reference.md"] = cli_reference()
    pages["gallery.md"] = gallery_page()
    pages["benchmarks.md"] = benchmarks_page()
    pages["cite.md"] = cite_page()
    if formulas:
        pages["formulas.md"] = formulas_page()  # runs the sympy derivation (about 20 s)
    return pages


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def nav() -> list:
    def title(p: Path) -> str:
        return p.stem.split("_", 1)[-1].replace("_", " ").capitalize()

    nb = [{"Overview": "notebooks/index.md"}] + [{title(p): f"notebooks/{p.name}"} for p in notebooks()]
    return NAV_HEAD + [{"Notebooks": nb}, {"API reference": api_nav()}] + NAV_TAIL


# ----------------------------------------------------------------------------------------------
# MkDocs events
def on_config(config, **kwargs):
    config.nav = nav()
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    for path, text in generated_pages().items():
        files.append(File.generated(config, path, content=text))
    for path in notebooks():
        # A real file outside docs_dir (mkdocs-jupyter derives paths from its src_dir).
        files.append(File(f"notebooks/{path.name}", src_dir=str(ROOT), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files


THEORY_NOTE = """
!!! note "Formulas in LaTeX"
    This page writes its formulas in plain text, as in the repository's `docs/THEORY.md`. The
    [derived formulas](formulas.md) page shows them typeset, as derived by `asymptotics.symbolic`.
"""


def on_page_markdown(markdown, page, **kwargs):
    if page.file.src_uri == "THEORY.md":
        head, sep, rest = markdown.partition("\n")
        return head + sep + THEORY_NOTE + rest
    return markdown


# Run before mkdocs-jupyter's on_files, which wraps the notebook files added here.
try:
    from mkdocs.plugins import event_priority

    on_files = event_priority(50)(on_files)
except ImportError:  # mkdocs not installed: the generators above are still importable
    pass
