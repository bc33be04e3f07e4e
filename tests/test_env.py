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
    assert {"sharpe", "sortino", "max_drawdown", "total_return", "activity", "score", "score_v1", "parse_errors",
            "exposure", "excess_return", "beta", "alpha", "r2", "excess_vs_buy_and_hold"} <= set(m)
    assert all(np.isfinite(v) for v in m.values())
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
    start, syms = env.cube.date_str[env.episode_start], list(env.symbols)
    env.reset(seed=99, options={"start_date": start, "symbols": syms})
    assert env.cube.date_str[env.episode_start] == start and env.symbols == syms
    with pytest.raises(ValueError, match="not a valid episode start"):
        env.reset(options={"start_date": "2019-01-01", "symbols": syms})
    with pytest.raises(ValueError, match="unknown symbol"):
        env.reset(options={"start_date": start, "symbols": ["NOPE"] * 10})


@pytest.mark.parametrize("mode", OBS_MODES)
def test_observation_never_shows_the_future(panel, mode):
    "Perturbing every bar after an episode's day t leaves the observations up to t unchanged (both modes)."
    env = TradingEnv("medium", mode, "test", data=panel)
    obs, info = env.reset(seed=5)
    seen = [obs]
    for _ in range(5):
        obs, *_ , info = env.step(hold_action(env))
        seen.append(obs)
    cut = pd.Timestamp(info["date"])
    noisy = panel.copy()
    fut = noisy.date > cut
    noisy.loc[fut, ["open", "high", "low", "close"]] *= 1.5
    noisy.loc[fut, "volume"] *= 3
    env2 = TradingEnv("medium", mode, "test", data=noisy)
    obs2, _ = env2.reset(seed=5)
    seen2 = [obs2] + [env2.step(hold_action(env2))[0] for _ in range(5)]
    same = (lambda a, b: a == b) if mode == "text" else np.array_equal
    assert all(same(a, b) for a, b in zip(seen, seen2))


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


# --- the same values in both observation modes ----------------------------------------------------------------------

NUM = r"([-+]?\d[\d,]*\.?\d*)"
LINE = re.compile(rf"^(\S+): close {NUM} \({NUM}% 1d, {NUM}% 10d\) \| RSI {NUM} \([^)]*\) \| MACD hist {NUM} "
                  rf"\((positive|negative), (widening|narrowing)\) \| Bollinger %B {NUM} \([^)]*\) \| SMA20 vs SMA50 "
                  rf"{NUM}% \([^)]*\) \| volatility {NUM}% ann\. \| volume z {NUM} \([^)]*\)$", re.M)
PORTFOLIO = re.compile(rf"equity {NUM} \({NUM}% since start\) \| cash {NUM} \({NUM}%\)")
POSITION = re.compile(rf"(\S+) {NUM} sh \({NUM}%\)")


def _num(s): return float(s.replace(",", ""))


def _compare_step(text, vec, N):
    "Every value the text shows against the numeric vector of the same step, within the text's rounding."
    from tradenb.env import NUMERIC_FEATURES
    F = len(NUMERIC_FEATURES)
    rows = LINE.findall(text)
    assert len(rows) == N, text
    def close(numeric, shown, tol):
        if abs(numeric) < 4.99: assert abs(numeric - shown) <= tol + 1e-5, (numeric, shown, tol)  # +-5: clipped
    for j, (sym, c, ch, mom, rsi, macd, sign, trend_w, pctb, trend, vol, vz) in enumerate(rows):
        c, ch, mom, rsi, macd, pctb, trend, vol, vz = map(_num, (c, ch, mom, rsi, macd, pctb, trend, vol, vz))
        v = vec[j * F:(j + 1) * F]
        close(v[0], rsi / 100 - 0.5, 0.0005)
        close(v[1], macd / c * 100, 0.006 / c * 100 + abs(macd) * 0.006 / c**2 * 100)
        close(v[2], pctb - 0.5, 0.005)
        close(v[3], trend / 100 * 10, 0.0005 * 10)
        close(v[4], vol / 100, 0.005)
        close(v[5], vz / 3, 0.05 / 3)
        close(v[6], mom / 100 * 10, 0.0005 * 10)
        close(v[7], ch / 100 * 10, 0.0005 * 10)
        assert (v[1] > 0) == (sign == "positive") or abs(macd) < 0.01
        widening = abs(v[1]) > abs(v[8])
        assert widening == (trend_w == "widening") or abs(abs(v[1]) - abs(v[8])) < 1e-6
    eq, since, cash, cash_pct = map(_num, PORTFOLIO.search(text).groups())
    weights = {s: _num(w) / 100 for s, _, w in POSITION.findall(text.split("Positions:")[1].split("\n")[0])}
    syms = [r[0] for r in rows]
    for j, s in enumerate(syms): close(vec[N * F + j], weights.get(s, 0.0), 0.0005 + 1e-6)
    close(vec[-3], cash_pct / 100, 0.0005)
    close(vec[-2], since / 100, 0.00005)


@pytest.mark.parametrize("task", ["easy", "medium"])
def test_text_and_numeric_show_the_same_values(task):
    "Field by field: indicators, 1-day and 10-day changes, weights, cash share and equity since start."
    t, n = TradingEnv(task, "text", "test"), TradingEnv(task, "numeric", "test")
    N = TASKS[task].n_symbols
    rng = np.random.default_rng(0)
    for seed in range(3):
        (ot, _), (on, _) = t.reset(seed=seed), n.reset(seed=seed)
        assert t.symbols == n.symbols
        for step in range(TASKS[task].n_steps):
            _compare_step(ot, on, N)
            a = np.round(rng.uniform(-1, 1, N), 2) * (rng.random(N) < 0.3)
            a = np.where(np.abs(a) >= n.deadband, a, 0.0)          # the numeric mode's deadband, in both modes
            text = "\n".join(f"{'BUY' if x > 0 else 'SELL'} {s} {abs(x):.2f}" for s, x in zip(t.symbols, a) if x) or "HOLD"
            ot, *_ = t.step(text)
            on, *_ = n.step(a.astype(np.float32))
        assert t.equity_curve[-1] == pytest.approx(n.equity_curve[-1], rel=1e-9)


def test_the_field_comparison_can_fail():
    t, n = TradingEnv("easy", "text", "test"), TradingEnv("easy", "numeric", "test")
    (ot, _), (on, _) = t.reset(seed=1), n.reset(seed=1)
    bad = on.copy(); bad[0] += 0.01                  # RSI off by one point
    with pytest.raises(AssertionError): _compare_step(ot, bad, 1)


# --- masked observations --------------------------------------------------------------------------------------------

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


PRICE_TOKEN = re.compile(r"(?<![\d.,])\d+\.\d{2}(?!\d)")   # a number printed with two decimals, whole


def _leaks(text, env, symbols):
    "What of the remembered market a masked text still shows: tickers, ISO dates, raw price levels."
    u = env.unwrapped
    # one alternation (longest first) finds a ticker wherever the per-ticker searches would: empty iff they are
    names = "|".join(sorted(map(re.escape, symbols), key=len, reverse=True))
    found = re.findall(rf"(?<![A-Za-z0-9])(?:{names})(?![A-Za-z0-9])", text)
    found += ISO_DATE.findall(text)
    printed = set(PRICE_TOKEN.findall(text))
    day = u.cube_day
    for lag in range(0, 30):   # any close the episode has shown so far, as the text would print it
        if day - lag < 0: break
        found += [f"{p:.2f}" for p in u.cube.close[day - lag, u.symbol_indices]
                  if np.isfinite(p) and p >= 10 and f"{p:.2f}" in printed]
    return found


def test_the_leak_check_can_fail():
    "Unmasked, the same check finds the tickers, dates and prices the text shows."
    env = TradingEnv("medium", "text", "test")
    obs, _ = env.reset(seed=0)
    found = _leaks(obs, env, list(env.cube.symbols))
    assert set(env.symbols) & set(found) and any(ISO_DATE.fullmatch(f) for f in found)
    assert any(PRICE_TOKEN.fullmatch(f) for f in found)


@pytest.mark.parametrize("task", ["easy", "medium", "hard"])
def test_full_mask_hides_tickers_dates_and_prices(task):
    env = TradingEnv(task, "text", "test", mask="full")
    universe = list(env.cube.symbols)
    rng = np.random.default_rng(0)
    n = 0
    for seed in range(12 if task != "hard" else 6):
        obs, info = env.reset(seed=seed)
        assert info["mask"] == "full" and sorted(env.action_symbols) == [f"S{k:02d}" for k in range(1, len(env.symbols) + 1)]
        while True:
            assert not _leaks(obs, env, universe), _leaks(obs, env, universe)
            n += 1
            a = rng.choice(env.action_symbols)
            obs, _, term, _, _ = env.step(f"BUY {a} 0.3" if rng.random() < 0.5 else f"SELL {a} 1.0")
            if term: break
    assert n >= 200


def test_masked_answers_trade_the_same_stocks():
    "The parser maps aliases back: the same decisions, masked or not, give the same episode."
    plain, masked = TradingEnv("medium", "text", "test"), TradingEnv("medium", "text", "test", mask="tickers+dates")
    plain.reset(seed=3); masked.reset(seed=3)
    assert plain.symbols == masked.symbols and masked.action_symbols != masked.symbols
    alias = dict(zip(plain.symbols, masked.action_symbols))
    for k in range(TASKS["medium"].n_steps):
        sym = plain.symbols[k % 10]
        act = "BUY {} 0.2" if k % 3 else "SELL {} 0.5"
        plain.step(act.format(sym)); masked.step(act.format(alias[sym]))
    np.testing.assert_array_equal(plain.equity_curve, masked.equity_curve)
    # the real ticker is not an answer the masked episode accepts
    masked.reset(seed=3)
    assert masked.step(f"BUY {plain.symbols[0]} 0.5")[4]["parse_error"]


def test_mask_hides_unusual_user_symbols(small_panel):
    "A user's own panel with symbols like M&M.NS, BRK-B or lowercase names: no raw ticker in a masked text."
    odd = {"RELIANCE": "M&M.NS", "TCS": "BRK-B", "INFY": "abc"}
    panel = small_panel.assign(symbol=small_panel.symbol.map(odd))
    env = TradingEnv("easy", "text", "test", data=panel, mask="tickers")
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        for _ in range(5):
            assert not any(s in obs for s in odd.values()) and not any(s.lower() in obs.lower() for s in ("m&m", "brk-b"))
            obs, *_ = env.step(f"BUY {env.action_symbols[0]} 0.5")


def test_unknown_mask_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown mask 'blur'.*tickers"):
        TradingEnv("easy", "text", "test", mask="blur")
