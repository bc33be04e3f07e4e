"Chapter 32's tool environment: pooled instances' isolation, seeds, reward = the env's score, invalid calls, a lost server."
import inspect

import pytest

from tradenb.core import Config
from tradenb.env import TradingEnv
from tradenb.tool_env import TradingToolEnv

CFG = Config()


def _untimed(s): return {k: v for k, v in s.items() if k != "env_seconds"}


def _env_score(seed, orders, task="easy"):
    env = TradingEnv(task, "text", "train", config=CFG)
    env.reset(seed=seed)
    for o in orders + ["HOLD"] * (env.spec_task.n_steps - len(orders)):
        *_, info = env.step(o)
    return info["score"]


def test_only_place_orders_is_a_tool():
    names = [n for n, _ in inspect.getmembers(TradingToolEnv, predicate=inspect.isfunction)
             if n not in ("reset", "get_reward") and not n.startswith("_")]
    assert names == ["place_orders"]


def test_same_seed_same_episode_and_pooled_isolation():
    a, b = TradingToolEnv(decision_days=3, config=CFG), TradingToolEnv(decision_days=3, config=CFG)
    assert a.reset(seed=4) == b.reset(seed=4)
    a.place_orders(orders=f"BUY {a.symbols[0]} 0.5"); a.place_orders(orders="BUY NOPE 1"); a.get_reward()
    first = a.reset(seed=9)
    fresh = TradingToolEnv(decision_days=3, config=CFG)
    assert fresh.reset(seed=9) == first
    assert _untimed(a.stats) == _untimed(fresh.stats)
    assert a.stats["invalid"] == a.stats["days"] == 0 and a.stats["score"] is None


@pytest.mark.parametrize("task,k", [("easy", 3), ("medium", 2)])
def test_reward_is_the_envs_score(task, k):
    t = TradingToolEnv(task, decision_days=k, config=CFG)
    t.reset(seed=12)
    days = [f"BUY {t.symbols[0]} 0.4"] + ["HOLD"] * (k - 1)
    for d in days: t.place_orders(orders=d)
    assert t.get_reward() == pytest.approx(_env_score(12, days, task), abs=0)
    assert t.get_reward() == t.stats["score"]


@pytest.mark.parametrize("kw", [dict(orders="BUY NOPE 0.5"), dict(orders="BUY {s} -0.5"), dict(orders="SELL {s} x"),
                                dict(orders=1.5), dict(orders="HOLD", extra="y"), dict()])
def test_invalid_calls_are_counted_holds(kw):
    t = TradingToolEnv(decision_days=4, config=CFG)
    t.reset(seed=3)
    kw = {k: v.format(s=t.symbols[0]) if isinstance(v, str) else v for k, v in kw.items()}
    out = t.place_orders(**kw)
    assert out.startswith("Error: ") and "The day was held." in out
    assert (t.stats["days"], t.stats["invalid"], t.stats["holds"]) == (1, 1, 1)
    assert t.env.unwrapped._parse_errors == 1


def test_calls_after_the_decision_days():
    t = TradingToolEnv(decision_days=1, config=CFG)
    t.reset(seed=1)
    assert "last decision day" in t.place_orders(orders="HOLD")
    out = t.place_orders(orders="HOLD")
    assert out.startswith("Error:") and t.stats["invalid"] == 1 and t.stats["days"] == 1
    assert t.get_reward() == pytest.approx(_env_score(1, []), abs=0)


def test_lost_server_is_a_counted_failure():
    import time
    from tradenb.server import start_background_server
    url, srv = start_background_server()
    t = TradingToolEnv(base_url=url, decision_days=3, timeout=2.0)
    t.reset(seed=5)
    assert not t.place_orders(orders="HOLD").startswith("Error")
    srv.should_exit = srv.force_exit = True
    import httpx
    for _ in range(200):                         # until the port answers no more
        try: httpx.get(url + "/health", timeout=0.2)
        except httpx.HTTPError: break
        time.sleep(0.05)
    assert t.place_orders(orders="HOLD").startswith("Error: the environment is unavailable")
    assert t.get_reward() is None and t.stats["failed"]
    assert t.reset(seed=6).startswith("Error: the environment is unavailable")
