"The evaluation harness: pinned episode sets, Hold's floor, CIs, the leaderboard files."
import json

import numpy as np
import pandas as pd
import pytest

from tradenb.agents import BuyAndHoldAgent, HoldAgent, RandomAgent, RSIRuleAgent
from tradenb.core import Config
from tradenb.env import ENV_VERSION, TASKS, TradingEnv
from tradenb.evaluate import (BASELINE_COLUMNS, EpisodeSet, bootstrap_ci, episode_set, episodes_key, evaluate_agent,
                              evaluate_all, lm_episode_count, make_agent, neural_count, paired_difference, play_episodes,
                              write_leaderboard)

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
    assert "| Hold" in paths["md"].read_text() and "neural_score" in paths["md"].read_text()
    # the neural column on every row, each with its paired difference to Hold on the same generated paths
    assert out.neural_score_mean.notna().all() and out.neural_n_episodes.eq(4).all()
    assert out.neural_score_diff_vs_hold.notna().all()
    assert out.loc[out.agent == "Hold", "neural_score_diff_vs_hold"].eq(0).all()


def _neural_set(task="easy", n=4):
    return episode_set(CFG, task, "test", n=n, save=False)


@pytest.mark.parametrize("task", list(TASKS))
def test_hold_scores_exactly_the_floor_on_the_neural_env(task):
    row, _ = evaluate_agent(HoldAgent(), CFG, task, es=_neural_set(task, 3), track=False, source="neural")
    assert row["score_mean"] == 0.3 and row["score_ci_low"] == row["score_ci_high"] == 0.3 and row["hold_share"] == 1


def test_neural_scores_are_deterministic_and_paired_by_episode():
    es = _neural_set(n=4)
    a = pd.DataFrame(play_episodes(RSIRuleAgent(), es, CFG, seed=5, source="neural"))
    b = pd.DataFrame(play_episodes(RSIRuleAgent(), es, CFG, seed=5, source="neural"))
    pd.testing.assert_frame_equal(a, b)                         # same seed: the same paths, the same scores
    c = pd.DataFrame(play_episodes(BuyAndHoldAgent(), es, CFG, seed=6, source="neural"))
    d = pd.DataFrame(play_episodes(BuyAndHoldAgent(), es, CFG, seed=5, source="neural"))
    assert not np.allclose(c.total_return, d.total_return)      # another seed: other paths
    # episode i's path depends on the seed and i only: a prefix of the set replays the same paths (what pairs an LM's
    # few neural episodes with Hold's many), and it is not the real days
    head = pd.DataFrame(play_episodes(BuyAndHoldAgent(), EpisodeSet(**{**es.__dict__, "episodes": es.episodes[:2]}),
                                      CFG, seed=5, source="neural"))
    pd.testing.assert_frame_equal(head, d.iloc[:2])
    real = pd.DataFrame(play_episodes(BuyAndHoldAgent(), es, CFG, seed=5))
    assert not np.allclose(real.total_return, d.total_return)


def test_neural_count_is_the_profile_value():
    ev = CFG.values("evaluate")
    assert neural_count(CFG, False, 20) == min(ev["neural_episodes"], 20)
    assert neural_count(CFG, True, 8) == min(ev["neural_episodes_lm"], 8)
    assert neural_count(CFG, False, 20, 0) == 0 and neural_count(CFG, False, 3, 10) == 3
    full = Config.from_profile("full")
    assert neural_count(full, False, 100) == 100   # full: None, as many as the static set
    # an LM's neural column only on the profile's neural_tasks_lm (smoke: easy); other agents on every task
    assert neural_count(CFG, True, 8, task="hard") == (min(ev["neural_episodes_lm"], 8) if "hard" in ev["neural_tasks_lm"]
                                                        else 0)
    assert neural_count(CFG, True, 8, task="easy") == min(ev["neural_episodes_lm"], 8)
    assert neural_count(CFG, False, 20, task="hard") == min(ev["neural_episodes"], 20)
    assert neural_count(full, True, 100, task="hard") == 100
    with pytest.raises(ValueError, match="neural_episodes must be 0"): neural_count(CFG, False, 20, -1)


def test_an_lm_plays_fewer_episodes_only_where_the_profile_says():
    by_task = CFG.values("evaluate")["lm_episodes_by_task"]
    for task in TASKS:
        assert lm_episode_count(CFG, task) == by_task.get(task, CFG.n_eval_episodes_lm)
    assert lm_episode_count(CFG.replace(n_eval_episodes_lm=3), "easy") == 3 or "easy" in by_task
    full = Config.from_profile("full")
    assert [lm_episode_count(full, t) for t in TASKS] == [full.n_eval_episodes_lm] * len(TASKS)


def test_missing_world_model_is_trained_and_saved_not_a_crash(tmp_path, monkeypatch):
    "No saved world model: `evaluate_all` trains it (chapter 34's recipe) and saves it where the neural env looks."
    pytest.importorskip("torch")
    import torch
    import tradenb.world_model as wm
    from tradenb.core import runtime
    from tradenb.env import shipped_cube
    from tradenb.data import shipped_panel_path
    import tradenb.evaluate as ev
    monkeypatch.setattr(ev, "episode_set_path", lambda cfg, task, split, n: tmp_path/f"{task}_{split}_{n}.json")  # not data/
    path = tmp_path/"world_model"/"nifty50.pt"
    monkeypatch.setattr(wm, "world_model_path", lambda cfg, universe=None: path)
    lb, eps = evaluate_all(CFG, ("easy",), agents=[("hold", None), ("rsi", None)], n_episodes=3, track=False)
    assert path.exists() and path.with_suffix(".json").exists()
    assert lb.neural_score_mean.notna().all() and lb.neural_n_episodes.eq(3).all()
    assert set(eps) == {("Hold", "easy"), ("RSI rules", "easy"), episodes_key("Hold", "easy", "neural"),
                        episodes_key("RSI rules", "easy", "neural")}
    # the weights chapter 34 trains (its call, its one thread) are the ones saved here: either chapter may go first
    threads = torch.get_num_threads()
    torch.set_num_threads(runtime(CFG, "rl").threads)
    try: own = wm.train_world_model(shipped_cube(str(shipped_panel_path(CFG.universe, CFG))), CFG,
                                    wm.WorldModelConfig(**CFG.values("world_model")))
    finally: torch.set_num_threads(threads)
    saved = wm.load_world_model(path)
    assert all(torch.equal(a, b) for a, b in zip(saved.net.state_dict().values(), own.net.state_dict().values()))
    assert wm.ensure_world_model(CFG) == path                  # saved: kept, not retrained


def test_paired_difference_treats_float_noise_as_no_difference():
    # two agents that both score 0.300 differ by ~1e-17 per episode: no difference, whatever the noise's signs
    base = pd.DataFrame(dict(episode=range(6), start_date=[f"2024-01-0{i + 1}" for i in range(6)], score=0.3))
    for noise in ([1e-17, -2e-17, 3e-17, 0, -1e-17, 5e-18], [-1e-17] * 6):
        got = paired_difference(base.assign(score=0.3 + np.array(noise)), base)
        assert (got["diff_mean"], got["diff_ci_low"], got["diff_ci_high"], got["p_value"]) == (0.0, 0.0, 0.0, 1.0)
        assert got["a_better_share"] == got["b_better_share"] == 0.0
    real = paired_difference(base.assign(score=[0.31, 0.32, 0.33, 0.305, 0.34, 0.31]), base)
    assert real["diff_mean"] > 0 and real["p_value"] < 0.1   # a real difference is still one
