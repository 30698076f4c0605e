"""The layers point one way (docs/ARCHITECTURE.md), checked two ways: statically by import-linter's
contracts in pyproject.toml, and at run time by what a fresh interpreter has loaded after an import."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_linter_contracts_kept():
    from importlinter.cli import lint_imports

    cwd = os.getcwd()
    os.chdir(ROOT)  # the contracts live in pyproject.toml at the root
    try:
        assert lint_imports(config_filename=os.path.join(ROOT, "pyproject.toml")) == 0
    finally:
        os.chdir(cwd)


def _loaded_after(statement: str) -> set:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, check=True).stdout
    return {m.split(".")[0] for m in json.loads(out)}


@pytest.mark.parametrize("statement, forbidden", [
    ("import asymptotics", {"simulate", "icl_asymptotics", "matplotlib", "sympy", "pandas", "dask",
                            "distributed", "joblib", "mpmath"}),
    ("import simulate", {"icl_asymptotics", "matplotlib", "sympy", "pandas", "dask", "distributed",
                         "joblib"}),
    ("import icl_asymptotics", {"matplotlib", "sympy", "pandas", "dask"}),
])
def test_import_loads_nothing_from_above_or_heavy(statement, forbidden):
    loaded = _loaded_after(statement)
    assert not loaded & forbidden, f"{statement} loaded {sorted(loaded & forbidden)}"


def test_symbolic_and_highprec_load_their_engines_only_when_imported():
    assert "sympy" in _loaded_after("import asymptotics.symbolic")
    assert "mpmath" in _loaded_after("import asymptotics.highprec")


def test_plot_chooses_no_backend_on_import():
    code = ("import matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
            "import icl_asymptotics.plot; "
            "assert matplotlib.rcParams._get_backend_or_none() == before, 'backend changed'")
    # headless, no MPLBACKEND: the situation in which the old plot module switched to Agg
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120, check=True, env=env)
