"Metrics cross-checked against empyrical; composite score calibration points."
import math

import empyrical
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from tradenb.grading import (composite_score, episode_metrics, goodness, max_drawdown, sharpe,
                             sortino, total_return)

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
        assert m["composite"] == 0.3 and m["sharpe"] == 0 and m["max_drawdown"] == 0


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
    assert lose["composite"] < 0.3 < win["composite"]


def test_goodness_reproduces_published_reference_points():
    assert goodness(0, 0, 0, 0) == pytest.approx(-0.4)          # never trades
    assert goodness(0.358, -0.276, 2.11, 50) == pytest.approx(32.55)
    assert goodness(0.1, -0.05, math.inf, 3) == pytest.approx(10 - 2.5 + 50)
