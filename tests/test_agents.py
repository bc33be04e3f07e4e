"Agents: deterministic given a seed; SB3 agents train reproducibly, save and reload."
import numpy as np
import pytest

from tradenb.agents import DiscreteActions, RLConfig, RSIRuleAgent, RandomAgent, SB3Agent, make_rl_env, train_sb3
from tradenb.core import Config
from tradenb.env import TradingEnv, run_episode
from tradenb.features import FEATURES

pytest.importorskip("stable_baselines3")


def _params(agent):
    return np.concatenate([p.detach().numpy().ravel() for p in agent.model.policy.parameters()])


@pytest.mark.parametrize("algo,task", [("ppo", "medium"), ("dqn", "easy")])
def test_sb3_training_is_deterministic_and_reloads(tmp_path, algo, task):
    rl = RLConfig(algo=algo, task=task, total_timesteps=512, n_steps=64, n_envs=2 if algo == "ppo" else 1, seed=3)
    cfg_a = Config().replace(root=tmp_path / "a")
    # models go under cfg.models_dir: two roots, two identical trainings
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir()
    for d in ("a", "b"): (tmp_path / d / "data").symlink_to(Config().data_dir)
    a, sa = train_sb3(rl, cfg_a)
    b, sb = train_sb3(rl, Config().replace(root=tmp_path / "b"))
    np.testing.assert_array_equal(_params(a), _params(b))
    again = SB3Agent.load(sa["path"])
    np.testing.assert_array_equal(_params(a), _params(again))
    env = TradingEnv(task, "numeric", "val")
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(a.act([obs], [env])[0], again.act([obs], [env])[0])


def test_sb3_load_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="ppo_easy_s0.zip"): SB3Agent.load(tmp_path / "ppo_easy_s0.zip")


def test_discrete_actions_need_one_stock_numeric():
    with pytest.raises(ValueError, match="one-stock numeric"): DiscreteActions(TradingEnv("medium", "numeric", "train"))
    env = make_rl_env("easy", discrete=True)
    assert env.action_space.n == 3 and env.action(1)[0] == 1.0 and env.action(2)[0] == -1.0


def test_rule_agent_follows_its_documented_rules():
    env = TradingEnv("hard", "text", "test")
    agent = RSIRuleAgent()
    for seed in range(5):
        env.reset(seed=seed)
        for _ in range(10):
            action = agent.decide(env)
            u = env.unwrapped
            f = u.observed_features()
            rsi = f[:, FEATURES.index("rsi_14")]
            for line in action.splitlines():
                verb, sym, size = (line.split() + [None, None])[:3]
                if verb == "BUY":
                    i = u.symbols.index(sym)
                    assert rsi[i] < 30 and u.portfolio.qty[i] == 0
                elif verb == "SELL":
                    assert u.portfolio.qty[u.symbols.index(sym)] > 0
            env.step(action)


def test_random_agent_depends_on_its_seed_only():
    env = TradingEnv("medium", "text", "test")
    s1 = run_episode(env, RandomAgent().policy(seed=1), seed=0)["score"]
    assert s1 == run_episode(env, RandomAgent().policy(seed=1), seed=0)["score"]
    assert any(run_episode(env, RandomAgent().policy(seed=k), seed=0)["score"] != s1 for k in range(2, 5))
