# Scale-Invariance and Inversion: build and test.
#
#   make test       lint of the publishing workflow, unit, property and doctests of companion,
#                   then every notebook in book/ (nbval)
#   make book       execute every notebook and build the HTML book with warnings as errors
#   make clean      remove build output and caches (keeps .venv)
#   make distclean  clean, and remove .venv
#
# Only Python 3.11 and make are needed: the first run creates .venv from
# requirements.txt and re-installs whenever requirements.txt or pyproject.toml change.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Notebook kernels must keep matplotlib's inline backend: with MPLBACKEND=Agg inherited
# from the environment, plt.show() outputs nothing, nbval fails on every stored figure and
# the book silently loses its figures. Only the plain pytest stage sets Agg.
unexport MPLBACKEND

# One BLAS thread: the course's matrices are small, where threads only add overhead and,
# on a busy 2-core machine, slow a 50x50 solve down a hundredfold; it also fixes the order
# of floating-point sums, so stored outputs are reproduced bit for bit.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Flags of `jupyter-book build`: rebuild all pages, warnings are errors (-W), nitpicky
# cross-references (-n), report every warning before failing (--keep-going).
JB_FLAGS ?= --all -W -n --keep-going

# nbval compares stored outputs strictly; sanitising regexes are optional.
NBVAL_SANITIZE := $(wildcard tests/nbval_sanitize.cfg)
NBVAL_FLAGS    := --nbval --nbval-current-env -p no:cacheprovider \
                  $(if $(NBVAL_SANITIZE),--nbval-sanitize-with $(NBVAL_SANITIZE))

# The notebooks run in parallel, one kernel per core, a whole notebook per worker (its
# cells depend on each other): pytest-xdist with --dist loadfile. NBVAL_PARALLEL= runs them
# one after the other.
NBVAL_PARALLEL ?= -n $(shell nproc 2>/dev/null || echo 2) --dist loadfile

.PHONY: help venv test book clean distclean

# Further targets (check-html, bench, check-determinism, test-oldest, ...) live in
# mk/*.mk, one file per concern, and can use VENV, BIN, STAMP and PYTHON from here.
-include $(sort $(wildcard mk/*.mk))

help:
	@echo "make test       run the tests of companion and every notebook in book/"
	@echo "make book       build the book into _build/html (notebooks executed, warnings are errors)"
	@echo "make clean      remove _build and caches;  make distclean  also removes .venv"
	@echo "make pdf        build the whole book as one PDF into _build/latex/course.pdf"
	@echo "further checks: make check-html, make check-lab, make check-pdf, make check-determinism, make test-oldest, make bench (see mk/)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || { echo "== creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

test: $(STAMP) $(LINT_STAMP)
	@t0=$$(date +%s); \
	echo "== [0/2] publishing workflow: schema and security lint"; \
	$(MAKE) --no-print-directory lint-workflows; \
	echo "== [1/2] unit, property and doctests: pytest tests companion --doctest-modules"; \
	MPLBACKEND=Agg $(BIN)/python -m pytest tests companion --doctest-modules; \
	t1=$$(date +%s); \
	echo "== [1/2] took $$((t1 - t0)) s"; \
	echo "== [2/2] notebooks: pytest $(strip $(NBVAL_FLAGS)) $(NBVAL_PARALLEL) book/"; \
	$(BIN)/python -m pytest $(NBVAL_FLAGS) $(NBVAL_PARALLEL) book/; \
	t2=$$(date +%s); \
	echo "== [2/2] took $$((t2 - t1)) s"; \
	echo "== make test: all stages passed in $$((t2 - t0)) s"

book: $(STAMP)
	@t0=$$(date +%s); \
	rm -rf _build/html _build/.doctrees; \
	$(BIN)/jupyter-book build $(JB_FLAGS) .; \
	t1=$$(date +%s); \
	echo "== make book took $$((t1 - t0)) s"; \
	echo "Open _build/html/index.html"

clean:
	rm -rf _build .pytest_cache .hypothesis .jupyter_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 \
	  | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) *.egg-info
