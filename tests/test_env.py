"The environment contract the rest of the project relies on."
import re

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tradenb.data import split_bounds
from tradenb.env import ENV_VERSION, OBS_MODES, TASKS, TradingEnv, buy_and_hold_policy, hold_action

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def make(task="easy", mode="numeric", split="train", **kw):
    return gym.make("tradenb/Trading-v1", task=task, obs_mode=mode, split=split, **kw)


def play(env, policy=None, seed=0):
    obs, info = env.reset(seed=seed)
    trace = [(obs, info)]
    while True:
        a = policy(obs, env) if policy else hold_action(env)
        obs, r, term, trunc, info = env.step(a)
        trace.append((obs, info))
        if term or trunc:
            return trace


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("mode", OBS_MODES)
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_hold_scores_exactly_0_300_and_episode_stays_in_split(task, mode, split):
    env = make(task, mode, split)
    lo, hi = split_bounds(split)
    for seed in range(3):
        trace = play(env, seed=seed)
        assert len(trace) - 1 == TASKS[task].n_steps
        final = trace[-1][1]
        assert final["score"] == 0.3 and final["metrics"]["parse_errors"] == 0
        dates = pd.to_datetime([i["date"] for _, i in trace])
        assert dates.is_monotonic_increasing and dates.min() >= lo and dates.max() <= hi
        for obs, info in trace:
            assert SEMVER.match(info["env_version"]) and SEMVER.match(info["task_version"])
            assert info["env_version"] == ENV_VERSION
            assert env.observation_space.contains(obs)
        assert len(env.unwrapped.symbols) == TASKS[task].n_symbols


def test_final_metrics_are_complete():
    m = play(make("medium", "numeric"), lambda o, e: np.full(10, 0.5, np.float32))[-1][1]["metrics"]
    assert {"sharpe", "sortino", "max_drawdown", "total_return", "activity", "composite", "parse_errors"} <= set(m)
    assert 0 < m["activity"] <= 1


@pytest.mark.parametrize("mode", OBS_MODES)
def test_same_seed_same_episode_other_seed_other(mode):
    rng_actions = lambda: (lambda g: (lambda o, e: g.uniform(-1, 1, 10).astype(np.float32)
                                      if mode == "numeric" else f"BUY {e.unwrapped.symbols[g.integers(10)]} 0.3"))(
        np.random.default_rng(1))
    a, b = play(make("medium", mode), rng_actions(), seed=11), play(make("medium", mode), rng_actions(), seed=11)
    eq = lambda x, y: x == y if isinstance(x, str) else np.array_equal(x, y)
    assert all(eq(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b))
    c = play(make("medium", mode), rng_actions(), seed=12)
    assert not all(eq(x[0], y[0]) for x, y in zip(a, c))


def test_text_and_numeric_modes_describe_the_same_episode():
    t, n = make("medium", "text"), make("medium", "numeric")
    a = play(t, buy_and_hold_policy, seed=4)
    b = play(n, buy_and_hold_policy, seed=4)
    assert t.unwrapped.symbols == n.unwrapped.symbols
    assert [i["date"] for _, i in a] == [i["date"] for _, i in b]
    assert a[-1][1]["metrics"]["total_return"] == pytest.approx(b[-1][1]["metrics"]["total_return"], rel=1e-6)


def test_pinned_episode_options():
    env = TradingEnv("medium", "numeric", "test")
    env.reset(seed=3)
    start, syms = env._dates[0], list(env.symbols)
    env.reset(seed=99, options={"start_date": start, "symbols": syms})
    assert env._dates[0] == start and env.symbols == syms
    with pytest.raises(ValueError, match="not a valid episode start"):
        env.reset(options={"start_date": "2019-01-01", "symbols": syms})
    with pytest.raises(ValueError, match="unknown symbol"):
        env.reset(options={"start_date": start, "symbols": ["NOPE"] * 10})


def test_observation_never_shows_the_future(panel):
    "Perturbing every bar after an episode's day t leaves the observations up to t unchanged."
    env = TradingEnv("easy", "text", "test", data=panel)
    obs, info = env.reset(seed=5)
    seen = [obs]
    for _ in range(5):
        obs, *_ , info = env.step("HOLD")
        seen.append(obs)
    cut = pd.Timestamp(info["date"])
    noisy = panel.copy()
    fut = noisy.date > cut
    noisy.loc[fut, ["open", "high", "low", "close"]] *= 1.5
    env2 = TradingEnv("easy", "text", "test", data=noisy)
    obs2, _ = env2.reset(seed=5)
    seen2 = [obs2] + [env2.step("HOLD")[0] for _ in range(5)]
    assert seen == seen2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=200), st.sampled_from(
    ["", "buy", "SELL ??? 2", "<think>hmm", "BUY NOPE 0.5", "HOLD HOLD", "\x00\x01", "BUY 1e309", "SELL -3",
     "BUY RELIANCE 1e309", "<think>a</think>BUY", "SELL TCS 0.0", "x" * 10_000])), min_size=30, max_size=30))
def test_junk_text_actions_never_crash_and_are_counted(actions):
    env = TradingEnv("medium", "text", "val")
    env.reset(seed=0)
    errs = 0
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        errs += info["parse_error"]
        assert np.isfinite(r)
        if term: break
    assert info["metrics"]["parse_errors"] == errs and 0 <= info["score"] <= 1


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="Unknown task 'nightmare'.*easy"):
        make("nightmare")
    with pytest.raises(ValueError, match="Unknown obs_mode 'image'"):
        make(mode="image")
    with pytest.raises(ValueError, match="Unknown split 'oos'"):
        make(split="oos")
    with pytest.raises(ValueError, match="empty"):
        TradingEnv(data=pd.DataFrame(columns=["date", "symbol", "open", "high", "low", "close", "volume"]))
    env = TradingEnv("easy", "numeric")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(1))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
    for _ in range(20): env.step(np.zeros(1, np.float32))
    with pytest.raises(RuntimeError, match="over"):
        env.step(np.zeros(1, np.float32))


def test_nan_numeric_action_is_a_counted_hold():
    env = TradingEnv("easy", "numeric")
    env.reset(seed=0)
    _, r, _, _, info = env.step(np.array([np.nan], np.float32))
    assert info["parse_error"] and info["hold"] and r == 0.0


def test_runs_on_a_users_own_panel(small_panel):
    "A user's panel (no known universe) is split by proportion and runs every task that fits."
    env = TradingEnv("easy", "text", "test", data=small_panel.assign(symbol=small_panel.symbol + "_X"))
    obs, _ = env.reset(seed=0)
    assert env.symbols[0].endswith("_X") and env.symbols[0] in obs
    with pytest.raises(ValueError, match="has 10 symbols"):
        TradingEnv("medium", "numeric", "test", data=small_panel)


def test_checkers_pass():
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check
    for mode in OBS_MODES:
        check_env(TradingEnv("hard", mode, "train"), skip_render_check=True)
    sb3_check(TradingEnv("hard", "numeric", "train"), warn=False)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_vector_env_plays_the_single_envs_episodes(task):
    from tradenb.env import TradingVectorEnv
    B, L, N = 3, TASKS[task].n_steps, TASKS[task].n_symbols
    venv = TradingVectorEnv(B, task, "test")
    singles = [TradingEnv(task, "numeric", "test") for _ in range(B)]
    vobs, _ = venv.reset(seed=21)
    np.testing.assert_array_equal(vobs, np.stack([e.reset(seed=21 + i)[0] for i, e in enumerate(singles)]))
    rng = np.random.default_rng(0)
    for episode in range(2):  # the second episode comes from the same-step autoreset
        for k in range(L):
            a = rng.uniform(-1, 1, (B, N)).astype(np.float32)
            vobs, vr, vterm, _, vinfo = venv.step(a)
            outs = [e.step(ai) for e, ai in zip(singles, a)]
            np.testing.assert_allclose(vr, [o[1] for o in outs], rtol=0, atol=1e-12)
        assert vterm.all()
        np.testing.assert_allclose(vinfo["score"], [o[4]["score"] for o in outs], atol=1e-12)
        np.testing.assert_allclose(vobs, np.stack([e.reset()[0] for e in singles]), atol=1e-6)
