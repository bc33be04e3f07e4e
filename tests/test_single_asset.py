"The single-asset env of the DQN write-up (chapter 28): accounting, causality, modes, scoring, decisions."
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings, strategies as st

from tradenb.core import Config
from tradenb.single_asset import (FEE, SingleAssetConfig, SingleAssetEnv, asset_series, balanced_decisions,
                                  buy_and_hold_policy, chat_dataset, dqn_decisions, hold_policy, pinned_starts, play,
                                  train_dqn)

CRYPTO = Config.from_profile("smoke", universe="crypto")


@pytest.fixture(scope="module")
def eth():
    return asset_series("ETH", cfg=CRYPTO)


@pytest.mark.parametrize("mode", ["numeric", "text"])
def test_env_passes_gymnasium_checks(eth, mode):
    check_env(SingleAssetEnv(eth, SingleAssetConfig(split="val", mode=mode)), skip_render_check=True)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=30, max_size=30), st.integers(0, 300))
def test_equity_is_cash_plus_position_and_fees_are_paid(actions, k):
    eth = asset_series("ETH", cfg=CRYPTO)
    env = SingleAssetEnv(eth, SingleAssetConfig(split="test"))
    env.reset(options={"start": env.starts[k % len(env.starts)]})
    trades, zero = 0, SingleAssetEnv(eth, SingleAssetConfig(split="test", fee=0.0))
    zero.reset(options={"start": env.t})
    for a in actions:
        *_, info = env.step(a); *_, zinfo = zero.step(a)
        trades += info["traded"]
        assert info["equity"] == pytest.approx(env.cash + env.units * eth.close[env.t])
        assert info["invested"] in (0.0, 1.0)
    # the same trades without fees end exactly (1 - fee)^trades richer than with them
    assert env.equity() == pytest.approx(zero.equity() * (1 - FEE) ** trades, rel=1e-9)


def test_hold_scores_no_skill_and_buy_and_hold_trades_once(eth):
    env = SingleAssetEnv(eth, SingleAssetConfig(split="test"))
    starts = pinned_starts(env, 5)
    assert starts == pinned_starts(env, 5) and len(starts) == 5
    mk = lambda: SingleAssetEnv(eth, SingleAssetConfig(split="test"))
    hold, bh = play(hold_policy, mk, starts), play(buy_and_hold_policy, mk, starts)
    assert np.allclose(hold.score, 0.3) and (hold.trade_steps == 0).all()
    assert (bh.trade_steps == 1).all()
    c = eth.close
    assert bh.total_return.iloc[0] == pytest.approx((1 - FEE) * c[starts[0] + 30] / c[starts[0]] - 1)


def test_text_mode_says_what_the_numbers_say(eth):
    num = SingleAssetEnv(eth, SingleAssetConfig(split="val"))
    txt = SingleAssetEnv(eth, SingleAssetConfig(split="val", mode="text"))
    o, _ = num.reset(options={"start": num.lo}); t, _ = txt.reset(options={"start": num.lo})
    assert "flat" in t and o[-1] == 0
    o, *_ = num.step(1); t, *_ = txt.step(1)
    assert "long" in t and o[-1] == 1
    today = float(t.split("oldest first: ")[1].split("\n")[0].split()[-1].rstrip("%"))
    assert today == pytest.approx(100 * np.expm1(o[-4] / 10), abs=0.051)


def test_bad_input_is_named(eth):
    with pytest.raises(ValueError, match="usable days"):
        SingleAssetEnv(eth, SingleAssetConfig(split="test", episode_len=10_000))
    with pytest.raises(ValueError, match="fee"): SingleAssetConfig(fee=1.5)
    with pytest.raises(ValueError, match="not in the panel"): asset_series("XRP", cfg=CRYPTO)


def test_decisions_are_regime_balanced_and_become_a_dataset(eth, tmp_path):
    pytest.importorskip("stable_baselines3")
    model, sps = train_dqn(eth, 300, seed=0)
    assert sps > 0
    pool = dqn_decisions(model, eth, "train", stride=20)
    bal = balanced_decisions(pool, 40, seed=1)
    counts = bal.regime.value_counts()
    assert len(counts) == 5 and counts.max() - counts.min() <= 1
    ds = chat_dataset(bal, tmp_path/"dqn", record=dict(seed=0))
    assert len(ds) == 40 and ds[0]["messages"][-1]["content"].startswith("Decision: ")
    card = (tmp_path/"dqn"/"README.md").read_text()
    assert "Counts by regime and action" in card and "total" in card
