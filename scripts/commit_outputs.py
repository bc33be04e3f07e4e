#!/usr/bin/env python3
"""Copy the outputs of the cells `make test` checks from executed notebooks into nbs/: `python scripts/commit_outputs.py DIR`.

`make test-nbval` runs copies of the committed nbs/*.ipynb with nbval `--nbval-lax`, which compares a fresh run's outputs
with the committed ones for the cells marked `# NBVAL_CHECK_OUTPUT` (deterministic cells: a panel's shape, an env's first
observation). Their committed outputs come from here: run the notebooks (e.g. `tradenb reproduce --output-dir build/x
--executed-dir build/x/executed`), then `python scripts/commit_outputs.py build/x/executed`. Only those cells change;
each cell is matched by its id and must have the same source in both notebooks (else the executed copy is stale).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

MARK = "NBVAL_CHECK_OUTPUT"
ROOT = Path(__file__).resolve().parents[1]


def checked_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and MARK in c.source]


def copy_outputs(src: Path, dst: Path) -> int:
    "Copy the outputs of `dst`'s marked cells from the same cells of `src`; how many cells changed."
    run, ref = nbformat.read(src, as_version=4), nbformat.read(dst, as_version=4)
    by_id = {c.get("id"): c for c in run.cells}
    n = 0
    for c in checked_cells(ref):
        e = by_id.get(c.get("id"))
        if e is None or e.source != c.source:
            raise SystemExit(f"{src}: cell {c.get('id')} is missing or its source differs from {dst}'s: re-run it")
        outs = [o for o in e.outputs if o.get("output_type") != "display_data" or "text/plain" in o.get("data", {})]
        for o in outs:
            if "execution_count" in o: o["execution_count"] = None
        if c.outputs != outs: c.outputs = outs; n += 1
    if n: nbformat.write(ref, dst)
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("executed", type=Path, help="folder of executed notebooks (same names as nbs/)")
    ap.add_argument("--nbs", type=Path, default=ROOT/"nbs")
    a = ap.parse_args(argv)
    total = 0
    for dst in sorted(a.nbs.glob("[0-9][0-9]_*.ipynb")):
        if not checked_cells(nbformat.read(dst, as_version=4)): continue
        src = a.executed/dst.name
        if not src.exists(): raise SystemExit(f"{src} not found: execute {dst.name} first")
        k = copy_outputs(src, dst); total += k
        print(f"{dst.name}: {k} cell(s) updated")
    print(f"{total} cell(s) updated; run nbdev-clean, then commit nbs/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
