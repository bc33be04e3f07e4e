"""Build the documentation site (`make docs`) from the notebooks as committed: nothing is executed.

1. nbdev 3 prepares the pages: `nbs/nbdev.yml` from `pyproject.toml`, `nbs/sidebar.yml` (every notebook and page in
   `nbs/`, in file order: a new chapter such as `90_paper` is picked up without editing anything) and `_proc/`
   (directives applied, `#| hide` cells dropped, `show_doc` API docs rendered; nbdev runs only the export and
   `show_doc` cells for that, never the notebook). `figures/` is copied beside the pages.
2. The pages are rendered into `_docs/` by
   - `quarto` (the nbdev way: `nbdev.quarto_render.render_quarto`, the renderer of `nbdev-docs`) when a `quarto`
     binary is on the PATH or in the virtual environment (`pip install quarto-cli`, the `quarto` extra), or
   - nbconvert (`--engine nbconvert`, and `auto`'s fallback): one HTML page per notebook with the same sidebar, and
     `index.qmd`'s Markdown with its chapter listing. `pip install quarto-cli` builds from an sdist that downloads
     the Quarto binary from github.com at build time, which machines without general internet access cannot reach.

We do not call `nbdev-docs` / `nbdev-proc-nbs` themselves: without Quarto they try to download and `sudo`-install it.

    python scripts/build_docs.py [--engine auto|quarto|nbconvert] [--out _docs] [--workers 2]
"""
from __future__ import annotations

import argparse, html, os, re, shutil, sys, time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def quarto_binary() -> str | None:
    "The `quarto` executable: on the PATH, or installed by the `quarto-cli` package into this environment."
    if found := shutil.which("quarto"): return found
    try:
        import quarto_cli   # the package's own layout: quarto_cli/bin/quarto
        cand = Path(quarto_cli.__file__).parent/"bin"/"quarto"
        return str(cand) if cand.exists() else None
    except ImportError: return None


def _docs_eval(cell):
    """What nbdev runs to render the API docs, narrowed: export cells, `show_doc` cells and import-only cells.

    nbdev 3's own rule (`nbdev.processors._do_eval`) also runs every cell that contains an import anywhere, e.g. a
    plotting cell that imports matplotlib, or a training cell with an import inside: the docs build would then run
    parts of the notebooks (writing figures, failing on names defined by cells it skips) and replace those cells'
    committed outputs with a partial run's. Here such a cell keeps the outputs it was committed with."""
    import ast
    from nbdev import processors as P
    if cell.cell_type != "code" or not cell.source or P.cell_lang(cell) != "python": return None
    trees = cell.parsed_()
    if not trees or cell.directives_.get("eval", "").lower() == "false": return None
    if cell.directives_.keys() & {"export", "exports", "exporti", "exec_doc"}: return True
    if all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees): return True
    return True if P._show_docs(trees) else None


def prepare(workers: int) -> Path:
    "nbdev's docs preparation without its Quarto auto-install: nbdev.yml, sidebar.yml, `_proc/` (+ `figures/`)."
    from nbdev import processors
    from nbdev.config import get_config
    from nbdev.quarto import nbdev_sidebar, refresh_quarto_yml
    from nbdev.serve import proc_nbs
    os.chdir(ROOT)
    cfg = get_config()
    refresh_quarto_yml()                       # nbs/nbdev.yml; our nbs/_quarto.yml is kept
    nbdev_sidebar.__wrapped__(path=str(cfg.nbs_path), file_glob=None, file_re=r"\.(?:ipynb|qmd|html)$")   # nbdev-docs'
    processors._do_eval = _docs_eval           # in this process: proc_nbs' workers would re-import nbdev unpatched
    cache = Path(proc_nbs(str(cfg.nbs_path), n_workers=0))
    if (ROOT/"figures").is_dir(): shutil.copytree(ROOT/"figures", cache/"figures", dirs_exist_ok=True)
    return cache


def render_with_quarto(cache: Path, out: Path, workers: int, quarto: str):
    "nbdev-docs' own rendering step: Quarto over `_proc/` into `out`."
    from nbdev.quarto import _fix_quarto_nav
    from nbdev.quarto_render import render_quarto
    os.environ["PATH"] = str(Path(quarto).parent) + os.pathsep + os.environ["PATH"]
    tmp = cache/"_site_build"
    render_quarto(cache, tmp, n_workers=workers)
    shutil.rmtree(out, ignore_errors=True); shutil.move(str(tmp), str(out))
    _fix_quarto_nav(out)


# ---------------------------------------------------------------- nbconvert engine
_FRONT = re.compile(r"^---\s*\n(.*?)\n---\s*\n?", re.S)


def _front_matter(text: str) -> tuple[dict, str]:
    "YAML front matter and the rest of a page's text."
    m = _FRONT.match(text)
    return (yaml.safe_load(m.group(1)) or {}, text[m.end():]) if m else ({}, text)


def _pages(cache: Path) -> list[str]:
    "The pages in nbdev's sidebar order (sections flattened)."
    side = yaml.safe_load((cache/"sidebar.yml").read_text())["website"]["sidebar"]["contents"]
    def flat(items):
        for it in items:
            if isinstance(it, str): yield it
            elif isinstance(it, dict): yield from flat(it.get("contents", []))
    return [p for p in flat(side) if (cache/p).exists()]


def _notebook_meta(path: Path) -> tuple[dict, object]:
    "A processed notebook's front matter (nbdev writes it as the first raw cell) and the notebook without it."
    import nbformat
    nb = nbformat.read(path, as_version=4)
    meta = {}
    if nb.cells and nb.cells[0].cell_type == "raw":
        meta, rest = _front_matter(nb.cells[0].source)
        if meta: nb.cells = nb.cells[1:]
    for c in nb.cells: c.metadata.pop("execution", None)   # execnb's timings (floats) break nbformat's schema
    return meta, _apply_cell_options(nb)


_OPTION = re.compile(r"^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$")


def _apply_cell_options(nb):
    "What Quarto does with the `#| key: value` cell options nbdev leaves (`echo`, `output`, `include`)."
    cells = []
    for c in nb.cells:
        if c.cell_type == "code":
            lines, opts = c.source.splitlines(), {}
            while lines and (m := _OPTION.match(lines[0])): opts[m.group(1)] = m.group(2).lower(); lines.pop(0)
            c.source = "\n".join(lines)
            if opts.get("include") == "false": continue
            if opts.get("echo") == "false": c.metadata["transient"] = {"remove_source": True}
            if opts.get("output") == "false": c.outputs = []
            for o in c.get("outputs", []):   # show_doc's Pandoc link attributes, e.g. {target="_blank" ...}
                if isinstance(md := o.get("data", {}).get("text/markdown"), str):
                    o["data"]["text/markdown"] = re.sub(r"\{target=[^}]*\}", "", md)
        cells.append(c)
    nb.cells = cells
    return nb


_OUT_NAMES: dict[str, str] = {}   # page -> its HTML file: nbdev's `output-file` (00_core.ipynb -> core.html)


def _html_name(page: str) -> str: return _OUT_NAMES.get(page) or str(Path(page).with_suffix(".html"))


def _sidebar_html(pages: list[str], titles: dict, current: str) -> str:
    items = []
    for p in pages:
        cls = ' class="active"' if p == current else ""
        items.append(f'<li{cls}><a href="{_html_name(p)}">{titles[p]}</a></li>')
    return '<nav class="sidebar"><a class="home" href="index.html">tradenb</a><ul>' + "".join(items) + "</ul></nav>"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tradenb</title><link rel="stylesheet" href="site.css"></head>
<body>{sidebar}<main><h1 class="title">{title}</h1>{description}{body}</main></body></html>
"""

SITE_CSS = """body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       display: flex; line-height: 1.5; }
nav.sidebar { width: 250px; flex: none; height: 100vh; position: sticky; top: 0; overflow-y: auto;
              background: #f6f7f9; border-right: 1px solid #ddd; font-size: 0.85rem; padding: 1rem 0.6rem; }
nav.sidebar ul { list-style: none; padding: 0; } nav.sidebar li { margin: 0.2rem 0; }
nav.sidebar li.active a { font-weight: 600; } nav.sidebar a { color: #2c5aa0; text-decoration: none; }
nav.sidebar a.home { font-size: 1.2rem; font-weight: 700; }
main { max-width: 980px; padding: 1rem 2rem; overflow-x: auto; }
p.description { color: #666; font-size: 1.1rem; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
table { border-collapse: collapse; font-size: 0.9rem; } td, th { border: 1px solid #ddd; padding: 0.2rem 0.5rem; }
.jp-OutputArea-output pre { background: none; border-left: 2px solid lightsalmon; }
img { max-width: 100%; height: auto; }
a.anchor-link { visibility: hidden; text-decoration: none; margin-left: 0.3rem; }
h1:hover a.anchor-link, h2:hover a.anchor-link, h3:hover a.anchor-link { visibility: visible; }
"""


def _local_images(page_html: str, src_dir: Path, cache: Path, out: Path) -> str:
    "Copy the local images a page refers to into `out` (same place relative to the site) and point at them."
    def fix(m):
        src = m.group(2)
        if re.match(r"^(data:|https?:|//)", src): return m.group(0)
        f = (src_dir/src).resolve()
        try: rel = f.relative_to(cache.resolve())
        except ValueError:
            try: rel = f.relative_to(ROOT)   # e.g. ../figures/x.png from a notebook: served as figures/x.png
            except ValueError: return m.group(0)
        if f.exists():
            (out/rel).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, out/rel)
        return f'{m.group(1)}{rel.as_posix()}{m.group(3)}'
    return re.sub(r'(<img[^>]*?\ssrc=")([^"]+)(")', fix, page_html)


def _listing(pattern: str, pages: list[str], titles: dict, descs: dict) -> str:
    "Quarto's table listing of the pages matching `pattern` (file, title, description)."
    from fnmatch import fnmatch
    rows = [f'<tr><td><a href="{_html_name(p)}">{html.escape(p)}</a></td><td>{titles[p]}</td>'
            f'<td>{descs.get(p, "")}</td></tr>' for p in pages if fnmatch(p, pattern)]
    return ('<table class="listing"><thead><tr><th>notebook</th><th>title</th><th>description</th></tr></thead>'
            '<tbody>' + "".join(rows) + "</tbody></table>")


def render_with_nbconvert(cache: Path, out: Path):
    "Every page of the sidebar (and index.qmd) as HTML in `out`, rendered from `_proc/` without executing anything."
    from markdown_it import MarkdownIt
    from nbconvert import HTMLExporter
    from pygments.formatters import HtmlFormatter
    shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    (out/"site.css").write_text(SITE_CSS + (cache/"styles.css").read_text() if (cache/"styles.css").exists()
                                else SITE_CSS)
    (out/"pygments.css").write_text(HtmlFormatter().get_style_defs(".highlight"))
    exporter = HTMLExporter(template_name="basic", exclude_input_prompt=True, exclude_output_prompt=True)
    md = MarkdownIt("commonmark").enable("table")
    pages = [p for p in _pages(cache) if Path(p).suffix in (".ipynb", ".qmd", ".md")]
    titles, descs, bodies = {}, {}, {}
    for p in pages:
        if p.endswith(".ipynb"):
            meta, nb = _notebook_meta(cache/p)
            bodies[p] = exporter.from_notebook_node(nb)[0]
        else:
            meta, text = _front_matter((cache/p).read_text())
            bodies[p] = text
        titles[p] = md.renderInline(str(meta.get("title") or Path(p).stem))   # titles may hold `code`
        descs[p] = md.renderInline(str(meta.get("description") or meta.get("subtitle") or ""))
        if meta.get("output-file"): _OUT_NAMES[p] = str(meta["output-file"])
    listings = {}
    for p in pages:
        if not p.endswith(".ipynb"):
            meta, _ = _front_matter((cache/p).read_text())
            lst = meta.get("listing") or {}
            for item in lst if isinstance(lst, list) else [lst]:
                if item.get("id"): listings[item["id"]] = _listing(item.get("contents", "*"), pages, titles, descs)
            text = bodies[p]
            for lid, table in listings.items():
                text = re.sub(r":::\s*\{#" + re.escape(lid) + r"\}\s*\n\s*:::", f"\n<div id=\"{lid}\">{table}</div>\n",
                              text)
            bodies[p] = md.render(text)
    for p in pages:
        desc = f'<p class="description">{descs[p]}</p>' if descs[p] else ""
        body = _local_images(bodies[p], (cache/p).parent, cache, out)
        body = re.sub(r'href="/(?!/)', 'href="', body)   # nbdev's doc links are site-absolute (doc_baseurl /)
        page = PAGE.format(title=titles[p], description=desc, body=body,
                           sidebar=_sidebar_html(pages, titles, p))
        page = page.replace('<link rel="stylesheet" href="site.css">',
                            '<link rel="stylesheet" href="site.css"><link rel="stylesheet" href="pygments.css">')
        (out/_html_name(p)).write_text(page)
    if not (out/"index.html").exists() and pages: shutil.copy2(out/_html_name(pages[0]), out/"index.html")
    return pages


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build the documentation site (make docs)")
    ap.add_argument("--engine", choices=("auto", "quarto", "nbconvert"), default="auto")
    ap.add_argument("--out", type=Path, default=ROOT/"_docs")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    t0 = time.time()
    quarto = quarto_binary()
    engine = args.engine if args.engine != "auto" else ("quarto" if quarto else "nbconvert")
    if engine == "quarto" and not quarto:
        sys.exit("no quarto binary: `pip install -e '.[quarto]'` (quarto-cli downloads it from github.com while it "
                 "builds), or use --engine nbconvert")
    if engine == "nbconvert" and args.engine == "auto":
        print("docs: no quarto binary found (quarto-cli's sdist downloads it from github.com at build time): "
              "rendering with nbconvert instead")
    cache = prepare(args.workers)
    out = args.out.resolve()
    if engine == "quarto": render_with_quarto(cache, out, args.workers, quarto)
    else: render_with_nbconvert(cache, out)
    n = len(list(out.rglob("*.html")))
    print(f"docs: {n} pages in {out} ({engine}, {time.time() - t0:.0f} s); open {out/'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
