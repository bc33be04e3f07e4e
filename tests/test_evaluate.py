"The evaluation harness: pinned episode sets, Hold's floor, CIs, the leaderboard files."
import json

import numpy as np
import pandas as pd
import pytest

from tradenb.agents import BuyAndHoldAgent, HoldAgent, RandomAgent, RSIRuleAgent
from tradenb.core import Config
from tradenb.env import ENV_VERSION, TASKS, TradingEnv
from tradenb.evaluate import (BASELINE_COLUMNS, EpisodeSet, bootstrap_ci, episode_set, evaluate_agent, evaluate_all,
                              make_agent, paired_difference, play_episodes, write_leaderboard)

CFG = Config()


@pytest.mark.parametrize("task", list(TASKS))
def test_hold_scores_exactly_the_floor_on_every_task(task):
    row, eps = evaluate_agent(HoldAgent(), CFG, task, es=episode_set(CFG, task, "test", n=6, save=False), track=False)
    assert row["score_mean"] == 0.3 and row["score_ci_low"] == row["score_ci_high"] == 0.3
    assert row["hold_share"] == 1.0 and row["activity_mean"] == 0.0 and row["parse_error_rate"] == 0.0
    assert (row["env_version"], row["task_version"]) == (ENV_VERSION, TASKS[task].version)


def test_episode_sets_pin_the_episodes_every_agent_plays():
    es = episode_set(CFG, "medium", "val", n=4, save=False)
    for mode in ("text", "numeric"):
        env = TradingEnv("medium", mode, "val")
        for ep in es.episodes:
            _, info = env.reset(options=ep)
            assert (info["date"], env.symbols) == (ep["start_date"], ep["symbols"])
    # the set depends on the seed only: a fresh draw gives the same episodes, another seed others
    assert episode_set(CFG, "medium", "val", n=4, save=False).episodes == es.episodes
    assert episode_set(CFG.replace(seed=3), "medium", "val", n=4, save=False).episodes != es.episodes


def test_episode_set_round_trip_and_stale_set_is_redrawn(tmp_path, monkeypatch):
    es = episode_set(CFG, "easy", "test", n=3, save=False)
    path = es.save(tmp_path/"set.json")
    assert EpisodeSet.load(path) == es
    (tmp_path/"junk.json").write_text(json.dumps({"task": "easy"}))
    with pytest.raises(ValueError, match="junk.json"): EpisodeSet.load(tmp_path/"junk.json")
    # a saved set made on other data is not reused
    import tradenb.evaluate as ev
    monkeypatch.setattr(ev, "episode_set_path", lambda cfg, task, split, n: path)
    stale = json.loads(path.read_text()); stale["data_sha256"] = "0" * 64; stale["episodes"] = []
    path.write_text(json.dumps(stale))
    fresh = ev.episode_set(CFG, "easy", "test", n=3)
    assert fresh.episodes == es.episodes and fresh.data_sha256 != "0" * 64


def test_agents_are_deterministic_given_a_seed():
    es = episode_set(CFG, "medium", "test", n=3, save=False)
    for agent in (RandomAgent(), RSIRuleAgent(), BuyAndHoldAgent()):
        a = pd.DataFrame(play_episodes(agent, es, CFG, seed=5))
        b = pd.DataFrame(play_episodes(agent, es, CFG, seed=5))
        pd.testing.assert_frame_equal(a, b)
    c = pd.DataFrame(play_episodes(RandomAgent(), es, CFG, seed=6))
    assert not np.allclose(c.score, pd.DataFrame(play_episodes(RandomAgent(), es, CFG, seed=5)).score)


def test_stochastic_agents_run_every_seed_and_seeds_agree_within_cis():
    cfg = CFG.replace(n_eval_seeds=5)
    # 40 episodes: with 20, score v2's heavy tails made one 5-seed block differ from another at p = 0.009
    es = episode_set(cfg, "easy", "test", n=40, save=False)
    row, eps = evaluate_agent(RandomAgent(), cfg, "easy", es=es, track=False)
    assert row["n_seeds"] == 5 and len(eps) == 200
    assert row["score_ci_low"] < row["score_mean"] < row["score_ci_high"]
    other, other_eps = evaluate_agent(RandomAgent(), cfg, "easy", es=es, seeds=list(range(100, 105)), track=False)
    d = paired_difference(eps, other_eps)          # the same agent, other seeds: no difference on the same episodes
    assert d["diff_ci_low"] <= 0 <= d["diff_ci_high"] and d["p_value"] > 0.05


def test_bootstrap_ci_covers_the_mean():
    x = np.random.default_rng(1).normal(0.4, 0.05, 50)
    lo, hi = bootstrap_ci(x)
    assert lo < x.mean() < hi and hi - lo < 0.05
    assert bootstrap_ci([0.3]) == (0.3, 0.3)


def test_make_agent_errors_name_what_is_missing(tmp_path):
    cfg = CFG.replace(root=tmp_path)
    with pytest.raises(FileNotFoundError, match="No saved PPO agent for task 'hard'"): make_agent("ppo", cfg, "hard")
    with pytest.raises(ValueError, match="needs a task"): make_agent("dqn", cfg)


def test_leaderboard_files(tmp_path, monkeypatch):
    import tradenb.evaluate as ev
    monkeypatch.setattr(ev, "episode_set_path", lambda cfg, task, split, n: tmp_path/f"{task}_{split}_{n}.json")  # not data/
    cfg = CFG.replace(output_dir=tmp_path, n_eval_episodes=4)
    lb, eps = evaluate_all(cfg, tasks=("easy", "medium"), agents=[("hold", None), ("rsi", None)], track=False)
    paths = write_leaderboard(lb, eps, cfg)
    out = pd.read_csv(paths["csv"])
    assert list(out.columns[: len(BASELINE_COLUMNS)]) == BASELINE_COLUMNS
    assert len(out) == 4 and set(out.agent) == {"Hold", "RSI rules"}
    assert out.loc[out.agent == "Hold", "published_score"].eq(0.3).all()
    assert paths["fig"].stat().st_size > 10_000 and paths["equity"].exists()
    assert "| Hold" in paths["md"].read_text()
