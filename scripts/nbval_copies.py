#!/usr/bin/env python3
"""Copies of nbs/*.ipynb for nbval: `python scripts/nbval_copies.py OUT` (what `make test-nbval` runs first).

nbval skips (and fails on) a reference cell whose execution count is empty ("Unrun reference cell has outputs"), and
nbdev-clean empties every execution count in nbs/. The copies are the committed notebooks unchanged except that each
cell with committed outputs gets an execution count, so nbval compares those outputs (the `# NBVAL_CHECK_OUTPUT` cells,
under --nbval-lax) with a fresh run. The notebooks find the project from the `tradenb` package, not their folder.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1: raise SystemExit(__doc__)
    out = Path(argv[0]); shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    for src in sorted((ROOT/"nbs").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        for i, c in enumerate(nb.cells):
            if c.cell_type == "code" and c.outputs: c.execution_count = i
        nbformat.write(nb, out/src.name)
    print(f"{len(list(out.glob('*.ipynb')))} notebooks copied to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
