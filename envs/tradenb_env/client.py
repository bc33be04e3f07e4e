"""The OpenEnv client of the tradenb environment.

`TradenbEnv` is OpenEnv's generic WebSocket client (dict actions and observations: `{"text": "BUY TCS 0.5"}`;
`reset(task=..., split=..., seed=...)`). For a gymnasium-style client over the plain-HTTP session API, use
`tradenb.client.RemoteTradingEnv`; for TRL's `environment_factory`, `tradenb.tool_env.TradingToolEnv(base_url=...)`.
"""
from openenv.core.generic_client import GenericEnvClient


class TradenbEnv(GenericEnvClient):
    "OpenEnv client of a served tradenb environment, e.g. `TradenbEnv(base_url='http://127.0.0.1:8000').sync()`."
