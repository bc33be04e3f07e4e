"The crypto comparison (chapter 27): Goodness's properties, window scores, the table's provenance."
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from tradenb.allocation import AllocationEnv, AllocationEnvConfig, allocation_data, buy_and_hold_policy, cash_policy, play
from tradenb.core import Config
from tradenb.crypto import (GOODNESS_DEFINITION, CompareConfig, compare_crypto, period_metrics, published_crypto,
                            window_scores)
from tradenb.grading import goodness

CRYPTO = Config.from_profile("smoke", universe="crypto")
ret = st.floats(-0.99, 5, allow_nan=False)
dd = st.floats(-0.99, 0, allow_nan=False)
srt = st.floats(-5, 9.9, allow_nan=False)
trades = st.integers(0, 500)


# Goodness is a reconstruction fitted to the write-up's two points: its tests check properties, not the points.
@given(ret, ret, dd, srt, trades)
def test_goodness_is_monotone_in_return(r1, r2, d, s, n):
    lo, hi = sorted((r1, r2))
    assert goodness(hi, d, s, n) >= goodness(lo, d, s, n)


@given(ret, dd, srt, srt, trades)
def test_goodness_is_monotone_in_sortino(r, d, s1, s2, n):
    lo, hi = sorted((s1, s2))
    assert goodness(r, d, hi, n) >= goodness(r, d, lo, n)


@given(ret, dd, dd, srt, trades)
def test_goodness_is_penalised_by_drawdown(r, d1, d2, s, n):
    small, big = sorted((abs(d1), abs(d2)))
    assert goodness(r, -big, s, n) <= goodness(r, -small, s, n)
    if big > small + 1e-9: assert goodness(r, -big, s, n) < goodness(r, -small, s, n)


@given(ret, dd, st.floats(allow_nan=True, allow_infinity=True), trades)
def test_goodness_is_finite_for_any_sortino(r, d, s, n):
    assert math.isfinite(goodness(r, d, s, n))   # the Sortino term is clipped (it once overflowed below -3.6e307)


def test_doing_nothing_is_not_good():
    assert goodness(0.0, 0.0, 0.0, 0) < goodness(0.0, 0.0, 0.0, 1)


@pytest.fixture(scope="module")
def base():
    data = allocation_data(cfg=CRYPTO)
    env = AllocationEnv(data, "test", AllocationEnvConfig(action_mode="weights"))
    bh, cash = play(env, buy_and_hold_policy), play(env, cash_policy)
    return data, bh, cash, data.returns[env.lo + 1:env.hi + 2].mean(-1)


def test_cash_scores_no_skill_in_every_window(base):
    _, bh, cash, market = base
    w = window_scores(cash, bh, market, 30)
    assert len(w) == 12 and np.allclose(w.score, 0.3) and (w.total_return == 0).all()
    assert period_metrics(cash)["goodness"] == pytest.approx(-0.4)     # the published all-hold value


def test_windows_do_not_overlap_and_cover_the_period(base):
    _, bh, _, market = base
    w = window_scores(bh, bh, market, 61)
    assert len(w) == 366 // 61
    starts = pd.to_datetime(w.start_date)
    assert (starts.diff().dropna() == pd.Timedelta(days=61)).all()
    np.testing.assert_allclose(np.prod(1 + w.total_return), bh["equity"][366] / bh["equity"][0])
    with pytest.raises(ValueError, match="no full 400-day window"): window_scores(bh, bh, market, 400)


def test_period_metrics_match_the_equity(base):
    _, bh, _, _ = base
    m = period_metrics(bh)
    assert m["return_pct"] == pytest.approx(100 * (bh["equity"][-1] - 1)) and m["n_trades"] == 1
    assert 0 < m["max_drawdown_pct"] < 100


def test_profile_scales():
    assert CompareConfig.for_profile(Config.from_profile("smoke")).n_seeds == 3
    full = CompareConfig.for_profile(Config.from_profile("full"))
    assert full.ppo_timesteps == 500_000 and full.n_seeds == 5 and full.plan_examples == 500


def test_baseline_table_carries_published_and_record(tmp_path):
    cfg = CRYPTO.replace(output_dir=tmp_path)
    table, runs = compare_crypto(cfg, rows=("baselines",))
    assert list(table.approach) == ["cash (hold)", "buy-and-hold (equal weight)"]
    assert (table.goodness_definition == GOODNESS_DEFINITION).all() and "reconstruction" in GOODNESS_DEFINITION
    for k in ("data_sha256", "task_version", "env_version", "profile", "git_commit", "family"): assert table[k].notna().all()
    assert table.test_first_day.iloc[0] == "2024-01-01" and table.test_last_day.iloc[0] == "2024-12-31"
    pub = published_crypto(cfg)
    assert {"PPO allocation (SB3)", "HF-style transformer trader", "Qwen LoRA plan writer"} <= set(pub.index)
    with pytest.raises(ValueError, match="unknown row group"): compare_crypto(cfg, rows=("nope",))


def test_every_row_end_to_end_at_toy_scale(tmp_path):
    "All row groups with toy budgets: one row each, the published columns where published, files written."
    from tradenb.crypto import LAYERED_ROW, PUBLISHED_ROWS, TRADER_ROWS, crypto_bench, write_comparison
    cfg = CRYPTO.replace(output_dir=tmp_path)
    cc = CompareConfig.for_profile(cfg, n_seeds=1, ppo_timesteps=256, transformer_epochs=1, plan_examples=16,
                                   plan_sft_steps=2, plan_every=120, plan_sft=dict(batch_size=4))
    table, runs = compare_crypto(cfg, cc)
    want = ["cash (hold)", "buy-and-hold (equal weight)", "PPO allocation", *TRADER_ROWS, "plan LM (LoRA SFT)",
            LAYERED_ROW]
    assert list(table.approach) == want and (table.n_seeds == 1).all()
    pub = table.set_index("approach")
    assert pub.loc[list(PUBLISHED_ROWS), "published_return_pct"].notna().all()
    assert pub.drop(index=list(PUBLISHED_ROWS)).published_return_pct.isna().all()
    lm = pub.loc["plan LM (LoRA SFT)"]
    assert lm.invalid_decisions + lm.valid_plan_share * 12 == pytest.approx(12)   # 4 plan days x 3 coins, each counted
    assert ((table.score_ci_low <= table.score_mean + 1e-12) & (table.score_mean <= table.score_ci_high + 1e-12)).all()
    paths = write_comparison(table, runs, cfg)
    assert paths["csv"].exists() and paths["figure"].stat().st_size > 10_000
    bench = crypto_bench(cfg, allocation_data(cfg=cfg), runs, steps=200)
    assert (bench.value > 0).all() and len(bench) == 6
