"The world model (chapter 34), the neural environment and the harder variants (chapter 05)."
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings, strategies as st

from tradenb.data import split_bounds
from tradenb.env import OBS_MODES, TradingEnv, TradingVectorEnv, run_episode, variant_penalties
from tradenb.features import MarketCube
from tradenb.world_model import (WorldModelConfig, episode_cube, load_world_model, sample_paths, save_world_model,
                                 train_world_model)

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def wm(cube, cfg):
    "A world model trained for two epochs (about a second): the mechanics, not the quality, are under test."
    torch.set_num_threads(1)
    return train_world_model(cube, cfg, WorldModelConfig(epochs=2), val_split=None)


def _copy(cube, **changes):
    arrs = {k: getattr(cube, k).copy() for k in ("open", "high", "low", "close", "volume")}
    fields = dict(dates=cube.dates, symbols=cube.symbols, features=cube.features, valid=cube.valid,
                  sha256=cube.sha256, universe=cube.universe, **arrs)
    return MarketCube(**{**fields, **changes})


def test_trained_on_the_train_split_only(wm, cube):
    last_train = np.datetime64(split_bounds("train", cube.universe)[1].date())
    assert np.datetime64(wm.record["train_last_target_date"]) <= last_train
    assert wm.record["split"] == "train" and wm.record["data_sha256"] == cube.sha256
    assert {"seed", "train_losses", "config", "git_commit", "feature_set", "universe"} <= set(wm.record)


def test_bars_are_consistent_and_seeded(wm, cube):
    starts, idx = np.array([200, 300, 400]), np.array([[0, 5, 9], [1, 2, 3], [10, 20, 30]])
    b = sample_paths(wm, cube, starts, idx, 30, 7)
    o, h, l, c, v = (b[k] for k in ("open", "high", "low", "close", "volume"))
    assert c.shape == (3, 30, 3)
    assert (h >= np.maximum(o, c)).all() and (l <= np.minimum(o, c)).all() and (l > 0).all() and (v > 0).all()
    again = sample_paths(wm, cube, starts, idx, 30, 7)
    assert all(np.array_equal(b[k], again[k]) for k in b)
    assert not np.array_equal(c, sample_paths(wm, cube, starts, idx, 30, 8)["close"])


@pytest.mark.parametrize("start", [120, 350, 500])
def test_no_lookahead(wm, cube, start):
    "Perturbing every real bar after the start day leaves the generated path unchanged."
    rng = np.random.default_rng(start)
    noisy = _copy(cube)
    scale = rng.uniform(0.5, 1.5, noisy.close[start + 1:].shape)
    for k in ("open", "high", "low", "close", "volume"): getattr(noisy, k)[start + 1:] *= scale
    idx = np.array([[3, 4, 7, 11]])
    a, b = sample_paths(wm, cube, [start], idx, 20, 1), sample_paths(wm, noisy, [start], idx, 20, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # and the episode cube (the indicators on the generated days) is unchanged too
    ea, ta, ca = episode_cube(cube, [start], idx, a)
    eb, tb, cb = episode_cube(noisy, [start], idx, b)
    assert ta == tb and np.array_equal(ea.features, eb.features, equal_nan=True)


def test_bad_input_names_both_sides(wm, cube, tmp_path):
    path = save_world_model(wm, tmp_path/"wm.pt")
    other = _copy(cube, sha256="f" * 64)
    with pytest.raises(ValueError, match=f"data hash '{cube.sha256}'.*data hash '{'f' * 64}'"):
        load_world_model(path, other)
    with pytest.raises(ValueError, match="universe 'nifty50'.*universe 'crypto'"):
        TradingEnv(source="neural", world_model=wm, data=_copy(cube, universe="crypto"))
    wm2 = load_world_model(path, cube)
    wm2.record = {**wm2.record, "feature_set": ["r", "0"]}
    with pytest.raises(ValueError, match="feature set"):
        TradingEnv(source="neural", world_model=wm2)
    with pytest.raises(FileNotFoundError, match="chapter 34"):
        TradingEnv(source="neural", world_model=tmp_path/"missing.pt")


@pytest.mark.parametrize("mode", OBS_MODES)
def test_neural_env_checks_and_determinism(wm, mode):
    check_env(TradingEnv("medium", mode, "train", source="neural", world_model=wm), skip_render_check=True)
    env = gym.make("tradenb/Trading-v1", task="easy", obs_mode=mode, split="test", source="neural", world_model=wm)

    def trace(seed):
        obs, info = env.reset(seed=seed)
        out = [obs]
        while True:
            obs, _, term, _, info = env.step("HOLD" if mode == "text" else np.zeros(1, np.float32))
            out.append(obs)
            if term: return out, info, env.unwrapped.episode_prices().copy()
    a, ia, pa = trace(11)
    b, ib, pb = trace(11)
    c, _, pc = trace(12)
    assert ia["task_version"] == "2.0.0+neural1" and abs(ia["score"] - 0.3) < 1e-12
    assert np.array_equal(pa, pb) and all((x == y) if isinstance(x, str) else np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(pa, pc)


def test_neural_indicators_as_on_real_bars(wm, cube):
    "The episode's indicators are chapter 02's, computed on real history + generated bars."
    from tradenb.features import compute_features
    import pandas as pd
    env = TradingEnv("easy", "numeric", "test", source="neural", world_model=wm)
    env.reset(seed=5)
    ep, t0, cols = env._view, env._vt, env._vidx
    j = int(cols[0])
    panel = pd.DataFrame({"date": ep.dates.astype("datetime64[ns]"), "symbol": "X", "open": ep.open[:, j],
                          "high": ep.high[:, j], "low": ep.low[:, j], "close": ep.close[:, j], "volume": ep.volume[:, j]})
    ref = compute_features(panel)[["rsi_14", "macd_hist", "bb_pctb", "trend", "volatility", "volume_z", "momentum"]]
    assert np.allclose(ep.features[:, j], ref.to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True)
    assert np.array_equal(ep.close[t0:, j], env.episode_prices("close")[:, 0])


def test_vector_neural_env(wm):
    v = TradingVectorEnv(8, "easy", "test", prefetch=3, source="neural", world_model=wm)
    def episodes(seed, n):
        v.reset(seed=seed); closes = []
        for _ in range(n):
            closes.append(v._close.copy())
            for _ in range(20): _, _, done, _, info = v.step(np.zeros((8, 1)))
            assert done.all() and np.allclose(info["score"], 0.3)
        return closes
    a, b = episodes(0, 4), episodes(0, 4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))                  # same seed, same paths
    assert not any(np.array_equal(a[i], a[j]) for i in range(4) for j in range(i))   # fresh paths every reset


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), variant=st.sampled_from(["drawdown", "holding", "streak", "v3.1"]),
       actions=st.lists(st.floats(-1, 1), min_size=30, max_size=30))
def test_variants_never_raise_a_score(seed, variant, actions):
    "On the same episode and actions, a harder variant's score and every reward are <= the plain task's."
    def play(variants):
        env = TradingEnv("medium", "numeric", "test", variants=variants)
        env.reset(seed=seed); rewards = []
        for a in actions:
            _, r, term, _, info = env.step(np.full(10, a, np.float32)); rewards.append(r)
        return info, np.array(rewards)
    (base, rb), (hard, rh) = play(()), play(variant)
    assert hard["score"] <= base["score"] + 1e-12 and (rh <= rb + 1e-12).all()
    assert abs(hard["metrics"]["score_base"] - base["score"]) < 1e-12
    assert hard["task_version"] != base["task_version"]


def test_variant_penalties_are_causal():
    rng = np.random.default_rng(0)
    eq = 100 * np.cumprod(1 + rng.normal(0, 0.02, 31)); inv = rng.uniform(0, 1, 30)
    full = variant_penalties(eq, inv, "v3.1")
    for k in (5, 17, 30):
        assert np.allclose(variant_penalties(eq[: k + 1], inv[:k], "v3.1"), full[:k])


def test_env_level_lookahead(wm, cube):
    "The neural env's episode is unchanged when every real bar after its start day is perturbed."
    env = TradingEnv("medium", "numeric", "test", source="neural", world_model=wm, data=cube)
    env.reset(seed=21)
    s, closes, obs = env.episode_start, env.episode_prices().copy(), env._obs.copy()
    noisy = _copy(cube)
    scale = np.random.default_rng(0).uniform(0.5, 1.5, noisy.close[s + 1:].shape)
    for k in ("open", "high", "low", "close", "volume"): getattr(noisy, k)[s + 1:] *= scale
    other = TradingEnv("medium", "numeric", "test", source="neural", world_model=wm, data=noisy)
    other.reset(seed=21)
    assert other.episode_start == s and np.array_equal(other.episode_prices(), closes)
    assert np.array_equal(other._obs, obs)


def test_collect_neural_prompts(wm, cfg):
    from tradenb.decisions import GRPO_COLUMNS
    from tradenb.grpo_rewards import check_prompt_set
    from tradenb.world_model_eval import collect_neural_prompts
    ds = collect_neural_prompts(cfg, n_episodes=2, world_model=wm, seed=4)
    assert len(ds) == 40 and set(GRPO_COLUMNS) <= set(ds.column_names)
    check_prompt_set(ds)
    assert np.isfinite(np.concatenate([np.ravel(x) for x in ds["horizon_return"]])).all()
    again = collect_neural_prompts(cfg, n_episodes=1, world_model=wm, seed=4)
    assert again["prompt"] == ds["prompt"][:20] and again["close"] == ds["close"][:20]


def test_evaluate_agent_on_the_neural_and_harder_envs(wm, cfg, tmp_path, monkeypatch):
    "The pinned episodes under each source: Hold scores 0.300 everywhere, paths are seeded, the holding cost charges."
    import tradenb.world_model as W
    from tradenb.agents import BuyAndHoldAgent, HoldAgent
    from tradenb.evaluate import episode_set, evaluate_agent
    path = save_world_model(wm, tmp_path/"wm.pt")
    monkeypatch.setattr(W, "world_model_path", lambda cfg, universe=None: path)   # never the run's own model
    es = episode_set(cfg, "easy", "val", 4, save=False)
    run = lambda agent, **kw: evaluate_agent(agent, cfg, "easy", "val", es=es, track=False, **kw)
    hold, _ = run(HoldAgent(), source="neural")
    assert hold["score_mean"] == pytest.approx(0.3) and hold["source"] == "neural"
    assert hold["task_version"].endswith("+neural1")
    _, static = run(BuyAndHoldAgent())
    _, neural = run(BuyAndHoldAgent(), source="neural")
    _, again = run(BuyAndHoldAgent(), source="neural")
    end = lambda eps: np.array([e[-1] for e in eps.equity])      # (score v2 of buy-and-hold is 0.300 by construction)
    assert not np.allclose(end(neural), end(static))               # generated days, not the real ones
    np.testing.assert_array_equal(end(neural), end(again))         # the same seeds: the same paths
    assert len(set(end(neural))) == len(neural)                    # independent draws, one per episode
    row, harder = run(BuyAndHoldAgent(), variants="holding")
    assert (harder.score < static.score).all() and row["variants"] == "holding"
