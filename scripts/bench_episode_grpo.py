"""Benchmark of issue 18 (not a timed test): episodes per minute of episode-level GRPO on CPU (the tiny model, no SFT)
against the in-process env and against a served env on loopback, and the share of a GRPO step spent in the env
(reset, tool calls, holding the rest and scoring) vs generation and the update. Also the env alone: K-day rollouts
of the template rule through `TradingToolEnv`, in process and served.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_episode_grpo.py [steps]
"""
import json, sys, time

from tradenb.core import Config
from tradenb.episode_grpo import EpisodeGRPOStageConfig, teacher_orders, train_episode_grpo
from tradenb.server import start_background_server
from tradenb.tool_env import TradingToolEnv

cfg, steps = Config(), int(sys.argv[1]) if len(sys.argv) > 1 else 3
url, srv = start_background_server()
out = {}
for name, base_url in (("in_process", None), ("served_loopback", url)):
    st = EpisodeGRPOStageConfig.for_profile(cfg, steps=steps, save_steps=steps, sft_steps=0, base_url=base_url)
    r = train_episode_grpo(cfg, st, "tiny", f"build/bench_episode_grpo/{name}", track=False, resume=False)
    step_s = sum(h.get("step_time", 0) for h in r["health"])
    env_s = sum(h.get("episode/env_seconds", 0) for h in r["health"])
    # the env alone: the template rule's K-day rollouts (in-process orders from the in-process twin of each episode)
    twin, env = TradingToolEnv(decision_days=st.decision_days, config=cfg), TradingToolEnv(
        decision_days=st.decision_days, base_url=base_url, config=None if base_url else cfg)
    n, plans = 40, []
    for seed in range(n):                      # the orders first (from the in-process twin), then time the env alone
        twin.reset(seed=seed); plan = []
        for _ in range(st.decision_days): plan.append(teacher_orders(twin)); twin.place_orders(orders=plan[-1])
        plans.append(plan)
    t0 = time.perf_counter()
    for seed, plan in enumerate(plans):
        env.reset(seed=seed)
        for o in plan: env.place_orders(orders=o)
        env.get_reward()
    env_only = n / (time.perf_counter() - t0) * 60
    out[name] = dict(grpo_episodes=r["episodes"], grpo_seconds=round(r["seconds"], 1),
                     grpo_episodes_per_min=round(60 * r["episodes"] / r["seconds"], 1),
                     env_share_of_step=round(env_s / step_s, 4), turns_per_episode=r["episode_turns"],
                     env_only_episodes_per_min=round(env_only))
print(json.dumps(out, indent=1))
