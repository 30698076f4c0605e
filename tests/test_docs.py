"""Cheap invariants of the documentation site (the full strict build is a CI step: `.ci/run`).

Skipped unless the docs extra is installed (``pip install -e '.[docs]'``). The page generators of
``docs/hooks/pages.py`` are checked against the code they document, by routes that do not reuse
the generator's own logic where one exists (module files on disk, ``cmd_*`` functions, ``--help``
text, the manifest's files).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")
griffe = pytest.importorskip("griffe")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("asymptotics", "simulate", "icl_asymptotics")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pages = _load("pages")
roles = _load("griffe_roles")


@pytest.fixture(scope="module")
def api():
    return pages.api_pages()


def _directive_options(page: str, target: str) -> dict:
    """The YAML options of the ``::: target`` block of an API page."""
    m = re.search(rf"^::: {re.escape(target)}\n((?:    .*\n)*)", page, re.M)
    assert m, f"no '::: {target}' block"
    return yaml.safe_load("\n".join(line[4:] for line in m[1].splitlines()))["options"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_is_on_the_package_page(api, package):
    runtime = importlib.import_module(package)
    page = api[f"api/{package}.md"]
    members = _directive_options(page, package)["members"]
    # A name that is also a submodule (simulate.sweep) is rendered by its object's full path.
    by_path = [n for n in runtime.__all__ if n not in members
               and f"::: {getattr(runtime, n).__module__}.{getattr(runtime, n).__qualname__}\n" in page]
    assert sorted(members + by_path) == sorted(runtime.__all__)  # exact: every public name, nothing else
    assert len(by_path) == len(set(by_path))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_module_has_a_page(api, package):
    on_disk = sorted(p.stem for p in (ROOT / package).glob("*.py") if not p.stem.startswith("_"))
    on_disk += sorted(p.name for p in (ROOT / package).iterdir()
                      if p.is_dir() and (p / "__init__.py").exists() and not p.name.startswith("_"))
    for mod in on_disk:
        page = api.get(f"api/{package}/{mod}.md")
        assert page is not None, f"{package}.{mod} has no API page"
        assert f"::: {package}.{mod}\n" in page


@pytest.mark.parametrize("package", PACKAGES)
def test_module_pages_hide_only_names_the_package_documents(api, package):
    """A module page leaves out exactly the names re-exported (and documented) by the package."""
    exported = set(importlib.import_module(package).__all__)
    for path, page in api.items():
        if not path.startswith(f"api/{package}/"):
            continue
        module = f"{package}.{Path(path).stem}"
        filters = _directive_options(page, module).get("filters", [])
        hidden = {f[2:-1] for f in filters if f.startswith("!^") and f.endswith("$")}
        assert hidden <= exported, f"{module} hides {hidden - exported}, which no page documents"
        for name in hidden:  # and links to where it is documented
            assert f"[`{package}.{name}`][{package}.{name}]" in page or f"[`{module}.{name}`][{module}.{name}]" in page


def test_cli_reference_lists_every_command_and_option():
    from icl_asymptotics import cli

    parser = cli.build_parser()
    ref = pages.cli_reference(parser)
    commands = [n[len("cmd_"):] for n in dir(cli) if n.startswith("cmd_")]
    assert len(commands) >= 6
    for command in commands:
        assert f"## `{command}` {{#cli-{command}}}" in ref, command
        sub_help = _help_text(parser, command)  # the subcommand's own --help, printed by argparse
        for option in set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", sub_help)) - {"-h", "--help"}:
            assert f"`{option}`" in ref, f"{command} {option}"


def _help_text(parser, command):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    return buf.getvalue().split("\n\n", 1)[1]  # drop the usage line block; keep options + epilog


def test_parameters_page_has_every_parameter_and_range():
    from asymptotics.params import MEANINGS, PARAMS, RANGES

    page = pages.parameters_page()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == list(PARAMS)
    for p, row in zip(PARAMS, rows):
        assert f"`{RANGES[p][-1]}`" in row and MEANINGS[p].replace("|", "\\|") in row


def test_gallery_shows_every_figure_with_its_command():
    manifest = json.loads((ROOT / "docs" / "figures" / "manifest.json").read_text())
    page = pages.gallery_page()
    on_disk = sorted(p.name for p in (ROOT / "docs" / "figures").glob("*.png"))
    extras = [json.loads(p.read_text()) for p in pages.extra_manifests(ROOT / "docs" / "figures")]
    in_manifest = sorted(rec["file"] for m in [manifest, *extras] for rec in m["figures"])
    assert in_manifest == on_disk  # no figure without parameters, no parameters without figure
    for m in extras:
        for rec in m["figures"]:
            assert f"](figures/{rec['file']})" in page
    for rec in manifest["figures"]:
        assert f"](figures/{rec['file']})" in page
        assert f"--only {rec['figure']}" in page


def test_formulas_page_typesets_every_formula_once():
    table = {"m": r"M{\left(z \right)} = 1", "fixed_point": r"\nu = \lambda", "limit_x": "a",
             "large_tau_e_icl_1": "b", "unheard_of": "c"}  # one per kind of group, and an unknown name
    page = pages.formulas_page(table)
    for name, tex in table.items():
        assert page.count(f"`{name}`") == 1 and page.count(f"\\[{tex}\\]") == 1
    assert page.index("`unheard_of`") > page.index("## Other")  # unknown names still shown


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
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    page = pages.cite_page()
    ref = cff["preferred-citation"]
    assert ref["title"] in page and str(ref["year"]) in page
    for a in ref["authors"]:
        assert f"{a['family-names']}, {a['given-names']}" in page


def test_repository_links_point_to_site_pages():
    """Every relative link of the README / tests / notebooks pages lands on a page or file of the site."""
    site_files = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*") if p.is_file()}
    generated = set(pages.generated_pages(formulas=False)) | {"formulas.md"}
    notebooks = {f"notebooks/{p.name}" for p in pages.notebooks()}
    for src, dest in pages.REPO_PAGES.items():
        text = pages.rewrite_links((ROOT / src).read_text(), src)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:|^#", target):
                continue
            path = (Path(dest).parent / target.partition("#")[0]).as_posix()
            path = re.sub(r"^\./", "", path)
            assert path in site_files | generated | notebooks, f"{src}: {target} -> {path}"


def test_navigation_has_every_notebook_and_page():
    def leaves(nav):
        for item in nav:
            for value in item.values():
                yield from (leaves(value) if isinstance(value, list) else [value])

    nav = set(leaves(pages.nav()))
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{nb.name}" in nav
    for md in (ROOT / "docs").glob("*.md"):
        assert md.name in nav, f"docs/{md.name} is not in the navigation"
    assert set(pages.api_pages()) <= nav


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_stored_notebooks_have_no_outputs(path):
    """The site executes the notebooks; the repository keeps them output-free."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None


def test_mkdocs_config_is_strict_and_executes_notebooks():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!ENV", lambda loader, node: loader.construct_sequence(node)[-1])
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    assert config["strict"] is True
    jupyter = next(p["mkdocs-jupyter"] for p in config["plugins"] if isinstance(p, dict) and "mkdocs-jupyter" in p)
    assert jupyter["execute"] is True and jupyter["allow_errors"] is False  # default: executed, errors fail
    assert jupyter["include"] == ["notebooks/*.ipynb"]
    python = next(p["mkdocstrings"] for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    assert python["handlers"]["python"]["options"]["docstring_style"] == "numpy"


# ---- the Sphinx-role rewriting (docs/hooks/griffe_roles.py)
@pytest.fixture(scope="module")
def loaded():
    return {p: griffe.load(p, search_paths=[str(ROOT)]) for p in PACKAGES}


def test_roles_resolve_relative_to_the_docstring(loaded):
    highprec = loaded["asymptotics"]["highprec"]
    assert roles.rewrite(":func:`solve_hp`", highprec) == "[`solve_hp`][asymptotics.highprec.solve_hp]"
    assert roles.rewrite(":func:`~asymptotics.theory.e_icl`", highprec) == "[`e_icl`][asymptotics.theory.e_icl]"
    assert roles.rewrite(":func:`os.replace`", highprec) == "`os.replace`"  # not ours: not linked
    assert roles.rewrite(":func:`simulate._sizes.sizes`", highprec) == "`simulate._sizes.sizes`"  # private


@pytest.fixture
def role_warnings(monkeypatch):
    """The warnings the extension logs (collected directly: the mkdocs loggers may not propagate)."""
    messages = []
    monkeypatch.setattr(roles.logger, "warning", lambda msg, *args: messages.append(msg % args))
    return messages


def test_unresolved_role_is_reported(loaded, role_warnings):
    assert roles.rewrite(":func:`no_such_function`", loaded["simulate"]) == "`no_such_function`"
    assert len(role_warnings) == 1 and "no_such_function" in role_warnings[0]


def test_every_role_in_the_docstrings_resolves(loaded, role_warnings):
    """A misspelt reference fails here before it fails the strict build."""
    n = 0
    for package in loaded.values():
        for obj in roles._walk(package):
            if obj.docstring is not None:
                n += len(roles.ROLE.findall(obj.docstring.value))
                roles.rewrite(obj.docstring.value, obj)
    assert n > 50  # the docstrings do use roles; the extension has something to do
    assert role_warnings == []
