# The two commands of the README:
#   make book   set up .venv and build the HTML book into _build/html (from the stored outputs)
#   make test   set up .venv and run every test stage (see tools/run_tests.py)
# and, for whoever changes the code, the seconds-long gate that CI runs first:
#   make check  ruff (lint and format) and mypy on autograder/, coursekit/, tools/, tests/
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
MATHJAX := node_modules/mathjax/es5/tex-mml-chtml.js
CHROMIUM := /usr/bin/chromium
BWRAP    := /usr/bin/bwrap

.PHONY: setup book test check release student-edition lock clean

setup: $(STAMP) $(FASHION) $(MATHJAX) $(CHROMIUM) $(BWRAP)

# MathJax for the HTML book, pinned in package-lock.json (see _config.yml).
$(MATHJAX): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make setup needs npm (Node.js) to fetch MathJax for the book: apt-get install npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(MATHJAX)

# Debian packages: Fashion-MNIST, Chromium and ChromeDriver (browser stage), bubblewrap (the
# grader's sandbox); one script installs whichever is missing: tools/install_system_packages.sh.
$(FASHION):
	sh tools/install_system_packages.sh

$(CHROMIUM):
	sh tools/install_system_packages.sh

$(BWRAP):
	sh tools/install_system_packages.sh

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	touch $(STAMP)

book: setup
	env -u MPLBACKEND PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build . -W -n --keep-going

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/run_tests.py

# The quality gate, configured in pyproject.toml ([tool.ruff], [tool.mypy]); `ruff format` and
# `ruff check --fix` repair most of what it finds.
check: setup
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy

# Regenerate exercises/ from solutions/ (nbgrader generate_assignment).
release: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m autograder release --all

# What students clone: the book, exercises/, the course package, no solution or hidden test
# (tools/student_edition.py; it fails if a line of a solution or hidden test is found in it).
student-edition: setup
	@test -n "$(DIR)" || { echo "usage: make student-edition DIR=path/to/new/folder"; exit 2; }
	$(BIN)/python tools/student_edition.py $(DIR)

# Re-pin requirements/constraints.txt from the current .venv.
lock: setup
	$(BIN)/python tools/lock.py

clean:
	rm -rf _build
