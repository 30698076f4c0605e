"""The built documentation site, opened in a real headless Chromium (marker ``browser``).

Not part of the default run (``-m 'not slow and not browser'`` in pyproject.toml): it needs the
built site and Debian's ``chromium`` and ``chromium-driver``. CI runs it after the docs build::

    sphinx-build -W --keep-going -d build/doctrees docs build/site
    python -m pytest -m browser tests/test_site_browser.py

The site is served on 127.0.0.1 by ``http.server`` from this test (a random free port). Chromium
runs headless with a fresh profile, background networking off, every non-loopback request sent
to a proxy on a closed local port (so nothing can leave the machine), and every request it makes
recorded through the DevTools performance log. Checked on every page: each formula that Sphinx
wrote is typeset by MathJax (the count of rendered ``mjx-container`` equals the count of maths
in the HTML), no raw TeX is left in the text, the page does not overflow sideways (long
equations scroll inside their box), and no request goes anywhere but the local server.
Checked on named pages: maths present (derived formulas, THEORY, a notebook), lists rendered as
lists. Checked on the HTML files: every same-site link's ``#anchor`` exists in its target.

Set ``DOCS_SITE`` to check a site built elsewhere; ``SITE_CHECK_REPORT`` to write the counts
(per page: maths, requests) as JSON.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("DOCS_SITE", ROOT / "build" / "site"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
LOAD_TIMEOUT = 60  # seconds for one page and its maths; a page typesets in about 1 s on 2 cores

# Pages whose maths the issue named, and the text of a list item each must show as a list item.
MATH_PAGES = ["generated/formulas.html", "THEORY.html", "generated/notebooks/01_quickstart.html"]
LIST_ITEMS = {
    "index.html": "Accuracy: every spectral average",  # README "Conventions that hold everywhere"
    "cli.html": "Output.",  # docs/cli.md "Conventions"
    "THEORY.html": "Stieltjes transform (paper).",  # THEORY section 4
    "generated/api/asymptotics/theory.html": "ridgeless tau = 1",  # the docstring "Singular points"
}


def _pages() -> list[str]:
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html")
                  if not p.relative_to(SITE).parts[0].startswith(("_", ".")))


@pytest.fixture(scope="module")
def site() -> Path:
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run `sphinx-build -W --keep-going -d build/doctrees docs build/site` first")
    return SITE


@pytest.fixture(scope="module")
def server(site):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:  # selected on purpose (-m browser): a missing tool fails, it does not skip
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[browser]'")

    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.fail(f"{path} not found: apt-get install chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-extensions", "--no-first-run",
                "--disable-domain-reliability", "--disable-client-side-phishing-detection",
                "--metrics-recording-only", "--no-default-browser-check", "--window-size=1280,900",
                # Any request that is not to loopback goes to a closed local port: it fails here
                # instead of leaving the machine, and the performance log below still records it.
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>;127.0.0.1",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(LOAD_TIMEOUT)
    driver.set_script_timeout(LOAD_TIMEOUT)
    yield driver
    driver.quit()


def _requests(driver) -> list[str]:
    """URLs of every request since the last call (DevTools ``Network.requestWillBeSent``)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


# After MathJax has typeset the page: the maths Sphinx wrote (span.math / div.math, and MyST-NB's
# notebook maths), the rendered containers, the page's overflow, and the text outside code.
_INSPECT = """
const done = arguments[arguments.length - 1];
const report = () => {
  const written = document.querySelectorAll('.math').length;
  const rendered = document.querySelectorAll('.math mjx-container').length;
  const content = document.querySelector('article[role="main"]') || document.querySelector('main') || document.body;
  const clone = content.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  document.body.appendChild(clone); clone.style.position = 'absolute'; clone.style.left = '-99999px';
  const text = clone.innerText; clone.remove();
  const items = Array.from(content.querySelectorAll('li')).map(li => li.innerText);
  const paragraphs = Array.from(content.querySelectorAll('p')).map(p => p.innerText);
  done({written, rendered, text, items, paragraphs,
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        mathjax: !!(window.MathJax && window.MathJax.startup)});
};
if (document.querySelectorAll('.math').length === 0) { report(); }
else {
  const start = Date.now();
  const wait = () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) { MathJax.startup.promise.then(report); }
    else if (Date.now() - start > 50000) { report(); }
    else { setTimeout(wait, 50); }
  };
  wait();
}
"""

_RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\s][^$]*\$|\\begin\{|\\frac|\\left")


@pytest.fixture(scope="module")
def visited(site, server, browser):
    """Every page of the site, opened once: page -> what it showed, and the requests it made."""
    browser.get("about:blank")
    _requests(browser)  # drop what the browser did before the first page (its own start page)
    out = {}
    for page in _pages():
        browser.get(urljoin(server, page))
        seen = browser.execute_async_script(_INSPECT)
        seen["requests"] = _requests(browser)
        out[page] = seen
    if os.environ.get("SITE_CHECK_REPORT"):
        summary = {p: {"math_written": s["written"], "math_rendered": s["rendered"],
                       "requests": len(s["requests"]),
                       "external": [u for u in s["requests"] if not _local(u, server)]}
                   for p, s in out.items()}
        Path(os.environ["SITE_CHECK_REPORT"]).write_text(json.dumps(summary, indent=1))
    return out


def _local(url: str, server: str) -> bool:
    """A request that stays on this machine: to the local server, or inline / browser-internal."""
    return url.startswith(server) or url.split(":", 1)[0] in ("data", "blob", "about", "chrome")


def test_no_request_leaves_the_machine(visited, server):
    total = sum(len(s["requests"]) for s in visited.values())
    assert total >= len(visited)  # the log works: at least each page itself was requested
    external = {p: [u for u in s["requests"] if not _local(u, server)] for p, s in visited.items()}
    assert {p: u for p, u in external.items() if u} == {}


def test_every_formula_is_typeset(visited):
    for page, seen in visited.items():
        assert seen["rendered"] == seen["written"], f"{page}: {seen['rendered']} of {seen['written']} maths typeset"
        if seen["written"]:
            assert seen["mathjax"], page


@pytest.mark.parametrize("page", MATH_PAGES)
def test_maths_on_the_named_pages(visited, page):
    seen = visited[page]
    assert seen["written"] > 0 and seen["rendered"] == seen["written"]


def test_no_raw_tex_left_in_the_text(visited):
    for page, seen in visited.items():
        m = _RAW_TEX.search(seen["text"])
        assert m is None, f"{page}: raw TeX {seen['text'][max(0, m.start() - 60):m.end() + 60]!r}"


def test_nothing_runs_off_the_page_sideways(visited):
    for page, seen in visited.items():
        assert seen["overflow"] <= 0, f"{page} is {seen['overflow']} px wider than the window"


@pytest.mark.parametrize("page", sorted(LIST_ITEMS))
def test_lists_are_lists(visited, page):
    seen, text = visited[page], LIST_ITEMS[page]
    assert any(item.strip().startswith(text) for item in seen["items"]), f"{page}: no list item {text!r}"
    runon = [p for p in seen["paragraphs"] if re.search(r"[:.]\s+- \S", p)]
    assert runon == [], f"{page}: a list rendered as run-on text: {runon[0][:120]!r}"


class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def test_every_anchor_link_lands(site):
    """Every same-site link with a ``#fragment`` (tables of contents included) names an id that
    exists in its target page."""
    parsed = {}
    for path in site.rglob("*.html"):
        p = _Anchors()
        p.feed(path.read_text(errors="replace"))
        parsed[path.resolve()] = p
    broken, checked = [], 0
    for path, p in parsed.items():
        for href in p.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.fragment:
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target not in parsed:
                continue
            checked += 1
            if unquote(parts.fragment) not in parsed[target].ids:
                broken.append(f"{path.relative_to(site.resolve())}: {href}")
    assert checked > 100  # the check did look at the tables of contents
    assert broken == []
