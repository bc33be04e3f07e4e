"Portfolio accounting properties (hypothesis): equity identity, no debt, no shorting, fees."
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from tradenb.market import Fill, Portfolio

N = 4
fractions = arrays(np.float64, N, elements=st.one_of(st.floats(-1.5, 1.5), st.sampled_from([np.nan, np.inf, -np.inf])))
prices = arrays(np.float64, N, elements=st.floats(0.01, 1e5))
episode = st.lists(st.tuples(fractions, prices, prices), min_size=1, max_size=25)
costs = st.tuples(st.floats(0, 100), st.floats(0, 100))


@settings(max_examples=300, deadline=None)
@given(episode, costs, st.floats(0, 1e7))
def test_accounting_invariants(steps, cost, cash0):
    p = Portfolio(N, cash=cash0, fee_bps=cost[0], slippage_bps=cost[1])
    for a, fill_px, mark_px in steps:
        eq_before = p.equity(fill_px)
        f = p.execute(a, fill_px)
        assert p.cash >= 0                                   # never a debt
        assert (p.qty >= 0).all()                            # no shorting unless enabled
        assert f.fees >= 0 and f.turnover >= 0 and f.n_trades >= 0
        # equity after = equity before - fees - slippage, at the fill prices (nothing is created)
        assert p.equity(fill_px) <= eq_before * (1 + 1e-9) + 1e-6
        # the identity the env reports every step
        assert np.isclose(p.equity(mark_px), p.cash + float(np.sum(p.qty * mark_px)), rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(prices, min_size=1, max_size=30), costs)
def test_all_hold_episode_has_no_turnover_and_no_fees(days, cost):
    p = Portfolio(N, cash=1e5, fee_bps=cost[0], slippage_bps=cost[1])
    fills = [p.execute(np.zeros(N), px) for px in days]
    assert all(f == Fill() for f in fills)
    assert p.cash == 1e5 and not p.qty.any()


@settings(max_examples=200, deadline=None)
@given(fractions, prices, costs)
def test_costs_are_exactly_fees_plus_slippage(a, px, cost):
    p = Portfolio(N, cash=1e5, fee_bps=cost[0], slippage_bps=cost[1])
    p.qty = np.full(N, 3.0)
    before = p.equity(px)
    f = p.execute(a, px)
    # what was lost at the fill prices is the fees plus the slippage on the traded notional
    lost = before - p.equity(px)
    slip = cost[1] * 1e-4
    assert lost >= -1e-6
    assert lost <= f.fees + f.turnover * slip / (1 - slip) + 1e-6 * max(1.0, before)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.05, 1.0), st.floats(1, 1000))
def test_short_only_when_enabled(frac, px):
    no = Portfolio(1, cash=1000.0)
    no.execute(np.array([-frac]), np.array([px]))
    assert no.qty[0] == 0 and no.cash == 1000.0
    yes = Portfolio(1, cash=1000.0, fee_bps=0, slippage_bps=0, allow_short=True)
    yes.execute(np.array([-frac]), np.array([px]))
    assert yes.qty[0] < 0 and np.isclose(yes.equity(np.array([px])), 1000.0)
