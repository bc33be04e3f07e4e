"The allocation environment's accounting, causality, repairs and determinism (chapter 24)."
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tradenb.allocation import (ALLOCATION_FAMILY, ALLOCATION_VERSION, SUM_TOLERANCE, AllocationEnv,
                                AllocationEnvConfig, CostModel, PPOAllocConfig, RewardConfig, allocation_data,
                                buy_and_hold_policy, feature_cube, play, ppo_policy, project_weights, rebalance,
                                reward_terms, softmax_weights, train_ppo)
from tradenb.core import Config

CRYPTO = Config.from_profile("smoke", universe="crypto")
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def data():
    return allocation_data(cfg=CRYPTO)


simplex = st.lists(st.floats(0, 10, allow_nan=False), min_size=4, max_size=4).filter(lambda w: sum(w) > 1e-3).map(
    lambda w: np.asarray(w) / sum(w))
rets = st.lists(st.floats(-0.9, 3, allow_nan=False), min_size=3, max_size=3).map(np.asarray)


@given(simplex, simplex, rets, st.floats(0, 500), st.floats(1e-3, 1e6))
@settings(max_examples=200, deadline=None)
def test_rebalance_accounting(d, w, r, fee, equity):
    s = rebalance(equity, d, w, r, CostModel(fee))
    assert s["turnover"] == pytest.approx(np.abs(w[:3] - d[:3]).sum())
    assert s["cost"] == pytest.approx(fee / 1e4 * s["turnover"] * equity)
    assert s["equity"] == pytest.approx(s["cash"] + s["holdings"].sum())          # the equity identity
    assert s["equity"] == pytest.approx((equity - s["cost"]) * s["gross_growth"])
    assert s["drifted"].sum() == pytest.approx(1.0) and (s["drifted"] >= -1e-12).all()
    assert s["cash"] == pytest.approx((equity - s["cost"]) * w[3])                # cash earns nothing and costs nothing
    assert rebalance(equity, w, w, r, CostModel(fee))["cost"] == 0.0             # no trade, no cost


@given(simplex, simplex, rets)
def test_costs_only_lower_equity(d, w, r):
    free, paid = rebalance(1.0, d, w, r, CostModel(0)), rebalance(1.0, d, w, r, CostModel(25))
    assert paid["equity"] <= free["equity"] + 1e-12


bad_numbers = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(st.lists(bad_numbers, min_size=4, max_size=4))
def test_projection_never_raises_and_is_on_the_simplex(w):
    p, why = project_weights(w)
    assert np.isfinite(p).all() and (p >= 0).all() and p.sum() == pytest.approx(1.0)
    arr = np.asarray(w, float)
    with np.errstate(over="ignore"):
        valid = np.isfinite(arr).all() and (arr >= 0).all() and abs(arr.sum() - 1) <= SUM_TOLERANCE
    assert (why is None) == valid
    q, why2 = softmax_weights(w)
    assert np.isfinite(q).all() and q.sum() == pytest.approx(1.0)
    assert (why2 is None) == bool(np.isfinite(arr).all())


@given(st.integers(200, 1500), st.floats(0.2, 5.0), st.integers(0, 2))
@settings(max_examples=25, deadline=None)
def test_features_are_causal(data, t, factor, sym):
    "Perturbing prices after day t leaves every feature up to t unchanged."
    bumped = data.close.copy()
    bumped[t + 1:, sym] *= factor
    bumped[t + 1:] *= np.linspace(1, factor, len(bumped) - t - 1)[:, None]
    assert np.array_equal(feature_cube(bumped)[:t + 1], data.features[:t + 1])


@given(st.integers(0, 300), st.floats(0.2, 5.0))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_observation_at_t_ignores_the_future(data, k, factor):
    import dataclasses
    env = AllocationEnv(data, "test"); env.reset()
    t = env.lo + k
    bumped = data.close.copy(); bumped[t + 1:] *= factor
    d2 = dataclasses.replace(data, close=bumped, features=feature_cube(bumped))
    env2 = AllocationEnv(d2, "test"); env2.reset()
    assert np.array_equal(env.observation(t), env2.observation(t))


def test_env_equity_is_the_product_of_steps(data):
    env = AllocationEnv(data, "val", AllocationEnvConfig(action_mode="weights", cost=CostModel(20)))
    rng = np.random.default_rng(1)
    obs, info = env.reset()
    assert info["family"] == ALLOCATION_FAMILY and info["version"] == ALLOCATION_VERSION
    eq, w, t = 1.0, info["weights"], env.t
    for _ in range(env.length):
        target = rng.dirichlet(np.ones(4))
        s = rebalance(eq, w, target, data.returns[t + 1], CostModel(20))
        _, _, done, _, info = env.step(target)
        eq, w, t = s["equity"], s["drifted"], t + 1
        assert info["equity"] == pytest.approx(eq, rel=1e-12) and info["weights"].sum() == pytest.approx(1)
        assert info["cash"] + info["holdings"].sum() == pytest.approx(info["equity"])
    assert done


@pytest.mark.parametrize("field,value,term", [("turnover_penalty", 0.3, "turnover"), ("drawdown_penalty", 2.0,
                                                                                      "drawdown"),
                                              ("cost_weight", 3.0, "cost")])
def test_each_reward_term_is_configurable(data, field, value, term):
    "Raising one weight lowers the reward by exactly that term's increase, the others fixed."
    base = dict(cost_weight=1.0, turnover_penalty=0.0, drawdown_penalty=0.0)
    s = rebalance(1.0, [0, 0, 0, 1], [0.6, 0.4, 0, 0], [-0.2, 0.1, 0], CostModel(10))
    lo = reward_terms(s, 0.0, 0.16, RewardConfig(**base))
    hi = reward_terms(s, 0.0, 0.16, RewardConfig(**{**base, field: value}))
    assert hi[term] > lo[term] > -1 and hi["reward"] == pytest.approx(lo["reward"] - (hi[term] - lo[term]))
    assert hi["log_return"] == lo["log_return"] == pytest.approx(math.log(0.88 + 0.04))


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="drawdown_penalty"): RewardConfig(drawdown_penalty=float("nan"))
    with pytest.raises(ValueError, match="action_mode"): AllocationEnvConfig(action_mode="shares")


def test_bad_weights_are_counted_not_fatal(data):
    env = AllocationEnv(data, "test", AllocationEnvConfig(action_mode="weights"))
    env.reset()
    for w in ([np.nan] * 4, [np.inf, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], [-1, 1, 0, 0], [0.25] * 4):
        _, r, _, _, info = env.step(w)
        assert math.isfinite(r) and info["weights"].sum() == pytest.approx(1)
    assert env.repairs == {"non_finite": 2, "not_normalised": 1, "negative": 1}


def test_train_episodes_are_seeded(data):
    a, b = AllocationEnv(data, "train"), AllocationEnv(data, "train")
    assert a.reset(seed=5)[1]["date"] == b.reset(seed=5)[1]["date"]
    assert len({AllocationEnv(data, "train").reset(seed=s)[1]["date"] for s in range(8)}) > 1


def test_buy_and_hold_trades_once(data):
    r = play(AllocationEnv(data, "test", AllocationEnvConfig(action_mode="weights")), buy_and_hold_policy)
    assert r["traded"].sum() == 1 and r["invested"].min() > 0.99


def test_ppo_is_deterministic_given_the_seed(data):
    runs = []
    for _ in range(2):
        m, stats = train_ppo(CRYPTO, data, PPOAllocConfig(timesteps=512, n_steps=64, batch_size=64, seed=3))
        runs.append(play(AllocationEnv(data, "val"), ppo_policy(m))["equity"])
        assert stats["timesteps"] >= 512
    np.testing.assert_array_equal(runs[0], runs[1])
