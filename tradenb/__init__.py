"""tradenb: a reproducible research companion for training language models and RL agents to trade."""
__version__ = "0.1.0"

# Importing tradenb registers its Gymnasium environments (the entry point is a string, so the
# environment module itself is only imported when an env is made).
import gymnasium as _gym

if "tradenb/Trading-v1" not in _gym.registry:
    _gym.register(id="tradenb/Trading-v1", entry_point="tradenb.env:TradingEnv")
