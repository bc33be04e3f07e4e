"tradenb's trading environment as an OpenEnv package: the client (`TradenbEnv`) and the served app (`server.app`)."
from .client import TradenbEnv

__all__ = ["TradenbEnv"]
