"""Check the built documentation site (`make test-docs`): pages render with their figures, in headless Chromium.

For the index page and the paper chapter's page (nbs/90_paper*.ipynb, by the `output-file` nbdev gives it; or the
pages named with --page) it checks that

- the page exists, has at least one figure (`<img>`), and every `<img>` resolves: a data URI that decodes to an
  image, or a local file of the site that exists and is an image;
- no cell shows an error (a traceback, Quarto's `cell-output-error`, nbconvert's `output_error`);
- Debian's Chromium (`apt-get install chromium`) renders it headless: a screenshot per page in --screens.

    python scripts/check_docs.py _docs --screens build/docs-screens [--page index.html --page paper.html]
"""
from __future__ import annotations

import argparse, base64, json, re, shutil, subprocess, sys, tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
ERROR_MARKERS = ("Traceback (most recent call last)", "cell-output-error", "output_error")
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"<svg", b"<?xml", b"RIFF")


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__(); self.srcs = []
    def handle_starttag(self, tag, attrs):
        if tag == "img": self.srcs.append(dict(attrs).get("src") or "")


def paper_page(root: Path = ROOT) -> str | None:
    "The HTML name of the paper chapter (nbs/90_paper*.ipynb): nbdev drops the number (`paper.html`)."
    nbs = sorted((root/"nbs").glob("90_paper*.ipynb"))
    if not nbs: return None
    text = "".join(c.get("source", "") if isinstance(c.get("source"), str) else "".join(c["source"])
                   for c in json.loads(nbs[0].read_text())["cells"][:3])
    if m := re.search(r"output-file:\s*(\S+)", text): return m.group(1)
    return re.sub(r"^\d+_", "", nbs[0].stem) + ".html"


def _is_image(data: bytes) -> bool: return data.lstrip()[:5].startswith(IMAGE_MAGIC) or data[:4] in IMAGE_MAGIC


def check_page(site: Path, page: str) -> tuple[list[str], int]:
    "Problems found on `page` of `site`, and its number of figures."
    f = site/page
    if not f.exists(): return [f"{page}: not built (no {f})"], 0
    text = f.read_text(errors="replace")
    problems = [f"{page}: shows an error block ({m!r})" for m in ERROR_MARKERS if m in text]
    p = _Imgs(); p.feed(text)
    if not p.srcs: problems.append(f"{page}: no figure (<img>) on the page")
    for src in p.srcs:
        if src.startswith("data:"):
            try: ok = _is_image(base64.b64decode(src.split(",", 1)[1][:4096] + "=="))
            except Exception: ok = False
            if not ok: problems.append(f"{page}: an inline image does not decode ({src[:40]}...)")
            continue
        u = urlparse(src)
        if u.scheme in ("http", "https"): problems.append(f"{page}: remote image {src} (the site must be offline)")
        elif u.scheme not in ("", "file"): problems.append(f"{page}: image with scheme {u.scheme!r}: {src}")
        else:
            path = Path(unquote(u.path)) if u.scheme == "file" else (f.parent/unquote(u.path))
            if not path.is_file(): problems.append(f"{page}: <img src={src!r}> does not resolve (no {path})")
            elif not _is_image(path.read_bytes()[:64]): problems.append(f"{page}: {src} is not an image file")
    return problems, len(p.srcs)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name): return found
    sys.exit("FAIL: no Chromium: `apt-get install -y chromium` (Debian's package; `make test-docs` does it as root)")


def screenshot(browser: str, url: str, out: Path, size: str = "1200,2000"):
    "A headless Chromium screenshot of `url` into `out` (a fresh profile; no sandbox: we run as root)."
    with tempfile.TemporaryDirectory() as prof:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={prof}",
               "--virtual-time-budget=5000", f"--window-size={size}", f"--screenshot={out}", url]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode or not out.exists() or out.stat().st_size < 10_000:
        return f"{url}: Chromium's screenshot failed (rc {r.returncode}): {r.stderr[-400:]}"
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Check the built docs site with headless Chromium")
    ap.add_argument("site", type=Path)
    ap.add_argument("--screens", type=Path, default=ROOT/"build"/"docs-screens")
    ap.add_argument("--page", action="append", help="pages to check (default: index.html and the paper chapter)")
    args = ap.parse_args(argv)
    site = args.site.resolve()
    pages = args.page or ["index.html", paper_page()]
    problems = []
    if None in pages:
        problems.append("no paper chapter (nbs/90_paper*.ipynb): the site has no paper page to check")
        pages = [p for p in pages if p]
    browser = chromium()
    args.screens.mkdir(parents=True, exist_ok=True)
    for page in pages:
        found, n_img = check_page(site, page)
        problems += found
        if (site/page).exists():
            shot = args.screens/(Path(page).stem + ".png")
            if err := screenshot(browser, (site/page).as_uri(), shot): problems.append(err)
            else: print(f"{page}: {n_img} figure(s); screenshot {shot}")
    for p in problems: print("FAIL:", p)
    print(f"docs check: {len(pages)} pages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
