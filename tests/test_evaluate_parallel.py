"Scale-out evaluation (issue 17, item 6): `evaluate_all(jobs=N)` over processes gives the serial leaderboard exactly."
import importlib.util

import pandas as pd
import pytest

from tradenb.core import Config
from tradenb.evaluate import evaluate_all

AGENTS = [("hold", None), ("buy_and_hold", None), ("random", None), ("rsi", None)]   # random: several seeds
TIMING = ["seconds", "neural_seconds"]   # wall seconds (static and neural): the columns that may differ


def _same(a, b):
    (lb_a, eps_a), (lb_b, eps_b) = a, b
    pd.testing.assert_frame_equal(lb_a.drop(columns=TIMING), lb_b.drop(columns=TIMING))
    assert list(eps_a) == list(eps_b)
    for k in eps_a: pd.testing.assert_frame_equal(eps_a[k], eps_b[k])


@pytest.fixture(scope="module")
def serial():
    return evaluate_all(Config(), ("easy", "medium"), agents=AGENTS, n_episodes=8, track=False)


def test_jobs_equal_serial(serial):
    _same(serial, evaluate_all(Config(), ("easy", "medium"), agents=AGENTS, n_episodes=8, track=False, jobs=2))


def test_order_of_work_does_not_change_a_row(serial):
    "Seeds come from the config, not from which worker plays first: the reversed list gives the same rows."
    lb, _ = evaluate_all(Config(), ("easy", "medium"), agents=AGENTS[::-1], n_episodes=8, track=False, jobs=2)
    key = ["agent", "task"]
    a = serial[0].drop(columns=TIMING).sort_values(key).reset_index(drop=True)
    b = lb.drop(columns=TIMING).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_bad_arguments():
    with pytest.raises(ValueError, match="jobs must be at least 1"): evaluate_all(Config(), agents=AGENTS, jobs=0)
    with pytest.raises(ValueError, match="unknown backend 'dask'"):
        evaluate_all(Config(), agents=AGENTS, jobs=2, backend="dask")


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed: the next test runs")
def test_ray_missing_is_a_clear_error():
    with pytest.raises(ImportError, match=r"tradenb\[ray\]"):
        evaluate_all(Config(), ("easy",), agents=AGENTS[:1], n_episodes=8, track=False, jobs=2, backend="ray")


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="Ray is not installed (the `ray` extra: pip install 'tradenb[ray]'); CI runs it with it")
def test_ray_equals_serial(serial):
    import ray
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try: _same(serial, evaluate_all(Config(), ("easy", "medium"), agents=AGENTS, n_episodes=8, track=False,
                                    jobs=2, backend="ray"))
    finally: ray.shutdown()
