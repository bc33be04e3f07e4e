"""scripts/compare_results.py: what `make test-nbval` uses to check a fresh run against the committed results/."""
import shutil
from pathlib import Path

import pandas as pd
import pytest
from script_loader import load_script

ROOT = Path(__file__).resolve().parents[1]
cr = load_script("compare_results")


def _table(rows):
    return pd.DataFrame(rows, columns=["experiment", "stage", "status", "steps", "static_score_mean",
                                       "static_score_ci_low", "static_score_ci_high", "kl_final", "seconds"])


@pytest.fixture
def folders(tmp_path):
    a = _table([["base", "none", "ran", 0, 0.31, 0.29, 0.33, "", 10.0],
                ["grpo_v2", "grpo", "ran", 12, 0.30, 0.28, 0.32, 0.05, 30.0],
                ["sft_v2", "sft", "ran", 60, 0.32, 0.30, 0.34, "", 12.0]])
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
    assert _run(tmp, a.assign(seconds=[99.0, 1.0, 5.0])) == 0


def test_a_deterministic_row_must_match_exactly(folders):
    tmp, a = folders
    b = a.copy(); b.loc[0, "static_score_mean"] = 0.3100001
    assert _run(tmp, b) == 1


def test_a_sampled_row_tolerates_diagnostics_and_a_score_inside_the_ci(folders, capsys):
    tmp, a = folders
    b = a.copy(); b.loc[1, "kl_final"] = 0.11; b.loc[1, "static_score_mean"] = 0.31
    assert _run(tmp, b) == 0
    assert "sampled-training rows differ" in capsys.readouterr().out


def _moved(a, i, mean):
    "A copy of `a` whose row `i` scored `mean` with a CI of +-0.02 (outside the committed CI when far enough)."
    b = a.copy()
    b.loc[i, ["static_score_mean", "static_score_ci_low", "static_score_ci_high"]] = [mean, mean - 0.02, mean + 0.02]
    return b


def test_a_sampled_row_reports_a_score_outside_the_ci_as_another_draw(folders, capsys):
    # one training draw vs another (another machine's kernels): printed, not failed
    tmp, a = folders
    b = _moved(a, 1, 0.40)
    assert _run(tmp, b) == 0
    assert "outside the other run's CI" in capsys.readouterr().out


def test_a_sampled_row_fails_when_a_filled_column_goes_empty(folders):
    tmp, a = folders
    b = a.copy(); b["kl_final"] = b["kl_final"].astype(object); b.loc[1, "kl_final"] = ""
    assert _run(tmp, b) == 1


def test_a_fill_rate_may_go_empty_in_another_draw(folders):
    tmp, a = folders
    a = a.assign(fill_rate=[0.5, 0.0, 1.0]); a.to_csv(tmp/"A"/"experiments.csv", index=False)
    b = a.astype({"fill_rate": object}); b.loc[1, "fill_rate"] = ""     # this draw placed no order
    assert _run(tmp, b) == 0
    b.loc[1, "fill_rate"] = 0.0; b.loc[0, "fill_rate"] = ""   # the untrained base row stays exact
    assert _run(tmp, b) == 1


def test_an_episode_level_row_is_a_sampled_row(folders):
    tmp, a = folders
    a.loc[1, "stage"] = "grpo_episode"; a.to_csv(tmp/"A"/"experiments.csv", index=False)
    b = a.copy(); b.loc[1, "kl_final"] = 0.2
    assert _run(tmp, b) == 0


def test_an_sft_row_is_a_sampled_row(folders, capsys):
    # trained deterministically, but on another CPU's kernels another draw (sft_v2: label accuracy 0.67 vs 0.76)
    tmp, a = folders
    b = _moved(a, 2, 0.20)
    assert _run(tmp, b) == 0
    assert "outside the other run's CI" in capsys.readouterr().out
    b.loc[2, "steps"] = 30   # what was run is still checked exactly
    assert _run(tmp, b) == 1


def test_garch_rows_of_the_world_model_validation_are_sampled(tmp_path):
    cols = ["generator", "statistic", "value", "ci_low", "ci_high", "seed"]
    a = pd.DataFrame([["GARCH", "kurtosis", 9.1, 7.0, 11.0, 0], ["neural", "kurtosis", 5.0, 4.0, 6.0, 0]], columns=cols)
    (tmp_path/"A").mkdir(); (tmp_path/"B").mkdir(); a.to_csv(tmp_path/"A"/"wmv.csv", index=False)
    a.to_csv(tmp_path/"A"/"world_model_validation.csv", index=False)
    b = a.copy(); b.loc[0, "value"] = 9.3
    b.to_csv(tmp_path/"B"/"world_model_validation.csv", index=False)
    a.to_csv(tmp_path/"B"/"wmv.csv", index=False)
    assert cr.main([str(tmp_path/"A"), str(tmp_path/"B")]) == 0
    b.loc[1, "value"] = 5.1   # the neural row stays exact
    b.to_csv(tmp_path/"B"/"world_model_validation.csv", index=False)
    assert cr.main([str(tmp_path/"A"), str(tmp_path/"B")]) == 1


def test_a_sampled_row_fails_when_its_spec_changes(folders):
    tmp, a = folders
    b = a.copy(); b.loc[1, "steps"] = 10
    assert _run(tmp, b) == 1


def test_the_committed_results_match_themselves(tmp_path):
    shutil.copytree(ROOT/"results", tmp_path/"r")
    assert cr.main([str(ROOT/"results"), str(tmp_path/"r")]) == 0


def test_a_raft_rows_steps_are_an_outcome_of_its_draw(folders):
    tmp, a = folders
    a = pd.concat([a, _table([["raft_base", "raft", "ran", 10, 0.30, 0.28, 0.32, "", 5.0]])], ignore_index=True)
    a.to_csv(tmp/"A"/"experiments.csv", index=False)
    b = a.copy(); b.loc[3, "steps"] = 0          # no winner in this draw: nothing trained
    assert _run(tmp, b) == 0
    b.loc[2, "steps"] = 30                        # an SFT row's steps are its recipe
    assert _run(tmp, b) == 1


def _dqn_gguf(tmp_path):
    cols = ["agent", "n_episodes", "score", "agreement_dqn", "stage1", "gguf_sha256"]
    h = "{'F16': 'aa'}"
    a = pd.DataFrame([["DQN", 6, 0.197, 1.0, "sft_v2", h], ["Hold", 6, 0.3, "", "sft_v2", h],
                      ["GGUF F16", 3, 0.279, 0.1, "sft_v2", h]], columns=cols)
    (tmp_path/"A").mkdir(); (tmp_path/"B").mkdir(); a.to_csv(tmp_path/"A"/"dqn_gguf.csv", index=False)
    def run(b):
        b.to_csv(tmp_path/"B"/"dqn_gguf.csv", index=False)
        return cr.main([str(tmp_path/"A"), str(tmp_path/"B")])
    return a, run


def test_dqn_gguf_trained_rows_are_sampled_and_hold_stays_exact(tmp_path):
    a, run = _dqn_gguf(tmp_path)
    b = a.copy(); b.loc[0, "score"] = 0.25; b.loc[2, "agreement_dqn"] = 0.2; b["gguf_sha256"] = "{'F16': 'bb'}"
    assert run(b) == 0                            # another draw of the DQN and of the LM; every row's file hashes
    b.loc[1, "score"] = 0.31
    assert run(b) == 1                            # Hold is not trained
    b = a.copy(); b.loc[2, "stage1"] = "short fine-tune"
    assert run(b) == 1                            # what was run is checked exactly


def test_the_differences_are_repeated_at_the_end(folders, capsys):
    tmp, a = folders
    b = a.copy(); b.loc[0, "static_score_mean"] = 0.5
    assert _run(tmp, b) == 1
    out = capsys.readouterr().out.splitlines()
    tail = out[out.index("differences:"):]
    assert tail[1].strip() == "experiments.csv" and any("static_score_mean" in line for line in tail)
