"""A Sphinx extension: drop duplicate <script> entries from every HTML page.

sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) in an
``env-before-read-docs`` handler, which Jupyter Book's build reaches twice, so
every page declared the constants twice and the browser console showed
"Identifier 'THEBE_JS_URL' has already been declared".  Loaded from _config.yml
(``sphinx.local_extensions``); checked by ``make check-html``.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # a script added in two ways, once with filename None and once with "", is one script
        attributes = getattr(script, "attributes", {}) or {}
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
