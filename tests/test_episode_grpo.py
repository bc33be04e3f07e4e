"Chapter 33: tool-call parsing, the episode metrics, the teacher's conversations, a one-step episode-level GRPO run."
import math

import pytest

from tradenb.core import Config
from tradenb.episode_grpo import (EpisodeGRPOStageConfig, ToolCallAgent, episode_dataset, episode_metrics_reward,
                                  episode_summary, parse_tool_call, teacher_conversations, train_episode_grpo)
from tradenb.tool_env import TradingToolEnv

CFG = Config()


def _call(body): return f"<tool_call>\n{body}\n</tool_call>"


@pytest.mark.parametrize("text,want", [
    (_call('{"name": "place_orders", "arguments": {"orders": "BUY X 0.5"}}'), "BUY X 0.5"),
    ("HOLD", None), (_call("{not json"), None), (_call('{"name": "other", "arguments": {"orders": "HOLD"}}'), None),
    (_call('{"name": "place_orders", "arguments": {"orders": "HOLD", "more": 1}}'), None),
    (_call('{"name": "place_orders", "arguments": {"orders": 3}}'), None)])
def test_parse_tool_call(text, want):
    assert parse_tool_call(text) == want


def test_episode_summary_and_metrics_reward():
    envs = [TradingToolEnv(decision_days=2, config=CFG) for _ in range(3)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
        if i: e.place_orders(orders="HOLD"); e.place_orders(orders="SELL NOPE 1")
    logged = {}
    assert episode_metrics_reward([None] * 3, environments=envs, log_metric=logged.__setitem__) == [None] * 3
    s = episode_summary([e.stats for e in envs])
    assert s["episode/tool_error_rate"] == 0.5 and s["episode/turns"] == pytest.approx(4 / 3)
    assert s["episode/hold_share"] == 1.0 and s["episode/failed"] == 0.0
    assert logged["episode/score"] == pytest.approx(sum(e.get_reward() for e in envs) / 3)
    assert math.isnan(episode_summary([])["episode/score"])


def test_teacher_conversations_and_dataset():
    st = EpisodeGRPOStageConfig(sft_episodes=3, decision_days=2, n_episodes=5)
    ex = teacher_conversations(CFG, st)
    assert len(ex) == 6 and all(e["completion"][0]["tool_calls"] for e in ex)
    assert [m["role"] for m in ex[1]["prompt"]][-2:] == ["assistant", "tool"]
    ds = episode_dataset(CFG, st)
    assert len(ds) == 5 and len(set(ds["seed"])) == 5 and ds[0]["prompt"][0]["role"] == "system"


def test_train_episode_grpo_one_step(tmp_path):
    st = EpisodeGRPOStageConfig(steps=1, save_steps=1, sft_steps=1, sft_episodes=2, sft_batch_size=2, n_episodes=1,
                                batch_size=4, num_generations=4, max_completion_length=256)
    r = train_episode_grpo(CFG, st, "tiny", tmp_path/"run", track=False)
    assert r["global_step"] == 1 and r["checkpoints"] and r["episodes"] == 4
    assert r["episode_score"] is not None and r["health"][0]["episode/failed"] == 0.0
    assert (tmp_path/"run"/"sft_tools"/"config.json").exists() and (tmp_path/"run"/"final").exists()


def test_tool_call_agent_plays_an_episode():
    from tradenb.evaluate import episode_set, evaluate_agent
    from tradenb.lm import load_lm
    from dataclasses import replace
    model, tok = load_lm("tiny", CFG)
    es = episode_set(CFG, "easy", "val", 8)
    row, eps = evaluate_agent(ToolCallAgent(model, tok, context_days=2, max_new_tokens=4), CFG, "easy", "val",
                              es=replace(es, episodes=es.episodes[:1]), track=False)
    assert len(eps) == 1 and 0 <= row["parse_error_rate"] <= 1
