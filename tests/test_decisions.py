"Decisions: the GRPO prompt-set contract, the market state, no leakage, clear errors."
import re

import numpy as np
import pandas as pd
import pytest

from tradenb.data import split_bounds
from tradenb.decisions import GRPO_COLUMNS, grpo_prompt_set, rollout_decisions
from tradenb.env import TradingEnv
from tradenb.labeling import indicator_signal
from tradenb.prompts import SYSTEM_PROMPT, market_line, parse_action

DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


@pytest.fixture(scope="module", params=["easy", "medium"])
def gp(request, cfg):
    return request.param, grpo_prompt_set(cfg, "train", n=60, task=request.param, seed=3)


def test_grpo_contract_columns_and_types(gp):
    task, ds = gp
    assert len(ds) == 60 and set(GRPO_COLUMNS) <= set(ds.column_names)
    for ex in ds:
        n = len(ex["symbols"])
        assert n == {"easy": 1, "medium": 10}[task]
        assert [m["role"] for m in ex["prompt"]] == ["system", "user"] and ex["prompt"][0]["content"] == SYSTEM_PROMPT
        for col in ("close", "next_return", "horizon_return", "volatility", "signal"):
            assert len(ex[col]) == n, col
        assert all(np.isfinite(ex[c]).all() for c in ("close", "next_return", "horizon_return", "volatility"))
        assert min(ex["volatility"]) > 0 and set(ex["signal"]) <= {-1, 0, 1}
        assert not parse_action(ex["label"], ex["symbols"]).parse_error


def test_grpo_state_matches_the_market(gp, cube):
    "close / returns / volatility / signal recomputed independently from the cube."
    _, ds = gp
    dates = list(cube.date_str)
    for ex in ds.select(range(15)):
        t = dates.index(ex["date"])
        idx = [cube.symbols.index(s) for s in ex["symbols"]]
        c = cube.close
        np.testing.assert_allclose(ex["close"], c[t, idx])
        np.testing.assert_allclose(ex["next_return"], c[t + 1, idx] / c[t, idx] - 1, rtol=1e-9)
        np.testing.assert_allclose(ex["horizon_return"], c[t + 5, idx] / c[t, idx] - 1, rtol=1e-9)
        r = pd.Series(c[t - 20: t + 1, idx[0]]).pct_change().dropna()
        assert ex["volatility"][0] == pytest.approx(r.std(), rel=1e-9)
        assert ex["signal"] == indicator_signal(cube.features[t, idx]).tolist()


def test_grpo_prompts_are_env_observations_of_their_day(gp, cube):
    "The user message is the env's text observation of day t: its header date and market lines."
    _, ds = gp
    dates = list(cube.date_str)
    for ex in ds:
        user = ex["prompt"][1]["content"]
        assert user.splitlines()[0].endswith(f"| {ex['date']}")
        t = dates.index(ex["date"])
        for s in ex["symbols"]:
            assert market_line(cube, t, cube.symbols.index(s)) in user


def test_no_prompt_mentions_a_later_day_and_all_days_are_train(gp):
    _, ds = gp
    lo, hi = split_bounds("train")
    for ex in ds:
        d = pd.Timestamp(ex["date"])
        assert lo <= d <= hi
        # the forward signals come from inside the split too: t + 5 trading days is still train
        text = " ".join(m["content"] for m in ex["prompt"])
        assert all(pd.Timestamp(x) <= d for x in DATE.findall(text))


def test_grpo_is_deterministic_per_seed(cfg):
    a = grpo_prompt_set(cfg, n=10, seed=7)
    b = grpo_prompt_set(cfg, n=10, seed=7)
    c = grpo_prompt_set(cfg, n=10, seed=8)
    assert a["prompt"] == b["prompt"] and a["label"] == b["label"] and a["prompt"] != c["prompt"]


def test_bad_inputs_raise_clearly(cfg):
    with pytest.raises(ValueError, match="Unknown split"):
        grpo_prompt_set(cfg, "holdout", n=5)
    with pytest.raises(ValueError, match="Unknown task"):
        grpo_prompt_set(cfg, n=5, task="impossible")
    with pytest.raises(ValueError, match="n must be positive"):
        rollout_decisions(cfg, n=0)


def test_empty_split_is_an_error(cfg, panel):
    "A panel whose train split has no labelable days: a clear error, not an empty dataset."
    small = panel[panel.date >= "2024-06-01"]
    splits = {"train": ("2024-06-01", "2024-06-30"), "val": ("2024-07-01", "2024-12-31"), "test": ("2025-01-01", None)}
    with pytest.raises(ValueError, match="window|no decision day"):
        TradingEnv("easy", "text", "train", data=small, splits=splits)


def test_decision_state_labels_are_feasible_and_primary(cfg):
    "Oracle actions never SELL what is not held; a decision's action class is its primary action."
    from tradenb.decisions import decision_state, primary_action
    st = decision_state(cfg, rollout_decisions(cfg, "train", "medium", n=30, seed=4))
    for acts, held, action in zip(st.oracle_actions, st.held, st.action):
        assert not any(a == "SELL" and not h for a, h in zip(acts, held))
        assert action == primary_action(acts)
    with pytest.raises(ValueError, match="empty rows"):
        decision_state(cfg, st.iloc[:0])
