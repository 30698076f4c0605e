"""Cheap invariants of the documentation site (the full build is a CI step: `.ci/run`).

The page generators of ``docs/_ext/site_pages.py`` are checked against the code they document, by
routes that do not reuse the generator's own logic where one exists (module files on disk,
``cmd_*`` functions, ``--help`` text, the manifest's files, the source text). The tests that need
the docs extra (Sphinx, MyST) skip without it; the requirement checks of the extras run always.
What the built site shows in a browser is ``tests/test_site_browser.py`` (marker ``browser``).
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
import runpy
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("asymptotics", "simulate", "icl_asymptotics")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"docs_ext_{name}", ROOT / "docs" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pages = _load("site_pages")


def _docs_extra():
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    return pytest.importorskip("yaml")


# ---- the docs extra brings what the build needs (issue 17: it failed on `import equinox`)
def _extras() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": project["dependencies"], **project["optional-dependencies"]}


def _closure(requirements: list[str]) -> set[str]:
    """Distributions (normalised names) that installing ``requirements`` brings: the project's own
    extras expanded from pyproject.toml, third-party ones through their installed metadata."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    extras, seen, todo = _extras(), set(), [Requirement(r) for r in requirements + _extras()[""]]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name == "icl-asymptotics":
            todo += [Requirement(r) for e in req.extras for r in extras[e]]
            continue
        key = (name, tuple(sorted(req.extras)))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for r in map(Requirement, requires):
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(r)
    return {name for name, _ in seen}


def _imports(source: str) -> set[str]:
    """Dotted names of the modules that ``source`` imports (at any depth: lazy imports count), with
    ``from package import name`` giving ``package.name`` too (it may be a submodule)."""
    names = set()
    source = re.sub(r"^\s*[%!].*$", "", source, flags=re.M)  # IPython magics and shell lines
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def _notebook_imports() -> set[str]:
    """Top-level third-party modules the notebooks need: what they import, and what the project
    modules they import import in turn (``simulate.transformer`` -> ``equinox``)."""
    todo = set()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "code":
                todo |= _imports("".join(cell["source"]))
    seen, out = set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        top = name.split(".")[0]
        if top not in PACKAGES:
            out.add(top)
            continue
        for path in (ROOT / Path(*name.split("."))).with_suffix(".py"), ROOT / Path(*name.split(".")) / "__init__.py":
            if path.exists():
                todo |= _imports(path.read_text())
    return out


def test_docs_extra_brings_every_notebook_import():
    """The site executes the notebooks: `pip install -e '.[docs]'` must bring all they import."""
    from packaging.utils import canonicalize_name

    pytest.importorskip("packaging")
    brought = _closure(_extras()["docs"])
    dists = metadata.packages_distributions()
    missing = {}
    for mod in sorted(_notebook_imports()):
        if mod in PACKAGES or mod in sys.stdlib_module_names:
            continue
        names = {canonicalize_name(d) for d in dists.get(mod, [])}
        assert names, f"the notebooks import {mod!r}, which no installed distribution provides"
        if not names & brought:
            missing[mod] = sorted(names)
    assert {"numpy", "equinox"} <= _notebook_imports()  # direct, and through simulate.transformer
    assert missing == {}, f"the docs extra lacks what the notebooks import: {missing}"


def test_docs_extra_brings_the_build_tools():
    from packaging.utils import canonicalize_name

    brought = _closure(_extras()["docs"])
    conf = (ROOT / "docs" / "conf.py").read_text()
    for dist in ("sphinx", "myst-nb", "numpydoc", "furo", "django-static-mathjax", "ipykernel"):
        assert canonicalize_name(dist) in brought, dist
    assert 'html_theme = "furo"' in conf and '"numpydoc"' in conf and '"myst_nb"' in conf


# ---- the API pages
@pytest.fixture(scope="module")
def api():
    _docs_extra()
    return pages.api_pages()


def _entries(page: str) -> list[str]:
    """The dotted names of a package page: its autosummary rows (relative to the package) and
    its autodoc directives."""
    package = re.search(r"^\.\. currentmodule:: (\S+)", page, re.M)[1]
    rows = re.findall(r"^   ~(\S+)$", page, re.M)
    rows = [r if r.split(".")[0] in PACKAGES else f"{package}.{r}" for r in rows]
    return rows + re.findall(r"^\.\. auto(?:function|class|data):: (\S+)$", page, re.M)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_is_on_the_package_page(api, package):
    runtime = importlib.import_module(package)
    shown = [pages._lookup(e) for e in _entries(api[f"{pages.OUT}/api/{package}.md"])]
    for name in runtime.__all__:  # each public object, by identity, exactly once
        assert sum(obj is getattr(runtime, name) for obj in shown) == 1, name
    assert len(shown) == len(runtime.__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_page_links_where_each_name_is_defined(api, package):
    """A row of the package table names the object where its source defines it (so the link
    lands on that module's page)."""
    for entry in _entries(api[f"{pages.OUT}/api/{package}.md"]):
        module, name = entry.rsplit(".", 1)
        if module in PACKAGES or module.rsplit(".", 1)[-1].startswith("_"):
            continue  # documented on the package page itself
        source = Path(importlib.import_module(module).__file__).read_text()
        assert re.search(rf"^(def|class) {name}\b|^{name}\s*(:|=)", source, re.M), entry
        assert f"{pages.OUT}/api/{module.split('.')[0]}/{module.split('.', 1)[1]}.md" in api


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_module_has_a_page(api, package):
    on_disk = sorted(p.stem for p in (ROOT / package).glob("*.py") if not p.stem.startswith("_"))
    on_disk += sorted(p.name for p in (ROOT / package).iterdir()
                      if p.is_dir() and (p / "__init__.py").exists() and not p.name.startswith("_"))
    for mod in on_disk:
        page = api.get(f"{pages.OUT}/api/{package}/{mod}.md")
        assert page is not None, f"{package}.{mod} has no API page"
        assert f".. automodule:: {package}.{mod}\n   :members:" in page
        assert f"{package}/{mod}\n" in api[f"{pages.OUT}/api/{package}.md"]  # in the package's toctree


@pytest.mark.parametrize("target, module", [
    ("simulate.run", None), ("check_int", "simulate.validate"), ("mean_sem", "simulate.core"),
    ("asymptotics.e_icl", None), ("PARAMS", "asymptotics.theory"), ("asymptotics.ISOTROPIC", None),
    ("simulate.sweep", None), ("simulate.Validation.rows", None),
])
def test_docstring_references_resolve_to_where_defined(target, module):
    """The docstrings cite re-exported or imported names; the site resolves each to the module
    whose source defines it (read from the file, not from the resolver)."""
    path = pages.home(target, module)
    assert path is not None
    parts = path.split(".")
    owner = next(".".join(parts[:i]) for i in range(len(parts), 0, -1)
                 if (ROOT / Path(*parts[:i])).with_suffix(".py").exists())
    rest = parts[len(owner.split(".")):]
    source = (ROOT / Path(*owner.split("."))).with_suffix(".py").read_text()
    if len(rest) == 1:
        assert re.search(rf"^(def|class) {rest[0]}\b|^{rest[0]}\s*(:|=)", source, re.M), path
    else:  # a field of a class
        assert re.search(rf"^class {rest[0]}\b", source, re.M) and re.search(rf"^    {rest[1]}\s*:", source, re.M), path


def test_unknown_reference_is_left_unresolved():
    assert pages.home("no_such_function", "simulate.core") is None
    assert pages.home("os.replace", None) is None


# ---- the other generated pages
def test_cli_reference_lists_every_command_and_option():
    _docs_extra()
    from icl_asymptotics import cli

    parser = cli.build_parser()
    ref = pages.cli_reference(parser)
    commands = [n[len("cmd_"):] for n in dir(cli) if n.startswith("cmd_")]
    assert len(commands) >= 6
    for command in commands:
        assert f"(cli-{command})=\n## `{command}`" in ref, command
        assert f"[`{command}`](#cli-{command})" in ref
        sub_help = _help_text(parser, command)  # the subcommand's own --help, printed by argparse
        for option in set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", sub_help)) - {"-h", "--help"}:
            assert f"`{option}`" in ref, f"{command} {option}"


def test_parameters_page_has_every_parameter_and_range():
    from asymptotics.params import MEANINGS, PARAMS, RANGES

    page = pages.parameters_page()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == list(PARAMS)
    for p, row in zip(PARAMS, rows):
        assert f"`{RANGES[p][-1]}`" in row and MEANINGS[p].replace("|", "\\|") in row


def test_latest_benchmark_per_name(tmp_path):
    for name in ("bench_a_2026-01-02.json", "bench_a_2026-11-01.json", "bench_a_2025-12-31.json",
                 "bench_a_before_2026-12-01.json", "bench_b.json"):
        (tmp_path / name).write_text("{}")
    latest = {k: v.name for k, v in pages.latest_benchmarks(tmp_path).items()}
    assert latest == {"bench_a": "bench_a_2026-11-01.json", "bench_a_before": "bench_a_before_2026-12-01.json",
                      "bench_b": "bench_b.json"}


def test_benchmarks_page_renders_the_recorded_json():
    page = pages.benchmarks_page()
    for path in pages.latest_benchmarks().values():
        assert f"`benchmarks/results/{path.name}`" in page
        assert json.dumps(json.loads(path.read_text()), indent=1) in page


def test_citation_page_from_citation_cff():
    yaml = _docs_extra()
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    page = pages.cite_page()
    ref = cff["preferred-citation"]
    assert ref["title"] in page and str(ref["year"]) in page
    for a in ref["authors"]:
        assert f"{a['family-names']}, {a['given-names']}" in page


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_stored_notebooks_have_no_outputs(path):
    """The site executes the notebooks; the repository keeps them output-free."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None


def _help_text(parser, command):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    return buf.getvalue().split("\n\n", 1)[1]  # drop the usage line block; keep options + epilog

def test_gallery_shows_every_figure_with_its_command():
    manifest = json.loads((ROOT / "docs" / "figures" / "manifest.json").read_text())
    page = pages.gallery_page()
    on_disk = sorted(p.name for p in (ROOT / "docs" / "figures").glob("*.png"))
    extras = [json.loads(p.read_text()) for p in pages.extra_manifests(ROOT / "docs" / "figures")]
    in_manifest = sorted(rec["file"] for m in [manifest, *extras] for rec in m["figures"])
    assert in_manifest == on_disk  # no figure without parameters, no parameters without figure
    for m in extras:
        for rec in m["figures"]:
            assert f"](../figures/{rec['file']})" in page
    for rec in manifest["figures"]:
        assert f"](../figures/{rec['file']})" in page
        assert f"--only {rec['figure']}" in page


def test_gallery_parameter_rows_are_short():
    """Issue 17: a figure's row printed up to 8,500 characters of raw JSON (every extrapolated
    point). A row is now at most a few lines of text; the manifest keeps the full values."""
    rows = [line for line in pages.gallery_page().splitlines() if line.startswith("| `")]
    assert len(rows) > 20
    longest = max(rows, key=len)
    assert len(longest) <= 400, longest  # 400: ~3 lines of a table cell, vs 2,000-8,500 before


def test_summarise_counts_and_ranges():
    assert pages.summarise([1, 2], width=100) == "`[1, 2]`"  # short: the JSON itself
    assert pages.summarise([0.5, 2.0, 8.0, 0.25], width=5) == "4 values, 0.25 .. 8"
    records = [{"tau": 0.2, "z": -1.5, "tag": "a"}, {"tau": 5.0, "z": 2.25, "tag": "b"},
               {"tau": 1.0, "z": 0.0, "tag": "c"}]
    assert pages.summarise(records, width=10) == "3 records (`tau` 0.2 .. 5, `z` -1.5 .. 2.25)"
    assert pages.summarise({"ladder": [40, 60], "points": records}, width=10) == (
        "`ladder`: `[40, 60]`; `points`: 3 records (`tau` 0.2 .. 5, `z` -1.5 .. 2.25)")
    assert pages.summarise(["aa", "bb", "cc"], width=5) == "3 items: aa, bb, cc"
    assert pages.summarise("x" * 20, width=10) == '`"xxxxxx...`'
    assert pages.summarise([{"rho": 0.1}] * 2, width=5) == "2 records (`rho` 0.1)"  # constant field


def test_formulas_page_typesets_every_formula_once():
    table = {"m": r"M{\left(z \right)} = 1", "fixed_point": r"\nu = \lambda", "limit_x": "a",
             "large_tau_e_icl_1": "b", "unheard_of": "c"}  # one per kind of group, and an unknown name
    page = pages.formulas_page(table)
    for name, tex in table.items():
        assert page.count(f"`{name}`") == 1 and page.count(f"```{{math}}\n{tex}\n```") == 1
    assert page.index("`unheard_of`") > page.index("## Other")  # unknown names still shown


def test_repository_links_point_to_site_pages():
    """Every relative link of the README / tests / notebooks pages lands on a page or file of the site."""
    _docs_extra()
    docs = ROOT / "docs"
    site_files = {p.relative_to(docs).as_posix() for p in docs.rglob("*") if p.is_file()}
    generated = set(pages.generated_pages(formulas=False)) | {f"{pages.OUT}/formulas.md"}
    for src, dest in pages.REPO_PAGES.items():
        text = pages.rewrite_links((ROOT / src).read_text(), src)
        page_dir = Path(pages.INCLUDED_FROM.get(dest, dest)).parent
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:|^#", target):
                continue
            path = (page_dir / target.partition("#")[0]).as_posix()
            path = re.sub(r"[^/]+/\.\./", "", re.sub(r"^\./", "", path))
            assert path in site_files | generated, f"{src}: {target} -> {path}"


def _toctree_entries(text: str) -> list[str]:
    out = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, re.S):
        out += [line for line in block.splitlines() if line and not line.startswith(":")]
    return out


def test_navigation_has_every_notebook_and_page():
    import fnmatch

    _docs_extra()
    entries = _toctree_entries((ROOT / "docs" / "index.md").read_text())
    api = pages.api_pages()
    for path, text in api.items():  # the package pages hold their modules' toctrees
        entries += [f"{pages.OUT}/api/{e}" for e in _toctree_entries(text)]

    def listed(doc):
        return any(fnmatch.fnmatch(doc, e) for e in entries)

    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert listed(f"{pages.OUT}/notebooks/{nb.stem}")
    for md in (ROOT / "docs").glob("*.md"):
        assert md.stem == "index" or listed(md.stem), f"docs/{md.name} is not in the navigation"
    for path in list(pages.generated_pages(formulas=False)) + [f"{pages.OUT}/formulas.md"]:
        if path.endswith((".md", ".ipynb")):
            assert listed(path.rsplit(".", 1)[0]), f"{path} is not in the navigation"


def test_write_pages_touches_only_what_changed(tmp_path):
    out = tmp_path / pages.OUT
    assert pages.write_pages({f"{pages.OUT}/a.md": "A", f"{pages.OUT}/sub/b.md": "B"}, tmp_path) == [
        f"{pages.OUT}/a.md", f"{pages.OUT}/sub/b.md"]
    (out / "stale.md").write_text("old")
    before = (out / "a.md").stat().st_mtime_ns
    assert pages.write_pages({f"{pages.OUT}/a.md": "A", f"{pages.OUT}/sub/b.md": "B2"}, tmp_path) == [f"{pages.OUT}/sub/b.md"]
    assert (out / "a.md").stat().st_mtime_ns == before and (out / "sub" / "b.md").read_text() == "B2"
    assert not (out / "stale.md").exists()  # a page no generator writes any more is removed


def test_sphinx_config_is_strict_offline_and_executes_notebooks(monkeypatch):
    _docs_extra()
    monkeypatch.delenv("DOCS_EXECUTE_NOTEBOOKS", raising=False)
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    assert conf["nitpicky"] is True  # a reference that does not resolve is a warning ...
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    for text in (ci, readme):  # ... and warnings are errors, in CI and in the README's command
        assert "sphinx-build -W --keep-going -d build/doctrees docs build/site" in text
    assert conf["nb_execution_mode"] == "cache" and conf["nb_execution_raise_on_error"] is True
    assert "numpydoc" in conf["extensions"] and "myst_nb" in conf["extensions"]
    assert not re.match(r"^[a-z]+://", conf["mathjax_path"])  # MathJax served by the site
    for _, location in conf["intersphinx_mapping"].values():  # inventories stored, never fetched
        assert Path(location).exists()
    assert {"dollarmath", "amsmath"} <= set(conf["myst_enable_extensions"])


def test_theory_note_is_added_to_the_theory_page():
    source = [(ROOT / "docs" / "THEORY.md").read_text()]
    pages._on_source_read(None, "THEORY", source)
    assert source[0].splitlines()[0].startswith("# ") and ":::{note}" in source[0]
    assert "generated/formulas.md" in source[0]


def test_lists_follow_a_blank_line():
    """Issue 17: a list right after a paragraph line rendered as run-on text under Python-Markdown
    (and is not a list in reStructuredText docstrings). Checked in the Markdown pages and in the
    docstrings; the browser check confirms the rendered lists."""
    def offenders(text):
        lines = text.splitlines()
        return [f"{i + 1}: {lines[i]}" for i in range(1, len(lines))
                if re.match(r"^- \S", lines[i]) and lines[i - 1].strip()
                and not re.match(r"^(- |  |#|\|)", lines[i - 1])]

    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert offenders(path.read_text()) == [], path.name
    import asymptotics.theory

    assert offenders(asymptotics.theory.__doc__) == []
