# Publishing (issue 15), included by the Makefile.
#
#   make lint-workflows  validate .github/workflows/*.yml against GitHub's workflow schema
#                        (check-jsonschema) and audit them for security problems (zizmor,
#                        offline); part of `make test`
#   make check-repository  every place that names the repository agrees with _config.yml
#                        (tools/repository.py; `python tools/repository.py sync` rewrites them)
#
# The linters are installed into .venv only for this target; they are not part of the
# reader environment in requirements.txt.

CHECK_JSONSCHEMA_VERSION := 0.39.0
ZIZMOR_VERSION           := 1.32.0
LINT_STAMP               := $(VENV)/.lint-workflows-$(CHECK_JSONSCHEMA_VERSION)-$(ZIZMOR_VERSION)
WORKFLOWS                := $(sort $(wildcard .github/workflows/*.yml))

.PHONY: lint-workflows check-repository

$(LINT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet "check-jsonschema==$(CHECK_JSONSCHEMA_VERSION)" "zizmor==$(ZIZMOR_VERSION)"
	@touch $@

lint-workflows: $(LINT_STAMP)
	@test -n "$(WORKFLOWS)" || { echo "no workflow in .github/workflows"; exit 1; }
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	$(BIN)/zizmor --offline --no-progress $(WORKFLOWS)

check-repository:
	$(PYTHON) tools/repository.py check
