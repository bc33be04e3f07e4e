"""Kaggle/Colab hand-off for every numbered notebook, idempotently (running it twice changes nothing).

For each `nbs/[0-9]*.ipynb` it

1. inserts, or updates in place, one install cell (cell id `tradenb-install`, tag `tradenb-install`) as the
   notebook's first code cell: on Kaggle or Colab (detected from the environment) it clones the repository named in
   `pyproject.toml` (`[project.urls] Repository`), pip-installs it and sets `TRADENB_PROFILE=full`; anywhere else,
   CI included, it does nothing. It is `#| hide` (not in the docs) and not exported;
2. makes the `parameters` cell's default `profile = None`, so chapter 00's `Config.from_profile` resolves it
   (papermill's `-p profile X` still wins, then `$TRADENB_PROFILE`, then smoke);

and rewrites README.md's notebook table (between the `notebooks:start/end` markers) with Colab and Kaggle links.

    python scripts/colab_cell.py           # update the notebooks and the README
    python scripts/colab_cell.py --check   # exit 1 (and list them) if any file would change
"""
from __future__ import annotations

import argparse, json, re, sys, tomllib
from pathlib import Path

CELL_ID = TAG = "tradenb-install"
BRANCH = "main"        # the branch the Colab/Kaggle links open
EXTRAS = "rl,llm,track"   # what the full profile needs on a hosted GPU (no `gguf`: it builds llama.cpp for minutes)
README_START, README_END = "<!-- notebooks:start -->", "<!-- notebooks:end -->"
PARAM_OLD = 'profile = "smoke"'
PARAM_NEW = "profile = None   # smoke or full; None: $TRADENB_PROFILE, else smoke (chapter 00's default_profile)"

CELL_TEMPLATE = '''#| hide
# Kaggle / Colab only (a no-op anywhere else, CI included): install tradenb from its repository, full profile.
# Written by scripts/colab_cell.py: edit the script and re-run it, not this cell.
import os, sys
if not os.environ.get("CI") and (os.environ.get("KAGGLE_KERNEL_RUN_TYPE") or os.environ.get("COLAB_RELEASE_TAG")
                                 or "google.colab" in sys.modules):
    import subprocess
    _root = os.environ.get("TRADENB_ROOT") or (
        "/kaggle/working/tradenb" if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") else "/content/tradenb")
    if not os.path.isdir(_root):
        subprocess.run(["git", "clone", "--depth", "1", "{repo}", _root], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", _root + "[{extras}]"], check=True)
    sys.path.insert(0, _root)   # an editable install's path entry is read only when Python starts
    os.environ["TRADENB_ROOT"] = _root; os.environ.setdefault("TRADENB_PROFILE", "full")'''


def repo_url(root: Path) -> str:
    "The repository URL from `pyproject.toml`'s `[project.urls]` (`Repository`, else `Homepage`/`Source`)."
    urls = tomllib.loads((root/"pyproject.toml").read_text())["project"].get("urls", {})
    for key in ("Repository", "Source", "Homepage"):
        if key in urls: return urls[key].rstrip("/").removesuffix(".git")
    raise SystemExit("pyproject.toml has no [project.urls] Repository: add the repository URL there")


def cell_source(repo: str) -> str:
    "The install cell's code for repository `repo`."
    return CELL_TEMPLATE.replace("{repo}", repo).replace("{extras}", EXTRAS)


def notebooks(root: Path) -> list[Path]: return sorted((root/"nbs").glob("[0-9]*.ipynb"))


def _src(cell) -> str: return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _is_install(cell) -> bool:
    return cell.get("id") == CELL_ID or TAG in cell.get("metadata", {}).get("tags", [])


def update_notebook(nb: dict, repo: str) -> dict:
    "Return `nb` with exactly one install cell before its first code cell and `profile = None` in `parameters`."
    cells = [c for c in nb["cells"] if not _is_install(c)]
    first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    cell = {"cell_type": "code", "execution_count": None, "id": CELL_ID, "metadata": {"tags": [TAG]},
            "outputs": [], "source": cell_source(repo).splitlines(keepends=True)}
    cells.insert(first_code, cell)
    for c in cells:
        if c["cell_type"] == "code" and "parameters" in c.get("metadata", {}).get("tags", []):
            lines = [PARAM_NEW if ln.strip() == PARAM_OLD else ln for ln in _src(c).splitlines()]
            c["source"] = "\n".join(lines).splitlines(keepends=True)
    return {**nb, "cells": cells}


def dumps(nb: dict) -> str:
    "A notebook as nbdev-clean writes it (sorted keys, indent 1, UTF-8, final newline)."
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def title(nb: dict, path: Path) -> str:
    "The chapter's title: its first markdown heading, else the file name."
    for c in nb["cells"]:
        if c["cell_type"] == "markdown" and (m := re.match(r"#\s+(.+)", _src(c).strip())): return m.group(1).strip()
    return path.stem


def readme_table(root: Path, repo: str) -> str:
    "The README's notebook table: one row per numbered notebook with its Colab and Kaggle links."
    gh = repo.removeprefix("https://github.com/")
    rows = ["| chapter | notebook | open |", "|---|---|---|"]
    for p in notebooks(root):
        nb = json.loads(p.read_text())
        colab = f"https://colab.research.google.com/github/{gh}/blob/{BRANCH}/nbs/{p.name}"
        kaggle = f"https://kaggle.com/kernels/welcome?src={repo}/blob/{BRANCH}/nbs/{p.name}"
        rows.append(f"| {p.stem.split('_')[0]} | [{title(nb, p)}](nbs/{p.name}) "
                    f"| [Colab]({colab}) · [Kaggle]({kaggle}) |")
    return "\n".join(rows)


def update_readme(text: str, table: str) -> str:
    "README text with the table between the markers (which must be there)."
    if README_START not in text or README_END not in text:
        raise SystemExit(f"README.md has no {README_START} ... {README_END} markers for the notebook table")
    head, rest = text.split(README_START, 1)
    return head + README_START + "\n" + table + "\n" + README_END + rest.split(README_END, 1)[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="project root")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is not up to date")
    ap.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    args = ap.parse_args(argv)
    root, repo = args.root, repo_url(args.root)
    changed = []
    for p in notebooks(root):
        old = p.read_text()
        new = dumps(update_notebook(json.loads(old), repo))
        if new != old:
            changed.append(p)
            if not args.check: p.write_text(new)
    if not args.no_readme:
        readme = root/"README.md"
        old = readme.read_text()
        new = update_readme(old, readme_table(root, repo))
        if new != old:
            changed.append(readme)
            if not args.check: readme.write_text(new)
    for p in changed: print(("out of date: " if args.check else "updated: ") + str(p.relative_to(root)))
    if not changed: print(f"{len(notebooks(root))} notebooks and README.md up to date")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
