"The transformer trader (chapter 25): a real transformers model, its training and its weight policies."
import numpy as np
import pytest
import torch

from tradenb.allocation import AllocationEnv, AllocationEnvConfig, allocation_data, play
from tradenb.core import Config
from tradenb.trader import (BUY, HOLD, SELL, TraderConfig, TraderModel, TraderTrainConfig, actions_to_weights,
                            class_weights, train_trader, trader_examples, trader_outputs, trader_policy)

CRYPTO = Config.from_profile("smoke", universe="crypto")


@pytest.fixture(scope="module")
def data():
    return allocation_data(cfg=CRYPTO)


def test_save_pretrained_round_trip(tmp_path, data):
    m = TraderModel(TraderConfig(loss="weighted_ce", class_weights=[2.0, 0.5, 1.5], d_model=16, n_heads=2)).eval()
    m.save_pretrained(tmp_path)
    m2 = TraderModel.from_pretrained(tmp_path)
    assert m2.config.class_weights == [2.0, 0.5, 1.5] and m2.config.d_model == 16
    x = torch.from_numpy(trader_examples(data, "val")["x"][:4])
    with torch.no_grad():
        a, b = m(x), m2(x)
    for k in ("action_logits", "return_pred", "alloc_logits"): assert torch.equal(a[k], b[k])


def test_windows_are_causal(data):
    "A window ends at its decision day: changing later prices changes the label, never the window."
    import dataclasses
    from tradenb.allocation import feature_cube
    ex = trader_examples(data, "val")
    t = int(ex["days"][50])
    k = data.close.copy(); k[t + 1:] *= 1.5
    d2 = dataclasses.replace(data, close=k, high=data.high * np.where(np.arange(len(k))[:, None] > t, 1.5, 1),
                             features=feature_cube(k))
    ex2 = trader_examples(d2, "val")
    np.testing.assert_array_equal(ex["x"][50], ex2["x"][50])
    assert not np.array_equal(ex["next_returns"][50], ex2["next_returns"][50])


def test_labels_follow_the_threshold(data):
    ex = trader_examples(data, "train", label_threshold=0.03)
    r, y = ex["next_returns"], ex["labels"]
    assert (y[r > 0.03] == BUY).all() and (y[r < -0.03] == SELL).all() and (y[np.abs(r) <= 0.03] == HOLD).all()


def test_class_weights_favour_rare_classes():
    w = class_weights(np.array([[1, 1, 1], [1, 1, 0], [1, 2, 1]]))
    assert w[1] < w[2] and w[1] < w[0] and np.mean(w) == pytest.approx(1)


def test_profit_loss_prefers_the_rising_asset():
    m = TraderModel(TraderConfig(loss="profit", return_weight=0, n_layers=1)).eval()
    x = torch.zeros(2, 60, 24)
    r = torch.tensor([[0.1, -0.1, 0.0]] * 2)
    y = torch.ones(2, 3, dtype=torch.long)
    with torch.no_grad():
        for p in m.alloc_head.parameters(): p.zero_()
        base = m(x, y, r).loss
        m.alloc_head.bias[0] = 5.0                      # put the weight on the asset that rises
        assert m(x, y, r).loss < base


def test_training_is_deterministic(data):
    outs = []
    for _ in range(2):
        res = train_trader(CRYPTO, data, TraderTrainConfig(epochs=1, seed=4))
        outs.append(trader_outputs(res["model"], data, "val"))
    np.testing.assert_array_equal(outs[0]["alloc"], outs[1]["alloc"])
    np.testing.assert_array_equal(outs[0]["actions"], outs[1]["actions"])


def test_all_hold_from_cash_never_trades(data):
    ex = trader_examples(data, "test")
    fake = dict(days=ex["days"], actions=np.full((len(ex["days"]), 3), HOLD), return_pred=np.zeros((len(ex["days"]), 3)),
                alloc=np.tile([0, 0, 0, 1.0], (len(ex["days"]), 1)))
    env = AllocationEnv(data, "test", AllocationEnvConfig(action_mode="weights"))
    for mode in ("actions", "threshold", "allocation"):
        r = play(env, trader_policy(fake, mode))
        assert r["traded"].sum() == 0 and r["equity"][-1] == 1.0


def test_weights_from_actions_are_a_portfolio():
    w = actions_to_weights([BUY, BUY, BUY], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(w, [1 / 3, 1 / 3, 1 / 3, 0], atol=1e-12)
    assert actions_to_weights([SELL, SELL, SELL], [0.5, 0.5, 0, 0])[-1] == 1.0
