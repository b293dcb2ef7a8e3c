# make check-html: open every page of the built book (_build/html) in headless Chromium
# and check what a reader sees -- maths typeset by the local MathJax, images loaded,
# internal links, anchors and equation references resolved, Binder/Colab buttons on
# notebook pages, no console errors (see tools/check_html.py for the allowed ones).
# Screenshots of three pages in the light and dark theme go to _build/screenshots/.
#
# Needs Debian's chromium and chromium-driver (installed here when missing) and Selenium
# (installed into .venv; it is not part of the reader environment in requirements.txt).
# Run `make book` first.

SELENIUM_VERSION := 4.51.0
HTML_STAMP       := $(VENV)/.check-html-$(SELENIUM_VERSION)

.PHONY: check-html

$(HTML_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet "selenium==$(SELENIUM_VERSION)"
	@touch $@

check-html: $(HTML_STAMP)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "== installing chromium and chromium-driver (Debian)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }
	@test -f _build/html/index.html || { echo "no built book in _build/html: run 'make book' first"; exit 1; }
	@t0=$$(date +%s); \
	$(BIN)/python tools/check_html.py --html _build/html --screenshots _build/screenshots; \
	t1=$$(date +%s); \
	echo "== make check-html took $$((t1 - t0)) s"
