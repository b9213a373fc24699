"""The browser stage: the book and the student's JupyterLab flow, in a real browser.

Headless Chromium from Debian's package (/usr/bin/chromium, installed by `make setup`),
driven by Playwright; no browser is downloaded at run time.

The book (``_build/html``, built by the book stage or `make book`), served on 127.0.0.1,
page by page: no JavaScript error, every formula typeset by the book's own MathJax and no
raw TeX left in the text, every image loaded, Colab and Binder launch buttons for the
repository of ``_config.yml``, and the search page finding a word that only one chapter has.

The student flow: JupyterLab from .venv on 127.0.0.1 (free port, token) over a temporary
folder holding a copy of exercises/hw1_mlp; homework 1 opened, Run > Run All Cells, the
nbgrader *Validate* button pressed and its dialog read. The untouched stubs must be reported
failing; a copy whose solution cells hold the code of solutions/hw1_mlp (matched by nbgrader
grade_id) must be reported passing. A screenshot of each dialog is kept in _build/browser/.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import run_tests

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
ARTIFACTS = ROOT / "_build" / "browser"
CHROMIUM = "/usr/bin/chromium"
# The flags a browser needs on a machine without a display, GPU or open network: without
# the background-networking ones Chromium keeps trying (and failing) to reach Google.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 60_000  # one book page: load, typeset, images
VALIDATE_TIMEOUT_MS = 300_000  # nbgrader validate re-runs the whole homework server-side
RUN_ALL_TIMEOUT_MS = 300_000
RAW_TEX = ["$$", "\\(", "\\)", "\\[", "\\]", "\\begin{"]
# Console messages of the book's theme stack that a reader's browser shows on every build of a
# Jupyter Book 1 site and that change nothing on the page; any other error fails the test.
KNOWN_HARMLESS_ERRORS = {
    # sphinx-thebe 0.3.1 under Sphinx 7.4 writes its inline config <script> twice; the second copy
    # cannot redeclare the const. Thebe (live code in the page) is not enabled in _config.yml.
    "uncaught: Identifier 'THEBE_JS_URL' has already been declared": "sphinx-thebe's config script is included twice",
    # pydata-sphinx-theme on a visitor's first page (nothing in localStorage yet): it logs this and
    # falls back to the "auto" light/dark mode, which is what it should do.
    "console: Got invalid theme mode: . Resetting to auto.": "theme mode on a first visit",
}


# ---------------------------------------------------------------- the book's pages
def page_label(page: str) -> str:
    """How a reader names the page: "chapter 4", "homework 1", or the file name."""
    name = Path(page).name
    if page.startswith("book/") and name[:2].isdigit():
        return f"chapter {int(name[:2])}"
    match = re.match(r"hw(\d+)_", name)
    if page.startswith("exercises/") and match:
        return f"homework {match.group(1)}"
    return name


def source_text(page: str) -> str:
    """All the text of a page's source (markdown and code cells, stored outputs), lower case."""
    path = ROOT / f"{page}.ipynb"
    if not path.exists():
        path = ROOT / f"{page}.md"
    return path.read_text(encoding="utf-8").lower()


def prose_words(page: str) -> set[str]:
    """Words of a page's markdown cells outside maths, code and links."""
    nb = nbformat.read(ROOT / f"{page}.ipynb", as_version=4)
    words = set()
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\]\([^)]*\)|\{[^}]*\}", " ", cell.source, flags=re.S)
        words |= {w.lower() for w in re.findall(r"\b[A-Za-z]{8,}\b", text)}
    return words


def unique_search_term() -> tuple[str, str]:
    """A word of one chapter's prose whose search stem (Sphinx stems both the index and the
    query) occurs in no other page of the book, not even inside a longer word."""
    from sphinx.search.en import SearchEnglish

    stem = SearchEnglish({}).stem
    pages = run_tests.toc_files()
    texts = {page: source_text(page) for page in pages}
    for page in pages:
        if not (page_label(page).startswith("chapter ") and (ROOT / f"{page}.ipynb").exists()):
            continue
        for word in sorted(prose_words(page)):
            root = stem(word)
            if len(root) >= 6 and not any(root in text for other, text in texts.items() if other != page):
                return word, page
    raise AssertionError("no chapter has a word of its own: cannot test the search page")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports what matters; no access log on stderr
        pass


@pytest.fixture(scope="module")
def book_url():
    """_build/html served on 127.0.0.1 (search needs http://, not file://)."""
    if not (HTML / "index.html").is_file() or not (HTML / "searchindex.js").is_file():
        pytest.fail(
            "_build/html is missing: the browser stage checks the built book; run "
            "`make book` (or the book stage, `python tools/run_tests.py book browser`) first"
        )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium, headless, with a fresh profile; one context for the module."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (tools/install_system_packages.sh)"
        )
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # screenshots of this run only
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        yield context
        context.close()


def open_page(context, url: str):
    """A new tab at url, with the JavaScript errors it reports collected in page.js_errors."""
    page = context.new_page()
    errors: list[str] = []

    def console(msg):
        # Chromium asks every site for /favicon.ico; the book has none, which is no page error.
        where = msg.location.get("url", "")
        if msg.type == "error" and not where.endswith("/favicon.ico"):
            errors.append(f"console: {msg.text}" + (f" ({where})" if "Failed to load" in msg.text else ""))

    def uncaught(exc):
        errors.append(f"uncaught: {exc}")

    page.on("console", lambda msg: console(msg) if f"console: {msg.text}" not in KNOWN_HARMLESS_ERRORS else None)
    page.on("pageerror", lambda exc: uncaught(exc) if f"uncaught: {exc}" not in KNOWN_HARMLESS_ERRORS else None)
    page.js_errors = errors
    page.goto(url, wait_until="load")
    return page


# Everything a reader sees on a page, gathered once it has loaded: MathJax done (when the
# page has maths), lazy images forced to load and awaited.
INSPECT_JS = """
async () => {
  const within = (promise, ms) => Promise.race([promise, new Promise(r => setTimeout(() => r('timeout'), ms))]);
  const maths = [...document.querySelectorAll('.math')];
  let mathjax = null;
  if (maths.length) {
    const t0 = Date.now();
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() - t0 < 30000)
      await new Promise(r => setTimeout(r, 100));
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      if (await within(MathJax.startup.promise.then(() => 'done'), 60000) === 'done')
        mathjax = MathJax.version;
    }
  }
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await within(Promise.all(imgs.map(i => (i.complete ? i.decode().catch(() => null) :
    new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })))), 30000);
  const article = document.querySelector('article') || document.querySelector('main') || document.body;
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .cell_output').forEach(e => e.remove());
  const text = clone.textContent;
  return {
    mathjax,
    mathjaxScript: [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s)),
    maths: maths.length,
    unrendered: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.trim().slice(0, 80)),
    merrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    text,
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  };
}
"""


def raw_tex_snippets(text: str) -> list[str]:
    """TeX a reader would see as source: display or inline delimiters, or $...\\command...$."""
    found = []
    for marker in RAW_TEX:
        start = 0
        while (at := text.find(marker, start)) >= 0:
            found.append(" ".join(text[max(0, at - 30) : at + 40].split()))
            start = at + len(marker)
    found += [" ".join(m.group(0).split()) for m in re.finditer(r"\$[^$\n]{0,60}\\[A-Za-z]+[^$\n]{0,60}\$", text)]
    return found


def repository() -> tuple[str, str]:
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    slug = repo["url"].split("github.com/")[1].strip("/")
    return slug, repo.get("branch", "main")


@pytest.mark.parametrize("page", run_tests.toc_files())
def test_book_page_as_a_reader_sees_it(browser, book_url, page):
    label = page_label(page)
    tab = open_page(browser, f"{book_url}/{page}.html")
    try:
        seen = tab.evaluate(INSPECT_JS)
        problems = []
        if tab.js_errors:
            problems.append(f"{label}: {len(tab.js_errors)} JavaScript error(s): " + "; ".join(tab.js_errors[:5]))
        if seen["maths"]:
            if seen["mathjax"] is None:
                problems.append(
                    f"{label}: MathJax did not start or finish within a minute; "
                    f"{len(seen['unrendered'])} of {seen['maths']} formulas not rendered"
                )
            elif not all(src.startswith(f"{book_url}/_static/") for src in seen["mathjaxScript"]):
                problems.append(f"{label}: MathJax loaded from {seen['mathjaxScript']}, not the book's _static")
            if seen["unrendered"]:
                problems.append(
                    f"{label}: {len(seen['unrendered'])} of {seen['maths']} formulas not rendered, "
                    f"e.g. {seen['unrendered'][:3]}"
                )
            if seen["merrors"]:
                problems.append(
                    f"{label}: {len(seen['merrors'])} formulas show a TeX error, e.g. {seen['merrors'][:3]}"
                )
        raw = raw_tex_snippets(seen["text"])
        if raw:
            problems.append(f"{label}: raw TeX left in the text ({len(raw)}), e.g. {raw[:3]}")
        if seen["broken"]:
            problems.append(
                f"{label}: {len(seen['broken'])} of {seen['images']} images did not load: {seen['broken'][:5]}"
            )
        if (ROOT / f"{page}.ipynb").exists():
            slug, branch = repository()
            colab = f"https://colab.research.google.com/github/{slug}/blob/{branch}/{page}.ipynb"
            binder = f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath="
            if colab not in seen["links"]:
                problems.append(f"{label}: no Colab launch button for {colab}")
            if not any(link.startswith(binder) and link.endswith(f"{page}.ipynb") for link in seen["links"]):
                problems.append(f"{label}: no Binder launch button for {binder}...{page}.ipynb")
            elif tab.locator(".dropdown-launch-buttons button").count() == 0:
                problems.append(f"{label}: no launch menu in the page header")
            else:
                # The buttons sit in the "launch" drop-down of the page header: open it as a reader does.
                tab.locator(".dropdown-launch-buttons button").first.click()
                colab_button = tab.locator(f'.dropdown-launch-buttons a[href="{colab}"]')
                if not colab_button.is_visible():
                    problems.append(f"{label}: the launch menu opened without a visible Colab button")
        if problems:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"page-{page.replace('/', '-')}.png"), full_page=False)
        assert not problems, "\n".join(problems)
        if page.startswith("book/") and page[5:7].isdigit():
            assert seen["images"] >= 1, f"{label}: no figure on the page"
    finally:
        tab.close()


def test_search_finds_a_word_only_one_chapter_has(browser, book_url):
    term, page = unique_search_term()
    tab = open_page(browser, f"{book_url}/search.html?q={term}")
    try:
        status = tab.locator("#search-results .search-summary")
        status.filter(has_text=re.compile("Search finished|did not match")).wait_for()
        hits = [
            href.split("?")[0].split("#")[0]
            for href in tab.locator("#search-results ul.search li a").evaluate_all("as => as.map(a => a.href)")
        ]
        hits = sorted({h[len(book_url) + 1 :] for h in hits})
        assert tab.js_errors == [], f"search page: JavaScript errors {tab.js_errors[:5]}"
        assert hits == [f"{page}.html"], (
            f"searching for {term!r}, only in {page_label(page)}, "
            f"the search page said {status.inner_text()!r} and listed {hits}"
        )
    finally:
        tab.close()


# ------------------------------------------------------------- the student's JupyterLab
def fill_in_solutions(student: Path, solution: Path) -> int:
    """Put the solution code (markers dropped) into the student's solution cells, by grade_id."""
    solved = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(solution, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.read(student, as_version=4)
    filled = 0
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in solved:
            cell.source = "\n".join(
                line
                for line in solved[grade_id].splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            )
            filled += 1
    nbformat.write(nb, student)
    return filled


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab from .venv on 127.0.0.1 over a folder with the stubs and a solved copy."""
    home = tmp_path_factory.mktemp("jupyterlab")
    work = home / "work"
    shutil.copytree(ROOT / "exercises" / "hw1_mlp", work / "hw1_mlp")
    shutil.copytree(ROOT / "exercises" / "hw1_mlp", work / "hw1_mlp_solved")
    filled = fill_in_solutions(
        work / "hw1_mlp_solved" / "hw1_mlp.ipynb", ROOT / "solutions" / "hw1_mlp" / "hw1_mlp.ipynb"
    )
    assert filled >= 7, f"only {filled} solution cells of hw1 matched solutions/ by grade_id"
    token = secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        PYTHONPATH=str(ROOT),
    )
    env.pop("MPLBACKEND", None)
    # nbgrader's Validate gives each cell 30 s by default; homework 1's MNIST check takes most of
    # that on 2 idle cores and more on a loaded machine: the test gives it room (its result, not
    # its speed, is checked here). The news prompt of JupyterLab is turned off so screenshots show the dialog.
    (home / "config").mkdir()
    (home / "config" / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 600\n")
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    log = open(home / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            "--port=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = None
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited at start (code {server.returncode}):\n"
                    + (home / "jupyterlab.log").read_text()[-3000:]
                )
            # Port 0: the system picks a free port, which the server writes into its runtime file.
            for info in (home / "runtime").glob("jpserver-*.json") if base is None else []:
                try:
                    base = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
                except (ValueError, KeyError):
                    pass  # the file is being written
            if base is not None:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                        if reply.status == 200:
                            break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 120 s:\n" + (home / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield {"base": base, "token": token, "work": work, "log": home / "jupyterlab.log"}
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


NOTEBOOK_STATE_JS = """
() => {
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
  const errors = [...document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.textContent).filter(t => /Error|Traceback/.test(t)).map(t => t.trim().split('\\n').slice(-1)[0].slice(0, 200));
  return {prompts, errors};
}
"""  # noqa: E501 - JavaScript for the browser


def run_all_and_validate(context, lab: dict, folder: str, shot: str) -> dict:
    """Open folder/hw1_mlp.ipynb in JupyterLab, Run All Cells, press Validate, read the dialog."""
    # A workspace of its own: JupyterLab would otherwise reopen the tabs of the previous test.
    tab = open_page(context, f"{lab['base']}/lab/workspaces/{folder}/tree/{folder}/hw1_mlp.ipynb?token={lab['token']}")
    try:
        tab.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
        tab.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
            timeout=120_000
        )
        # Menu commands act on the current widget: click into the notebook first, as a person does.
        tab.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell .jp-InputPrompt").first.click()
        tab.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        tab.locator(
            ".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")
        ).click()
        # Run All queues every cell at once ([*]); it is over when no cell waits and the kernel is idle.
        prompts = (
            "[...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')].map(e => e.textContent)"
        )
        # It has started once a cell waits ([*]) or has run ([1]): a fast run can end between two looks.
        tab.wait_for_function(f"() => {prompts}.some(t => t.includes('*') || /\\[\\d+\\]/.test(t))", timeout=60_000)
        tab.wait_for_function(
            f"""() => !{prompts}.some(t => t.includes('*')) && {prompts}.some(t => /\\[\\d+\\]/.test(t))
                     && document.querySelector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']")""",  # noqa: E501 - JavaScript
            timeout=RUN_ALL_TIMEOUT_MS,
        )
        state = tab.evaluate(NOTEBOOK_STATE_JS)
        tab.locator(".validate-button button, button.validate-button").first.click()
        dialog = tab.locator(".jp-Dialog-content")
        dialog.wait_for(timeout=VALIDATE_TIMEOUT_MS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / shot))
        state["title"] = dialog.locator(".jp-Dialog-header").inner_text().strip()
        state["body"] = dialog.locator(".jp-Dialog-body").inner_text().strip()
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        state["js_errors"] = tab.js_errors
        return state
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / shot.replace(".png", "-FAILED.png")))
        raise
    finally:
        tab.close()


def summary(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


def test_hw1_stubs_validate_reports_failing_tests(browser, jupyterlab):
    seen = run_all_and_validate(browser, jupyterlab, "hw1_mlp", "hw1-validate-stubs.png")
    assert any("NotImplementedError" in e for e in seen["errors"]), (
        f"hw1 (stubs): Run All Cells showed no NotImplementedError; errors shown: {seen['errors'][:3]}"
    )
    assert seen["title"] == "Validation Results", (
        f"hw1 (stubs): the Validate dialog said {seen['title']!r}: {summary(seen['body'])}"
    )
    assert "The following cell failed:" in seen["body"] and "Success!" not in seen["body"], (
        f"hw1 (stubs): the Validate dialog said {summary(seen['body'])!r}, not that tests failed"
    )
    assert "NotImplementedError" in seen["body"], f"hw1 (stubs): the Validate dialog said {summary(seen['body'])!r}"
    assert seen["js_errors"] == [], f"hw1 (stubs): JupyterLab had JavaScript errors: {seen['js_errors'][:5]}"


def test_hw1_solutions_validate_reports_success(browser, jupyterlab):
    seen = run_all_and_validate(browser, jupyterlab, "hw1_mlp_solved", "hw1-validate-solutions.png")
    assert seen["errors"] == [], f"hw1 (solutions): Run All Cells showed errors: {seen['errors'][:3]}"
    not_run = [i for i, prompt in enumerate(seen["prompts"]) if not re.search(r"\[\d+\]", prompt)]
    assert not not_run, (
        f"hw1 (solutions): after Run All Cells, code cells {not_run} (of {len(seen['prompts'])}) had not run"
    )
    assert seen["title"] == "Validation Results", (
        f"hw1 (solutions): the Validate dialog said {seen['title']!r}: {summary(seen['body'])}"
    )
    assert "Success! Your notebook passes all the tests." in seen["body"], (
        f"hw1 (solutions): the Validate dialog said {summary(seen['body'])!r}"
    )
    assert seen["js_errors"] == [], f"hw1 (solutions): JupyterLab had JavaScript errors: {seen['js_errors'][:5]}"
