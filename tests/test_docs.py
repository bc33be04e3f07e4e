"""scripts/build_docs.py and scripts/check_docs.py (make docs, make test-docs) on small inputs: no build, no browser."""
import base64, json
from pathlib import Path

import nbformat
import pytest
from script_loader import load_script

ROOT = Path(__file__).resolve().parent.parent


bd, cd = load_script("build_docs"), load_script("check_docs")
PNG = (ROOT/"figures"/"baselines.png").read_bytes()


def _cell(src, **kw):
    from fastcore.nbio import dict2nb
    from nbdev.process import NBProcessor
    cell = {"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None, **kw}
    nb = dict2nb({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    return NBProcessor(nb=nb).nb.cells[0]


def test_docs_build_runs_only_what_show_doc_needs():
    "Export, show_doc and import-only cells run; a cell mixing imports with other code (a plot, a training) does not."
    assert bd._docs_eval(_cell("#| export\ndef f(): pass"))
    assert bd._docs_eval(_cell("import numpy as np\nfrom pathlib import Path"))
    assert bd._docs_eval(_cell("show_doc(f)"))
    assert not bd._docs_eval(_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])"))
    assert not bd._docs_eval(_cell("def g():\n    import torch\n    return torch.ones(1)\ng()"))
    assert not bd._docs_eval(_cell("#| eval: false\nimport numpy"))
    assert not bd._docs_eval(_cell("x = 1"))


def test_cell_options_as_quarto_applies_them():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("#| echo: false\n#| output: asis\nshow_doc(f)", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/markdown": '[source](x){target="_blank" style="float:right"}'})]),
        nbformat.v4.new_code_cell("#| include: false\nsecret = 1"),
        nbformat.v4.new_code_cell("#| output: false\nprint(1)", outputs=[nbformat.v4.new_output("stream", text="1")]),
        nbformat.v4.new_code_cell("y = 2")])
    cells = bd._apply_cell_options(nb).cells
    assert [c.source for c in cells] == ["show_doc(f)", "print(1)", "y = 2"]
    assert cells[0].metadata["transient"] == {"remove_source": True}
    assert cells[0].outputs[0]["data"]["text/markdown"] == "[source](x)" and cells[1].outputs == []


def test_front_matter_and_sidebar_order(tmp_path):
    meta, rest = bd._front_matter("---\ntitle: T\nlisting:\n  id: chapters\n---\nbody\n")
    assert meta == {"title": "T", "listing": {"id": "chapters"}} and rest == "body\n"
    assert bd._front_matter("no front matter") == ({}, "no front matter")
    (tmp_path/"sidebar.yml").write_text(
        "website:\n  sidebar:\n    contents:\n      - index.qmd\n      - 00_a.ipynb\n"
        "      - section: sub\n        contents: [sub/01_b.ipynb]\n      - gone.ipynb\n")
    for p in ("index.qmd", "00_a.ipynb", "sub/01_b.ipynb"):
        (tmp_path/p).parent.mkdir(exist_ok=True); (tmp_path/p).touch()
    assert bd._pages(tmp_path) == ["index.qmd", "00_a.ipynb", "sub/01_b.ipynb"]


def _page(tmp_path, body):
    (tmp_path/"p.html").write_text(f"<html><body>{body}</body></html>")
    return cd.check_page(tmp_path, "p.html")


def test_check_page_accepts_resolved_figures(tmp_path):
    (tmp_path/"figures").mkdir(); (tmp_path/"figures"/"a.png").write_bytes(PNG)
    inline = base64.b64encode(PNG).decode()
    assert _page(tmp_path, f'<img src="figures/a.png"><img src="data:image/png;base64,{inline}">') == ([], 2)


@pytest.mark.parametrize("body, problem", [
    ('<img src="figures/missing.png">', "does not resolve"),
    ('<img src="data:image/png;base64,AAAA">', "does not decode"),
    ('<img src="https://example.org/x.png">', "remote image"),
    ("<p>no figure</p>", "no figure"),
    ('<img src="data:image/png;base64,{png}"><pre>Traceback (most recent call last):</pre>', "error block"),
    ('<img src="data:image/png;base64,{png}"><div class="cell-output cell-output-error">x</div>', "error block"),
])
def test_check_page_finds_problems(tmp_path, body, problem):
    problems, _ = _page(tmp_path, body.replace("{png}", base64.b64encode(PNG).decode()))
    assert len(problems) == 1 and problem in problems[0], problems


def test_check_page_on_a_page_not_built(tmp_path):
    assert "not built" in cd.check_page(tmp_path, "paper.html")[0][0]


def test_paper_page_name(tmp_path):
    (tmp_path/"nbs").mkdir()
    assert cd.paper_page(tmp_path) is None
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Paper\n"]}], "metadata": {}}
    (tmp_path/"nbs"/"90_paper.ipynb").write_text(json.dumps(nb))
    assert cd.paper_page(tmp_path) == "paper.html"   # nbdev drops the number, as for 05_env -> env.html
