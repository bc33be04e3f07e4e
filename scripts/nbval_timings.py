#!/usr/bin/env python3
"""Seconds per notebook of `make test-nbval`'s run, from pytest's JUnit XML: `python scripts/nbval_timings.py XML OUT`.

nbval reports one test per cell; a notebook's seconds are the sum of its cells' (kernel start-up excluded). OUT is a CSV
in the format of results/reproduce_timings.csv (notebook, seconds, then the run record's versions and commit), and the
table and total are printed, so the smoke budget is measured on the very run CI makes.
"""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pandas as pd


def notebook_seconds(xml: Path) -> pd.DataFrame:
    secs, failed = defaultdict(float), defaultdict(int)
    for case in ET.parse(xml).getroot().iter("testcase"):
        nb = case.get("classname", "").rsplit(".", 2)[-2] + ".ipynb"   # "build.nbval.01_data.ipynb" -> 01_data.ipynb
        secs[nb] += float(case.get("time", 0))
        failed[nb] += any(ch.tag in ("failure", "error") for ch in case)
    return pd.DataFrame([dict(notebook=k, seconds=round(v, 1), status="failed" if failed[k] else "ok")
                         for k, v in sorted(secs.items())])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2: raise SystemExit(__doc__)
    from tradenb.cli import write_timings
    from tradenb.core import Config
    t = notebook_seconds(Path(argv[0]))
    write_timings(t.drop(columns="status"), Config.from_profile("smoke"), Path(argv[1]))
    print(t.to_string(index=False))
    print(f"{len(t)} notebooks, {t.seconds.sum():.0f} s in their cells ({(t.status == 'failed').sum()} with a failure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
