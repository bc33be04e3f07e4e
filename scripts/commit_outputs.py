#!/usr/bin/env python3
"""Copy cell outputs from executed notebooks into nbs/: `python scripts/commit_outputs.py DIR [--fast-cells]`.

Two uses, one rule (cells are matched by id and must have the same source in both notebooks, else the executed copy
is stale):

- default: the cells `make test` checks. `make test-nbval` runs copies of the committed nbs/*.ipynb with nbval
  `--nbval-lax`, which compares a fresh run's outputs with the committed ones for the cells marked
  `# NBVAL_CHECK_OUTPUT` (deterministic cells: a panel's shape, an env's first observation). Only those cells change.
- `--fast-cells`: every cell a reader should see run (`make outputs`): the executed copies come from `nbdev-test
  --save` on copies of nbs/ (which runs what `nbdev-test` runs: no `#| slow`, no `#| eval: false`), and every code
  cell takes the copy's outputs; a cell the copy did not run (a slow one) keeps none. Progress bars and warnings
  (stderr streams, widget views) are left out, paths inside this checkout are written relative to it, and the
  `# NBVAL_CHECK_OUTPUT` cells keep their outputs (they come from the default mode).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

MARK = "NBVAL_CHECK_OUTPUT"
WIDGET = "application/vnd.jupyter.widget-view+json"
ROOT = Path(__file__).resolve().parents[1]


def checked_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and MARK in c.source]


def _kept(outputs) -> list:
    "The outputs worth committing: no stderr stream, no widget view (`copy_outputs` empties the execution counts)."
    out = []
    for o in outputs:
        if o.get("output_type") == "stream" and o.get("name") == "stderr": continue
        if o.get("output_type") in ("display_data", "execute_result"):
            had_widget = WIDGET in o.get("data", {})
            data = {k: v for k, v in o.get("data", {}).items() if k != WIDGET}
            if not data or (had_widget and list(data) == ["text/plain"]): continue   # a progress bar's widget
            o["data"] = data
        out.append(_relative(o))
    return out


def _relative(o):
    "An output whose text names files of this checkout, with project-relative paths (no machine's path committed)."
    root = str(ROOT) + "/"
    fix = lambda t: [x.replace(root, "") for x in t] if isinstance(t, list) else t.replace(root, "")
    if "text" in o: o["text"] = fix(o["text"])
    for k in ("text/plain", "text/markdown", "text/html"):
        if k in o.get("data", {}): o["data"][k] = fix(o["data"][k])
    return o


def copy_outputs(src: Path, dst: Path, fast_cells: bool = False) -> int:
    "Copy the outputs of `dst`'s marked cells (or of every code cell) from the same cells of `src`; cells changed."
    run, ref = nbformat.read(src, as_version=4), nbformat.read(dst, as_version=4)
    by_id = {c.get("id"): c for c in run.cells}
    n = 0
    # --fast-cells leaves the checked cells alone: their outputs are nbval's, from a Jupyter kernel, whose rendering
    # (e.g. a DataFrame's text width) differs from nbdev-test's in-process shell
    cells = (checked_cells(ref) if not fast_cells else
             [c for c in ref.cells if c.cell_type == "code" and MARK not in c.source])
    for c in cells:
        e = by_id.get(c.get("id"))
        if e is None or e.source != c.source:
            raise SystemExit(f"{src}: cell {c.get('id')} is missing or its source differs from {dst}'s: re-run it")
        outs = (_kept(e.outputs) if fast_cells else
                [o for o in e.outputs if o.get("output_type") != "display_data" or "text/plain" in o.get("data", {})])
        for o in outs:
            if "execution_count" in o: o["execution_count"] = None
        if c.outputs != outs: c.outputs = outs; n += 1
    if n: nbformat.write(ref, dst)
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("executed", type=Path, help="folder of executed notebooks (same names as nbs/)")
    ap.add_argument("--nbs", type=Path, default=ROOT/"nbs")
    ap.add_argument("--fast-cells", action="store_true", help="every code cell, not only the NBVAL_CHECK_OUTPUT ones")
    a = ap.parse_args(argv)
    total = 0
    for dst in sorted(a.nbs.glob("[0-9][0-9]_*.ipynb")):
        if not a.fast_cells and not checked_cells(nbformat.read(dst, as_version=4)): continue
        src = a.executed/dst.name
        if not src.exists(): raise SystemExit(f"{src} not found: execute {dst.name} first")
        k = copy_outputs(src, dst, a.fast_cells); total += k
        print(f"{dst.name}: {k} cell(s) updated")
    print(f"{total} cell(s) updated; run nbdev-clean, then commit nbs/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
