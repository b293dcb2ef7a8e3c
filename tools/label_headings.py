"""Give every ## and ### heading of a chapter notebook an explicit MyST label.

Usage: python tools/label_headings.py book/newton.ipynb newton

Labels are ``<prefix>-<slug of the heading>``; headings that already carry a
label are left alone.  Only Markdown cells change, so stored outputs stay valid.
"""

import json
import re
import sys


def slug(text: str) -> str:
    text = re.sub(r"\$[^$]*\$", lambda m: re.sub(r"[^a-z0-9]+", "", m.group(0).lower()), text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def label_cell(source: str, prefix: str) -> str:
    lines = source.split("\n")
    out = []
    for i, line in enumerate(lines):
        match = re.match(r"^(#{2,3}) (.+)$", line)
        previous = out[-1] if out else ""
        if match and not re.match(r"^\(.+\)=$", previous.strip()):
            out.append(f"({prefix}-{slug(match.group(2))})=")
        out.append(line)
    return "\n".join(out)


def main(path: str, prefix: str) -> None:
    with open(path) as handle:
        notebook = json.load(handle)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            new = label_cell(source, prefix)
            if new != source:
                cell["source"] = new.splitlines(keepends=True)
    with open(path, "w") as handle:
        json.dump(notebook, handle, indent=1, ensure_ascii=False)
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
