# Robustness checks (issue 9), included by the Makefile.
#
#   make check-determinism  execute every notebook in book/ $(DETERMINISM_RUNS) times and require
#                           identical text outputs (stdout, text/plain, text/html, glue values)
#   make test-oldest        unit, property and doctests against the OLDEST dependency versions
#                           that pyproject.toml allows (requirements-oldest.txt, in .venv-oldest)
#
# The fuzz tests (tests/test_fuzz.py) need no target: they are part of `make test`.

.PHONY: check-determinism test-oldest clean-oldest

DETERMINISM_RUNS ?= 3
DETERMINISM_JOBS ?= 2
NOTEBOOKS        ?= $(sort $(wildcard book/*.ipynb))

check-determinism: $(STAMP)
	@echo "== check-determinism: $(words $(NOTEBOOKS)) notebook(s), $(DETERMINISM_RUNS) runs each, $(DETERMINISM_JOBS) at a time"
	$(BIN)/python tools/check_determinism.py --runs $(DETERMINISM_RUNS) --jobs $(DETERMINISM_JOBS) \
	  $(if $(NBVAL_SANITIZE),--sanitize $(NBVAL_SANITIZE)) $(NOTEBOOKS)

OLDEST_VENV  := .venv-oldest
OLDEST_BIN   := $(OLDEST_VENV)/bin
OLDEST_STAMP := $(OLDEST_VENV)/.installed

# --no-deps for companion itself: pip must not replace the pinned oldest versions.
$(OLDEST_STAMP): requirements-oldest.txt pyproject.toml
	@test -x $(OLDEST_BIN)/python || { echo "== creating $(OLDEST_VENV) with $(PYTHON)"; $(PYTHON) -m venv $(OLDEST_VENV); }
	@echo '*' > $(OLDEST_VENV)/.gitignore
	$(OLDEST_BIN)/python -m pip install --quiet -r requirements-oldest.txt
	$(OLDEST_BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

test-oldest: $(OLDEST_STAMP)
	@t0=$$(date +%s); \
	echo "== test-oldest: $$($(OLDEST_BIN)/python -c 'import sys, numpy, scipy, matplotlib, ipywidgets; print(f"Python {sys.version.split()[0]}, numpy {numpy.__version__}, scipy {scipy.__version__}, matplotlib {matplotlib.__version__}, ipywidgets {ipywidgets.__version__}")')"; \
	echo "== test-oldest: pytest tests companion --doctest-modules (notebooks excluded)"; \
	MPLBACKEND=Agg $(OLDEST_BIN)/python -m pytest tests companion --doctest-modules -p no:cacheprovider; \
	echo "== test-oldest passed in $$(( $$(date +%s) - t0 )) s"

clean-oldest:
	rm -rf $(OLDEST_VENV)

distclean: clean-oldest
