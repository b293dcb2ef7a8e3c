"""Print the text outputs of notebooks that differ from the committed version.

Usage: python tools/nb_text_diff.py book/*.ipynb
"""

import json
import subprocess
import sys


def texts(notebook):
    out = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            out.append((index, "".join(text)))
    return out


for path in sys.argv[1:]:
    try:
        old = json.loads(subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True, check=True, text=True).stdout)
    except subprocess.CalledProcessError:
        print(f"{path}: not committed yet")
        continue
    new = json.load(open(path))
    old_by_cell, new_by_cell = {}, {}
    for index, text in texts(old):
        old_by_cell.setdefault(index, []).append(text)
    for index, text in texts(new):
        new_by_cell.setdefault(index, []).append(text)
    for index in sorted(set(old_by_cell) | set(new_by_cell)):
        a, b = old_by_cell.get(index, []), new_by_cell.get(index, [])
        if a != b:
            print(f"--- {path} cell {index}\n  old: {str(a)[:400]}\n  new: {str(b)[:400]}")
