"The plan-writing LM's validation and the plan simulator's fills (chapter 26)."
import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from tradenb.allocation import AllocationData, CostModel
from tradenb.plans import Plan, parse_plan, plan_json, simulate_plans

BUY = Plan(action="buy", confidence=0.7, entry=100.0, stop=95.0, target=105.0)


def bars(o, h, l, c):
    "An AllocationData of one coin from open/high/low/close lists."
    a = [np.asarray(x, float)[:, None] for x in (o, h, l, c)]
    T = len(o)
    return AllocationData(pd.date_range("2024-01-01", periods=T), ("X",), *a, np.zeros((T, 1, 1), np.float32))


def grid(n, at=0, plan=BUY):
    g = np.full((n, 1), None, dtype=object); g[at, 0] = plan
    return g


def flat(T=10):
    return [100.0] * T


def test_a_bar_with_both_levels_fills_the_stop():
    h, l = flat(), flat(); h[1], l[1] = 110.0, 90.0
    r = simulate_plans(bars(flat(), h, l, flat()), grid(5), 0, CostModel(0))
    assert r["fills"]["stop"] == 1 and r["fills"]["target"] == 0 and r["equity"][1] == pytest.approx(0.95)


def test_target_fills_at_the_target_price_on_its_bar():
    h = flat(); h[3] = 107.0
    r = simulate_plans(bars(flat(), h, flat(), flat()), grid(6), 0, CostModel(0))
    assert r["fills"]["target"] == 1 and r["equity"][2] == pytest.approx(1.0) and r["equity"][3] == pytest.approx(1.05)
    assert r["invested"][1] == pytest.approx(1.0) and r["invested"][2] == 0.0   # invested[j]: after day j + 1


def test_a_gap_through_the_stop_fills_at_the_open():
    o, h, l, c = flat(), flat(), flat(), flat()
    o[2], h[2], l[2], c[2] = 90.0, 92.0, 88.0, 91.0
    r = simulate_plans(bars(o, h, l, c), grid(5), 0, CostModel(0))
    assert r["fills"]["gap_stop"] == 1 and r["equity"][2] == pytest.approx(0.90)


def test_horizon_exit_and_costs():
    c = [100.0 + k for k in range(12)]
    o = [100.0] + c[:-1]
    r = simulate_plans(bars(o, [x + 0.5 for x in c], [x - 0.5 for x in o], c), grid(8, plan=BUY.model_copy(
        update=dict(target=200.0))), 0, CostModel(10), horizon=3)
    assert r["fills"]["horizon"] == 1 and r["buys"] == 1
    fee = 1e-3
    units = (1 - fee) / o[1]
    assert r["equity"][3] == pytest.approx(units * c[3] * (1 - fee))          # exit at day 3's close, after the fee
    assert r["costs"][0] == pytest.approx(fee) and r["traded"].sum() == 2


def test_no_plans_no_trades_and_invalid_plans_are_counted():
    why = np.full((5, 1), "bad_levels", dtype=object)
    r = simulate_plans(bars(flat(), flat(), flat(), flat()), np.full((5, 1), None, dtype=object), 0, reasons=why)
    assert (r["equity"] == 1).all() and r["invalid"] == {"bad_levels": 5} and r["invalid_decisions"] == 5
    with pytest.raises(ValueError, match="run past the data"):
        simulate_plans(bars(flat(), flat(), flat(), flat()), np.full((10, 1), None, dtype=object), 0)


@st.composite
def paths(draw):
    T = draw(st.integers(8, 30))
    r = np.asarray(draw(st.lists(st.floats(-0.15, 0.15), min_size=T, max_size=T)))
    c = 100 * np.cumprod(1 + r)
    o = np.concatenate([[100.0], c[:-1]]) * (1 + np.asarray(draw(st.lists(st.floats(-0.05, 0.05), min_size=T,
                                                                          max_size=T))))
    up = np.asarray(draw(st.lists(st.floats(0, 0.1), min_size=T, max_size=T)))
    dn = np.asarray(draw(st.lists(st.floats(0, 0.1), min_size=T, max_size=T)))
    h, l = np.maximum(o, c) * (1 + up), np.minimum(o, c) * (1 - dn)
    buys = draw(st.lists(st.booleans(), min_size=T - 1, max_size=T - 1))
    stop = draw(st.floats(80, 99)); target = draw(st.floats(101, 130))
    plans = np.array([[Plan(action="buy", confidence=0.5, entry=100.0, stop=stop, target=target) if b else None]
                      for b in buys], dtype=object)
    return o, h, l, c, plans


@given(paths(), st.data())
@settings(max_examples=60, deadline=None)
def test_no_look_ahead(p, d):
    "Changing the bars after day k changes nothing about equity, fills or trades up to day k."
    o, h, l, c, plans = p
    T = len(o)
    k = d.draw(st.integers(1, T - 2))
    f = d.draw(st.floats(0.5, 2.0))
    o2, h2, l2, c2 = (np.concatenate([x[:k + 1], x[k + 1:] * f]) for x in (o, h, l, c))
    a = simulate_plans(bars(o, h, l, c), plans, 0, CostModel(10), horizon=4)
    b = simulate_plans(bars(o2, h2, l2, c2), plans, 0, CostModel(10), horizon=4)
    np.testing.assert_array_equal(a["equity"][:k + 1], b["equity"][:k + 1])
    np.testing.assert_array_equal(a["traded"][:k], b["traded"][:k])


@given(paths())
@settings(max_examples=60, deadline=None)
def test_accounting(p):
    "Equity stays positive, a stop-out never loses more than the gap, and exits never exceed the bar's range."
    o, h, l, c, plans = p
    r = simulate_plans(bars(o, h, l, c), plans, 0, CostModel(10), horizon=4)
    assert (r["equity"] > 0).all() and ((r["invested"] >= 0) & (r["invested"] <= 1 + 1e-12)).all()
    assert r["traded"].sum() <= 2 * r["buys"] + 1
    free = simulate_plans(bars(o, h, l, c), plans, 0, CostModel(0), horizon=4)
    assert r["equity"][-1] <= free["equity"][-1] + 1e-12                     # costs only lower equity
    n_exits = sum(free["fills"].values())
    assert n_exits <= free["buys"] <= n_exits + 1


@pytest.mark.parametrize("text,reason", [
    ("", "not_json"), ("hold", "not_json"), ('"buy"', "not_an_object"),
    ('{"action":"buy","confidence":0.5,"entry":100,"stop":101,"target":110}', "bad_levels"),
    ('{"action":"buy","confidence":-0.1,"entry":100,"stop":90,"target":110}', "confidence_out_of_range"),
    ('{"action":"buy","confidence":0.5,"entry":100,"stop":90}', "missing_fields"),
    ('{"action":"long","confidence":0.5,"entry":100,"stop":90,"target":110}', "bad_action"),
])
def test_bad_plans_are_holds_with_a_reason(text, reason):
    assert parse_plan(text) == (None, reason)


@given(st.floats(0, 1), st.floats(50, 99.9), st.floats(100.1, 200))
def test_valid_plans_round_trip(conf, stop, target):
    p = Plan(action="buy", confidence=conf, entry=100.0, stop=stop, target=target)
    assert parse_plan(plan_json(p)) == (p, None)


def test_plan_lm_pipeline_is_deterministic_given_the_seed():
    "Two short LoRA SFT runs with the same seed write the same plans (tiny model, a few steps)."
    from tradenb.allocation import allocation_data
    from tradenb.core import Config
    from tradenb.plans import train_plan_lm, write_plans
    cfg = Config.from_profile("smoke", universe="crypto")
    data = allocation_data(cfg=cfg)
    outs = []
    for _ in range(2):
        res = train_plan_lm(cfg, data, "tiny", n_examples=16, steps=2, seed=7, batch_size=4)
        tr = res["trainer"]
        w = write_plans(tr.model, tr.processing_class, data, "test", every=120, max_new_tokens=16)
        outs.append((res["losses"], w["answers"], [str(r) for r in w["reasons"].ravel()]))
        assert w["n_plans"] == 4 * 3 and w["decisions_per_s"] > 0
    assert outs[0] == outs[1]
