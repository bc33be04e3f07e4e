"Metrics cross-checked against empyrical; score v1 calibration points; score v2 properties (skill, not exposure)."
import math

import empyrical
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from tradenb.grading import (SCORE_WEIGHTS, attribution, composite_score, episode_metrics, goodness, max_drawdown,
                             score_v2, sharpe, skill_components, sortino, total_return)

# returns in whole basis-point hundredths: below 1e-12 we treat volatility as zero, empyrical does not
rets = arrays(np.float64, st.integers(5, 60), elements=st.floats(-0.2, 0.2).map(lambda x: round(x, 6)))


@settings(max_examples=300, deadline=None)
@given(rets)
def test_sharpe_sortino_drawdown_match_empyrical(r):
    if r.std(ddof=1) > 1e-9:
        assert math.isclose(sharpe(r), empyrical.sharpe_ratio(r), rel_tol=1e-7, abs_tol=1e-7)
    if np.any(r < 0):
        assert math.isclose(sortino(r), empyrical.sortino_ratio(r), rel_tol=1e-7, abs_tol=1e-7)
    equity = 100 * np.cumprod(np.r_[1.0, 1 + r])
    assert math.isclose(max_drawdown(equity), empyrical.max_drawdown(r), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(total_return(equity), empyrical.cum_returns_final(r), rel_tol=1e-9, abs_tol=1e-12)


def test_never_trading_scores_exactly_0_300():
    for n in (20, 30, 40):
        m = episode_metrics(np.full(n + 1, 1e5), trade_steps=0)
        assert m["score"] == m["score_v1"] == 0.3 and m["sharpe"] == 0 and m["max_drawdown"] == 0


@settings(max_examples=200, deadline=None)
@given(st.floats(-1, 1), st.floats(-10, 10), st.floats(-0.9, 0), st.floats(0, 1))
def test_score_is_bounded_and_monotone(ret, sh, dd, act):
    m = dict(total_return=ret, sharpe=sh, max_drawdown=dd, activity=act)
    s = composite_score(m)
    assert 0 <= s <= 1
    assert composite_score({**m, "total_return": ret + 0.01}) >= s
    assert composite_score({**m, "max_drawdown": dd - 0.01}) <= s


def test_losing_scores_below_hold_and_winning_above():
    wiggle = np.tile([0.004, -0.004], 10)
    win = episode_metrics(1e5 * np.cumprod(np.r_[1, 1.003 + wiggle]), trade_steps=5)
    lose = episode_metrics(1e5 * np.cumprod(np.r_[1, 0.997 + wiggle]), trade_steps=1)
    assert lose["score_v1"] < 0.3 < win["score_v1"]
    assert lose["score"] < 0.3 < win["score"]          # no benchmark: the benchmark is cash


def test_goodness_reproduces_published_reference_points():
    assert goodness(0, 0, 0, 0) == pytest.approx(-0.4)          # never trades
    assert goodness(0.358, -0.276, 2.11, 50) == pytest.approx(32.55)
    assert goodness(0.1, -0.05, math.inf, 3) == pytest.approx(10 - 2.5 + 50)


# --- score v2 ---------------------------------------------------------------------------------------------------

small = st.floats(-0.03, 0.03).map(lambda x: round(x, 6))


@st.composite
def episode(draw):
    "A benchmark path, an exposure k and the agent's daily excess over k times the benchmark."
    n = draw(st.integers(5, 40))
    b = np.array(draw(st.lists(small, min_size=n, max_size=n)))
    x = np.array(draw(st.lists(small, min_size=n, max_size=n)))
    k = draw(st.floats(0.1, 1.0))
    traded = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return b, x, k, traded


def grade(b, x, k, traded):
    bench = 1e5 * np.cumprod(np.r_[1, 1 + b])
    agent = 1e5 * np.cumprod(np.r_[1, 1 + k * b + x])
    return skill_components(agent, np.full(len(b), k), traded, bench, np.ones(len(b)))


@settings(max_examples=300, deadline=None)
@given(episode())
def test_v2_parts_and_score_are_bounded(ep):
    c = grade(*ep)
    assert all(-1 <= c[p] <= 1 for p in SCORE_WEIGHTS)
    assert -0.4 <= score_v2(c) <= 1


@settings(max_examples=200, deadline=None)
@given(episode())
def test_exposure_without_skill_is_0_300(ep):
    b, _, k, traded = ep
    c = grade(b, np.zeros_like(b), k, traded)            # exactly k times the benchmark, every day
    assert score_v2(c) == pytest.approx(0.3, abs=1e-9) and abs(c["pnl"]) < 1e-9


@settings(max_examples=300, deadline=None)
@given(episode(), st.integers(0, 39), st.floats(0.0005, 0.02))
def test_a_round_trip_that_beats_the_benchmark_never_lowers_the_pnl_part(ep, day, gain):
    b, x, k, traded = ep
    day %= len(b)
    better = x.copy(); better[day] += gain
    assert grade(b, better, k, traded)["pnl"] >= grade(b, x, k, traded)["pnl"] - 1e-12


@settings(max_examples=300, deadline=None)
@given(episode(), st.integers(0, 39))
def test_trades_with_negative_excess_never_raise_the_activity_part(ep, day):
    b, x, k, traded = ep
    day %= len(b)
    if traded[day] or x[day] >= -1e-9: return          # add a trade on a day whose excess is negative
    more = traded.copy(); more[day] = True
    assert grade(b, x, k, more)["activity"] <= grade(b, x, k, traded)["activity"]


@settings(max_examples=300, deadline=None)
@given(episode(), st.floats(1.0, 4.0))
def test_scaling_excess_losses_up_never_raises_the_score(ep, lam):
    b, x, k, traded = ep
    worse = np.where(x < 0, lam * x, x)
    assert score_v2(grade(b, worse, k, traded)) <= score_v2(grade(b, x, k, traded)) + 1e-12


def test_v2_does_not_pay_variance_or_trading():
    "v1 paid a noisy trader above Hold; v2 gives zero-mean excess noise nothing on average."
    rng = np.random.default_rng(0)
    b = rng.normal(0.0005, 0.01, 30)
    noise = rng.normal(0, 0.01, (2000, 30))
    parts = [grade(b, x, 1.0, np.ones(30, bool)) for x in noise]
    assert np.mean([score_v2(c) for c in parts]) <= 0.3  # noise earns nothing (its extra drawdown costs a little)
    for p in ("sharpe", "activity"): assert abs(np.mean([c[p] for c in parts])) < 0.02, p   # symmetric parts: 0
    m = episode_metrics(1e5 * np.cumprod(np.r_[1, 1 + b + noise[0]]), trade_steps=30)
    assert m["score_v1"] > 0.3                          # ... where v1 paid for the activity


def test_v2_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="equity curve"): episode_metrics(np.array([]), 0)
    with pytest.raises(ValueError, match="benchmark equity shape"):
        skill_components(np.ones(5), np.zeros(4), np.zeros(4, bool), np.ones(6), np.zeros(5))


def test_attribution_recovers_beta_and_alpha():
    rng = np.random.default_rng(1)
    m = rng.normal(0, 0.01, 250)
    a = attribution(1.3 * m + 0.0004 + rng.normal(0, 1e-4, 250), m)
    assert a["beta"] == pytest.approx(1.3, abs=0.01) and a["alpha"] == pytest.approx(0.1, abs=0.01)
    assert a["r2"] > 0.99
