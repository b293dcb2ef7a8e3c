# JupyterLab, as local and Binder readers see the chapters (issue 16), included by the Makefile.
#
#   make venv       also installs jupyterlab-overrides.json as JupyterLab's default settings
#                   of .venv (no "official Jupyter news?" pop-up over the explorers); Binder
#                   installs the same file through postBuild
#   make check-lab  start JupyterLab from .venv on 127.0.0.1, open every notebook chapter of
#                   _toc.yml in headless Chromium, Run All, and count what a reader would see
#                   wrong: raw MyST markup, {eval} without a value, error outputs; move one
#                   slider per explorer and check that the figure changes. Screenshots go to
#                   _build/screenshots/lab-<chapter>.png (see tools/check_lab.py).
#
# Needs Debian's chromium and chromium-driver and Selenium, like make check-html (mk/html.mk).

.PHONY: check-lab

# e.g. make check-lab CHECK_LAB_FLAGS="--chapter crux --verbose"
CHECK_LAB_FLAGS ?=

LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
LAB_SUDO      := $(if $(filter 0,$(shell id -u)),,sudo)

venv: $(LAB_OVERRIDES)

$(LAB_OVERRIDES): jupyterlab-overrides.json $(STAMP)
	@mkdir -p $(@D)
	cp $< $@

check-lab: $(HTML_STAMP) $(LAB_OVERRIDES)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "== installing chromium and chromium-driver (Debian)"; \
	  $(LAB_SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(LAB_SUDO) apt-get install -y -q \
	    chromium chromium-driver; }
	@t0=$$(date +%s); \
	$(BIN)/python tools/check_lab.py --screenshots _build/screenshots $(CHECK_LAB_FLAGS); \
	t1=$$(date +%s); \
	echo "== make check-lab took $$((t1 - t0)) s"
