# The whole course as one PDF (issue 15), included by the Makefile.
#
#   make pdf        execute every notebook and build _build/latex/course.pdf through Jupyter
#                   Book's LaTeX builder (XeLaTeX + latexmk), warnings are errors
#   make check-pdf  check the PDF: no unresolved reference or citation, as many figures as
#                   the HTML book, every chapter title, page count; PNGs of a few pages go to
#                   _build/screenshots/ (run `make book` and `make pdf` first)
#
# Debian's TeX packages are installed here when missing (XeLaTeX, latexmk, the LaTeX
# packages Sphinx uses, the FreeFont family Sphinx's XeLaTeX set-up asks for, poppler for
# the check): about 600 MB, no font collections beyond that. As root they are installed
# with apt-get; otherwise (GitHub's runners) through sudo.

.PHONY: pdf check-pdf tex-tools

TEX_PACKAGES := texlive-xetex latexmk texlive-latex-recommended texlive-latex-extra \
                texlive-fonts-recommended texlive-plain-generic lmodern fonts-freefont-otf \
                poppler-utils
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PDF  := _build/latex/course.pdf

tex-tools:
	@command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v pdftotext >/dev/null \
	  && fc-list 2>/dev/null | grep FreeSerif >/dev/null || { \
	  echo "== installing TeX (Debian packages: $(TEX_PACKAGES))"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    --no-install-recommends $(TEX_PACKAGES); }

pdf: $(STAMP) tex-tools
	@t0=$$(date +%s); \
	rm -rf _build/latex; \
	$(BIN)/jupyter-book build --builder pdflatex $(JB_FLAGS) .; \
	test -f $(PDF) || { echo "no $(PDF) was written"; exit 1; }; \
	mkdir -p _build/html && cp $(PDF) _build/html/course.pdf; \
	t1=$$(date +%s); \
	echo "== make pdf took $$((t1 - t0)) s: $(PDF) ($$(pdfinfo $(PDF) | awk '/^Pages:/ {print $$2}') pages, also copied to _build/html/course.pdf)"

check-pdf: $(STAMP) tex-tools
	@test -f $(PDF) || { echo "no $(PDF): run 'make pdf' first"; exit 1; }
	@test -f _build/html/index.html || { echo "no built book in _build/html: run 'make book' first"; exit 1; }
	$(BIN)/python tools/check_pdf.py --pdf $(PDF) --html _build/html --toc _toc.yml --screenshots _build/screenshots
