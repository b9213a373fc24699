"""Stage a: the published book. It builds into _build/html with zero warnings,
every page of the table of contents is there, notebook pages carry Colab and
Binder/JupyterHub launch buttons, citations resolve, and a cell that raises fails
a build made with the same configuration."""
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
JUPYTER_BOOK = str(Path(sys.executable).parent / "jupyter-book")
HTML = ROOT / "_build" / "html"


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part["chapters"]]
    return files


def build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run([JUPYTER_BOOK, "build", str(book), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True)


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


def test_a_raising_cell_fails_the_build(tmp_path):
    """Same _config.yml, one page whose code raises: the build must fail."""
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")  # the MathJax it serves
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", tmp_path / "book" / "references.bib")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/broken\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Broken page"),
                                         nbformat.v4.new_code_cell("raise RuntimeError('boom')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "book" / "broken.ipynb")
    done = build(tmp_path)
    assert done.returncode != 0, "a page whose cell raises was published without failing the build"
    log = done.stdout + done.stderr
    assert "boom" in log, log[-3000:]
