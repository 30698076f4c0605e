"""Sphinx configuration of the site: ``sphinx-build -W --keep-going -d build/doctrees docs build/site``.

Needs the docs extra (``pip install -e '.[docs]'``), which also brings what the notebooks import.

Why this stack (decided for issue 17; it replaced MkDocs Material, which announced its end of life
for May 2027): Sphinx with MyST-Parser and MyST-NB is the documentation stack of the scientific
Python projects we build on (NumPy, SciPy, JAX, matplotlib), maintained by their communities,
and it does natively what the MkDocs site did with hand-written glue: the docstrings' Sphinx roles
(``:func:``) are cross-references (numpydoc reads the numpy-style sections; one small
``missing-reference`` handler in ``site_pages`` sends a name a package re-exports, such as
``simulate.run``, to the module that defines it), autodoc
and autosummary write the API reference, intersphinx links other projects' objects, MyST-NB
executes the notebooks and caches their outputs, and the Markdown pages of ``docs/`` and the
``.ipynb`` notebooks stay as they are. The theme, Furo, is maintained, light, and shows the whole
navigation (with its sections) in the sidebar, which suits a site of a few dozen pages.

Offline by construction: the maths is typeset by MathJax 3 served from the site itself
(``_static/mathjax``, copied at build time from the ``django-static-mathjax`` wheel, which ships
MathJax 3.2.2; SVG output, so no font is fetched), the theme uses the system's fonts and its own
icons (inline SVG), and intersphinx reads only inventories stored in ``docs/_inventories`` (the build
fetches nothing, so it also works on a machine without network). ``tests/test_site_browser.py``
opens the built site in headless Chromium and fails on any request that leaves the machine.
"""
from __future__ import annotations

import hashlib
import os
import sys
from importlib import metadata
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(DOCS / "_ext"), str(ROOT)]

project = "icl-asymptotics"
author = "icl-asymptotics developers"
copyright = "the icl-asymptotics developers (MIT licence)"
release = version = metadata.version("icl-asymptotics")

extensions = [
    "myst_nb",  # Markdown (MyST) pages and executed notebooks
    "numpydoc",  # numpy-style docstring sections
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "site_pages",  # docs/_ext/site_pages.py: the pages generated from the code
]
root_doc = "index"
exclude_patterns = ["_build", "_ext", "_inventories", "**/.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# Warnings are errors (-W on the command line); a reference that does not resolve is a warning.
nitpicky = True
# Names in signatures and docstrings that belong to other projects: shown, not linked, unless an
# inventory of that project is stored in docs/_inventories (see intersphinx_mapping below).
nitpick_ignore_regex = [(r"py:.*", r"(np|numpy|scipy|mpmath|sympy|matplotlib|pandas|dask|joblib|jax|"
                                   r"jaxlib|equinox|eqx|optax|os|pathlib|typing|collections|argparse|"
                                   r"concurrent|numbers|threadpoolctl)(\..*)?"),
                        # private names (simulate._sizes): shown as code, as they have no page
                        (r"py:.*", r"(.*\.)?_[a-z][\w.]*")]

# ---- API reference (autodoc + numpydoc)
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False  # the API pages are written by site_pages, not by autosummary
numpydoc_show_class_members = False  # autodoc lists the members already
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# ---- intersphinx: stored inventories only (no request at build time)
INVENTORY_URLS = {
    "python": "https://docs.python.org/3.11/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "matplotlib": "https://matplotlib.org/stable/",
    "jax": "https://docs.jax.dev/en/latest/",
    "equinox": "https://docs.kidger.site/equinox/",
}
intersphinx_mapping = {name: (url, str(DOCS / "_inventories" / f"{name}.inv"))
                       for name, url in INVENTORY_URLS.items()
                       if (DOCS / "_inventories" / f"{name}.inv").exists()}

# ---- MyST and the notebooks
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True


def _code_digest() -> str:
    """A digest of the package sources: a notebook's cached outputs are reused only while neither
    the notebook (jupyter-cache's own key) nor the code it runs has changed."""
    h = hashlib.sha256()
    for package in ("asymptotics", "simulate", "icl_asymptotics"):
        for path in sorted((ROOT / package).rglob("*.py")):
            h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


nb_execution_mode = os.environ.get("DOCS_EXECUTE_NOTEBOOKS", "cache")  # "off": a quick look while editing
nb_execution_cache_path = str(ROOT / "build" / "jupyter_cache" / _code_digest())
nb_execution_raise_on_error = True  # a cell that raises fails the build
nb_execution_timeout = 900
nb_merge_streams = True

# ---- HTML
html_theme = "furo"
html_title = f"icl-asymptotics {release}"
html_static_path = ["_static"]
html_css_files = ["extra.css"]
html_show_sourcelink = False
html_copy_source = False

# MathJax 3 from the django-static-mathjax wheel, copied into the site (see the module docstring).
mathjax_path = "mathjax/tex-svg.js"
mathjax3_config = {"tex": {"processEscapes": True}, "svg": {"fontCache": "global"}}


def _copy_mathjax(app, exc):
    if exc is not None or app.builder.format != "html":
        return
    import shutil

    import mathjax  # the django-static-mathjax distribution

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    dest = Path(app.outdir) / "_static" / "mathjax"
    # tex-svg.js (TeX input, SVG output: no web font) and the TeX extensions it may load.
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / "tex-svg.js", dest / "tex-svg.js")
    shutil.copytree(es5 / "input" / "tex" / "extensions", dest / "input" / "tex" / "extensions", dirs_exist_ok=True)


def setup(app):
    app.connect("build-finished", _copy_mathjax)
