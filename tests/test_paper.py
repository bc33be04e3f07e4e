"""The paper chapter (nbs/90_paper.ipynb): no result typed in its prose, and its tables built from results/.

Every decimal number (``0.300``, ``-1.30``) and every percentage (``91%``, ``99.6%``) typed in a markdown cell of
the chapter must appear in a file of ``results/`` or ``data/published/`` (as written, or, with three or more
decimals, as a value there that rounds to it). Integers that are counts ("15 experiments", "8 episodes", "chapter
23") are not results and are allowed; version strings (``2.0.0``) are ignored. Numbers in code cells are not prose:
the chapter renders its sentences from the tables at run time.
"""
import json

import nbformat
import pandas as pd
import pytest

from tradenb.core import Config, project_root
from tradenb.paper import (markdown_numbers, paper_tables, published_dir, side_by_side, stages_figure,
                           untraced_numbers)
from tradenb.tracking import key_numbers

CHAPTER = project_root()/"nbs"/"90_paper.ipynb"


def test_no_typed_result_in_the_chapter(cfg):
    bad = untraced_numbers(CHAPTER, [cfg.results_dir, published_dir(cfg)])
    assert bad == [], f"numbers typed in {CHAPTER.name}'s markdown that no results file holds (cell, number): {bad}"


def test_the_check_catches_a_typed_number(tmp_path, cfg):
    "The same check on a copy of the chapter with one typed result added: it must fail on exactly that number."
    nb = nbformat.read(CHAPTER, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Our best row scores 0.98761, a 12.3456% gain, over 15 experiments."))
    nbformat.write(nb, tmp_path/"typed.ipynb")
    assert untraced_numbers(tmp_path/"typed.ipynb", [cfg.results_dir, published_dir(cfg)]) == [
        (len(nb.cells) - 1, "0.98761"), (len(nb.cells) - 1, "12.3456%")]


def test_numbers_found_and_traced(tmp_path):
    (tmp_path/"res").mkdir()
    (tmp_path/"res"/"t.csv").write_text("agent,score,mix\nHold,0.300,HOLD 91%\nPPO,0.36871,x\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("Hold 0.300, PPO 0.369 (rounded), 91% HOLD, -1.30 typed; env 2.0.0; 8 episodes."),
        nbformat.v4.new_code_cell("print(0.123456)")])
    nbformat.write(nb, tmp_path/"n.ipynb")
    assert [t for _, t in markdown_numbers(tmp_path/"n.ipynb")] == ["0.300", "0.369", "91%", "-1.30"]
    assert untraced_numbers(tmp_path/"n.ipynb", [tmp_path/"res"]) == [(0, "-1.30")]


def test_paper_tables_put_ours_beside_published(cfg):
    t = paper_tables(cfg)
    pub = pd.read_csv(published_dir(cfg)/"experiments.csv")
    exp = t["experiments"]
    assert list(exp.experiment[:len(pub)]) == list(pub.experiment)   # every published row, in its order
    assert {"published_static", "published_neural", "ours_static", "ours_static_ci_low", "ours_neural",
            "ours_diff_vs_start", "ours_diff_vs_start_ci_high", "ours_static_v1"} <= set(exp.columns)
    ours = pd.read_csv(cfg.results_dir/"experiments.csv").set_index("experiment")
    assert exp.set_index("experiment").loc["grpo_neural", "ours_static"] == ours.loc["grpo_neural", "static_score_mean"]
    base = t["baselines"]
    assert set(pd.read_csv(published_dir(cfg)/"baselines.csv").agent) <= set(base.published_agent.dropna())
    assert {"DQN", "Random"} <= set(base.ours_agent)   # our extra agents after the published rows
    assert set(t["crypto"].published_approach.dropna()) == set(pd.read_csv(published_dir(cfg)/"crypto.csv").approach)


def test_bad_results_name_the_file_and_column(tmp_path, cfg):
    out = Config(output_dir=tmp_path)
    out.results_dir.mkdir()
    for f in cfg.results_dir.glob("*.csv"):
        df = pd.read_csv(f)
        if f.name == "experiments.csv": df = df.drop(columns=["neural_score_mean"])
        df.to_csv(out.results_dir/f.name, index=False)
    with pytest.raises(KeyError, match=r"experiments\.csv.*neural_score_mean"):
        paper_tables(out)
    (out.results_dir/"experiments.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"experiments\.csv"):
        paper_tables(out)


def test_side_by_side_errors():
    ours = pd.DataFrame(dict(k=["a", "a"], v=[1, 2])); ours.attrs["source"] = "results/o.csv"
    pub = pd.DataFrame(dict(k=["a"], v=[3])); pub.attrs["source"] = "data/published/p.csv"
    with pytest.raises(ValueError, match=r"results/o\.csv.*several rows"):
        side_by_side(ours, pub, "k", ["v"], ["v"])
    with pytest.raises(KeyError, match=r"data/published/p\.csv.*'w'"):
        side_by_side(ours.iloc[:1], pub, "k", ["v"], ["w"])


def test_stages_figure_written(tmp_path, cfg):
    exp = paper_tables(cfg)["experiments"]
    stages_figure(exp, tmp_path/"s.png", hold=0.3, dpi=50)
    assert (tmp_path/"s.png").stat().st_size > 1000


def test_key_numbers_merge(tmp_path):
    c = Config(output_dir=tmp_path)
    key_numbers(c, "90_paper", b=0.1234567, a="x")
    key_numbers(c, "09_evaluate", best=1)
    key_numbers(c, "90_paper", b=2.0)
    text = (c.results_dir/"key_numbers.json").read_text()
    assert json.loads(text) == {"09_evaluate": {"best": 1}, "90_paper": {"a": "x", "b": 2.0}}
    assert text.index("09_evaluate") < text.index("90_paper") and text.index('"a"') < text.index('"b"')
    with pytest.raises(TypeError, match="b=<object"):
        key_numbers(c, "90_paper", b=object())
