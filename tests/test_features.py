"Features: no look-ahead (perturb the future, the past must not move) and agreement with `ta`."
import numpy as np
import pandas as pd
import pytest
import ta

from tradenb.features import WARMUP_DAYS, build_cube, compute_features, lookahead_violations


@pytest.mark.parametrize("cut", ["2023-01-20", "2023-09-01", "2024-06-28", "2025-03-03"])
@pytest.mark.parametrize("seed", [0, 1])
def test_no_feature_looks_ahead(small_panel, cut, seed):
    assert lookahead_violations(small_panel, pd.Timestamp(cut), seed=seed) == []


def test_lookahead_check_catches_a_leaky_feature(small_panel, monkeypatch):
    "The look-ahead test must be able to fail: a centred window (uses the future) is caught."
    import tradenb.features as F
    orig = F._one_symbol
    monkeypatch.setattr(F, "_one_symbol", lambda g: orig(g).assign(momentum=g["close"].rolling(5, center=True).mean()))
    assert lookahead_violations(small_panel, pd.Timestamp("2024-01-15")) != []


def test_observation_cells_after_warmup_are_complete(panel):
    cube = build_cube(panel)
    assert not cube.valid[: WARMUP_DAYS - 1].any()
    assert cube.valid[WARMUP_DAYS:].mean() > 0.99  # only the few days a symbol did not trade


@pytest.fixture(scope="module")
def one(panel):
    g = panel[panel.symbol == "HDFCBANK"].reset_index(drop=True)
    return g, compute_features(g)


def test_rsi_matches_ta(one):
    g, f = one
    ref = ta.momentum.RSIIndicator(g["close"], window=14).rsi()
    ok = f["rsi_14"].notna()
    np.testing.assert_allclose(f.loc[ok, "rsi_14"], ref[ok], rtol=1e-9, atol=1e-9)


def test_macd_hist_matches_ta(one):
    g, f = one
    ref = ta.trend.MACD(g["close"], window_slow=26, window_fast=12, window_sign=9).macd_diff()
    ok = f["macd_hist"].notna() & ref.notna()
    assert ok.sum() > 600
    np.testing.assert_allclose(f.loc[ok, "macd_hist"], ref[ok], rtol=1e-9, atol=1e-9)


def test_bollinger_pctb_matches_ta(one):
    g, f = one
    ref = ta.volatility.BollingerBands(g["close"], window=20, window_dev=2).bollinger_pband()
    ok = f["bb_pctb"].notna() & ref.notna()
    np.testing.assert_allclose(f.loc[ok, "bb_pctb"], ref[ok], rtol=1e-9, atol=1e-9)


def test_features_computed_once_for_the_whole_panel(panel):
    "Per-symbol computation on the full panel equals computing each symbol alone."
    f = compute_features(panel)
    for sym in ("SBIN", "M&M"):
        alone = compute_features(panel[panel.symbol == sym]).reset_index(drop=True)
        pd.testing.assert_frame_equal(f[f.symbol == sym].reset_index(drop=True), alone)
