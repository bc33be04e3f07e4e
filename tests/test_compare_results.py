"""scripts/compare_results.py: what `make test-nbval` uses to check a fresh run against the committed results/."""
import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("compare_results", ROOT/"scripts"/"compare_results.py")
cr = importlib.util.module_from_spec(spec); spec.loader.exec_module(cr)


def _table(rows):
    return pd.DataFrame(rows, columns=["experiment", "stage", "status", "steps", "static_score_mean",
                                       "static_score_ci_low", "static_score_ci_high", "kl_final", "seconds"])


@pytest.fixture
def folders(tmp_path):
    a = _table([["sft_v2", "sft", "ran", 60, 0.31, 0.29, 0.33, "", 10.0],
                ["grpo_v2", "grpo", "ran", 12, 0.30, 0.28, 0.32, 0.05, 30.0]])
    (tmp_path/"A").mkdir(); (tmp_path/"B").mkdir()
    a.to_csv(tmp_path/"A"/"experiments.csv", index=False)
    return tmp_path, a


def _run(tmp_path, b):
    b.to_csv(tmp_path/"B"/"experiments.csv", index=False)
    return cr.main([str(tmp_path/"A"), str(tmp_path/"B")])


def test_identical_tables_match(folders):
    tmp, a = folders
    assert _run(tmp, a) == 0


def test_timing_columns_are_not_compared(folders):
    tmp, a = folders
    assert _run(tmp, a.assign(seconds=[99.0, 1.0])) == 0


def test_a_deterministic_row_must_match_exactly(folders):
    tmp, a = folders
    b = a.copy(); b.loc[0, "static_score_mean"] = 0.3100001
    assert _run(tmp, b) == 1


def test_a_sampled_row_tolerates_diagnostics_and_a_score_inside_the_ci(folders, capsys):
    tmp, a = folders
    b = a.copy(); b.loc[1, "kl_final"] = 0.11; b.loc[1, "static_score_mean"] = 0.31
    assert _run(tmp, b) == 0
    assert "sampled-training rows differ" in capsys.readouterr().out


def test_a_sampled_row_fails_when_the_score_leaves_the_ci(folders):
    tmp, a = folders
    b = a.copy(); b.loc[1, "static_score_mean"] = 0.40; b.loc[1, "static_score_ci_low"] = 0.38
    b.loc[1, "static_score_ci_high"] = 0.42
    assert _run(tmp, b) == 1


def test_a_sampled_row_fails_when_its_spec_changes(folders):
    tmp, a = folders
    b = a.copy(); b.loc[1, "steps"] = 10
    assert _run(tmp, b) == 1


def test_the_committed_results_match_themselves(tmp_path):
    shutil.copytree(ROOT/"results", tmp_path/"r")
    assert cr.main([str(ROOT/"results"), str(tmp_path/"r")]) == 0
