"""Stage b: the published book. It is built from the outputs stored in the pages
(`execute_notebooks: off`), which the pages stage (nbval) has just proven by executing
every page once. The build has zero warnings, every page of the table of contents is
there, notebook pages carry Colab and Binder/JupyterHub launch buttons, citations
resolve. A raising cell cannot reach the HTML: the pages stage fails on it (checked
here on a page that raises, with the pages stage's own options), and this stage refuses
stored outputs that hold an error or do not come from one top-to-bottom run."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import run_tests

ROOT = Path(__file__).resolve().parents[2]
JUPYTER_BOOK = str(Path(sys.executable).parent / "jupyter-book")
HTML = ROOT / "_build" / "html"


toc_files = run_tests.toc_files


def build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [JUPYTER_BOOK, "build", str(book), "-W", "-n", "--keep-going"], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def book_build():
    shutil.rmtree(ROOT / "_build" / "html", ignore_errors=True)
    shutil.rmtree(ROOT / "_build" / ".doctrees", ignore_errors=True)
    return build(ROOT)


def test_book_builds_with_zero_warnings(book_build):
    log = book_build.stdout + book_build.stderr
    assert book_build.returncode == 0, log[-5000:]
    # Sphinx's own warnings and errors ("path:line: WARNING: ..."); kernels' log lines
    # such as "[IPKernelApp] WARNING | ..." are not the book's.
    warnings = [line for line in log.splitlines() if "WARNING:" in line or "ERROR:" in line]
    assert not warnings, "\n".join(warnings[:20])


def test_every_page_of_the_toc_is_published(book_build):
    for page in toc_files():
        assert (HTML / f"{page}.html").is_file(), f"{page}.html missing from _build/html"


def test_notebook_pages_have_colab_and_binder_buttons(book_build):
    """Colab, and Binder (the public JupyterHub); both open the page's own notebook."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    slug = url.split("github.com/")[1].rstrip("/")
    for page in toc_files():
        if not (ROOT / f"{page}.ipynb").exists():
            continue
        html = (HTML / f"{page}.html").read_text()
        assert f"colab.research.google.com/github/{slug}/blob/main/{page}.ipynb" in html, page
        assert "mybinder.org/v2/gh/" in html, page


def test_chapter_figures_are_published(book_build):
    """Every chapter page shows the figures its code draws (a non-inline matplotlib backend would drop them)."""
    for page in toc_files():
        if page.startswith("book/") and (ROOT / f"{page}.ipynb").exists():
            html = (HTML / f"{page}.html").read_text()
            assert html.count("<img") >= 1 and "_images/" in html, f"{page} has no figure"


def test_maths_is_rendered_by_the_books_own_mathjax(book_build):
    """Every page with maths loads MathJax from _static (pinned by package-lock.json), never a CDN."""
    script = HTML / "_static" / "mathjax" / "es5" / "tex-mml-chtml.js"
    assert script.is_file() and any((script.parent / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    with_maths = 0
    for page in toc_files():
        html = (HTML / f"{page}.html").read_text()
        assert "cdn.jsdelivr.net" not in html and "mathjax@" not in html, f"{page} loads MathJax from a CDN"
        if "math notranslate" in html:
            with_maths += 1
            depth = page.count("/")
            assert f'src="{"../" * depth}_static/mathjax/es5/tex-mml-chtml.js' in html, page
    assert with_maths >= 8, f"only {with_maths} pages with maths: did the chapters lose their equations?"


def test_citations_resolve_to_the_bibliography(book_build):
    bib = (HTML / "book" / "bibliography.html").read_text()
    assert "Gradient-based learning applied to document recognition" in bib
    chapter = (HTML / "book" / "01_mlp_backprop.html").read_text()
    assert "bibliography.html#id" in chapter, "chapter 1 cites no paper"


def stored_output_problems(nb) -> list[str]:
    """Why the stored outputs of ``nb`` may not be published: error outputs, and code
    cells not executed in one top-to-bottom run (execution counts 1, 2, ..., n)."""
    problems = []
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i, cell in code:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i} stores an error: {out.get('ename')}: {out.get('evalue')}")
    counts = [c.get("execution_count") for _, c in code]
    if counts != list(range(1, len(counts) + 1)):
        problems.append(
            f"execution counts {counts} are not 1..{len(counts)}: execute the page top to bottom "
            "with tools/execute_notebook.py"
        )
    return problems


def test_the_pages_stage_proves_every_executed_page_of_the_book():
    """Every notebook of the table of contents is executed by the pages stage, except the
    student versions of the homework (published unexecuted: their stubs raise by design)."""
    published = {f"{p}.ipynb" for p in toc_files() if (ROOT / f"{p}.ipynb").exists()}
    unproven = {p for p in published - set(run_tests.pages()) if not p.startswith("exercises/")}
    assert not unproven, f"pages the pages stage does not execute: {sorted(unproven)}"


@pytest.mark.parametrize("page", run_tests.pages())
def test_stored_outputs_hold_no_error_and_come_from_one_run(page):
    problems = stored_output_problems(nbformat.read(ROOT / page, as_version=4))
    assert not problems, f"{page}: " + "; ".join(problems)


def raising_page(path: Path, stored: list) -> Path:
    cells = [
        nbformat.v4.new_markdown_cell("# Broken page"),
        nbformat.v4.new_code_cell("print(1 + 1)"),
        nbformat.v4.new_code_cell("raise RuntimeError('boom')"),
    ]
    cells[1].execution_count, cells[1].outputs = 1, [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    cells[2].execution_count, cells[2].outputs = 2, stored
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_raising_cell_fails_the_pages_stage(tmp_path):
    """A page whose cell raises, with the pages stage's own pytest options: the run fails
    and names the error, whether the stored output is empty or one that looks fine."""
    options = [a for a in run_tests.STAGES["pages"] if not a.endswith(".ipynb")]
    options = [a for a in options if a not in run_tests.PARALLEL]  # one page: no workers needed
    assert "--nbval" in options and "--nbval-lax" not in options
    pages = [
        raising_page(tmp_path / f"{name}.ipynb", stored)
        for name, stored in [
            ("empty", []),
            ("looks_fine", [nbformat.v4.new_output("stream", name="stdout", text="ok\n")]),
        ]
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rf", *options, *map(str, pages)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 1, log[-3000:]
    assert log.count("Cell execution caused an exception") >= 2 and "boom" in log, log[-3000:]
    assert "2 failed, 2 passed" in log, log[-3000:]


def test_stored_error_outputs_are_refused(tmp_path):
    """What the book stage refuses: a stored error (allow_errors or a hand-edited page)."""
    error = nbformat.v4.new_output("error", ename="RuntimeError", evalue="boom", traceback=[])
    nb = nbformat.read(raising_page(tmp_path / "broken.ipynb", [error]), as_version=4)
    assert any("RuntimeError: boom" in p for p in stored_output_problems(nb))
    nb.cells[2].outputs = []
    assert stored_output_problems(nb) == []
    nb.cells[2].execution_count = None
    assert any("execution counts" in p for p in stored_output_problems(nb))


def test_the_book_is_not_executed_at_build_time():
    """One execution per page: the pages stage's. The build only renders stored outputs."""
    execute = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]
    assert execute["execute_notebooks"] == "off"
    stages = list(run_tests.STAGES)
    assert stages.index("pages") < stages.index("book"), "the book must be built after its outputs are proven"
