import pytest

from tradenb.data import load_panel


@pytest.fixture(scope="session")
def panel():
    "The shipped NIFTY panel (validated)."
    return load_panel()


@pytest.fixture(scope="session")
def cfg():
    "The smoke profile's config (a module may define its own `cfg`)."
    from tradenb.core import Config
    return Config.from_profile("smoke")


@pytest.fixture(scope="session")
def cube(cfg):
    "The shipped universe's market cube (cached by the env module)."
    from tradenb.data import shipped_panel_path
    from tradenb.env import shipped_cube
    return shipped_cube(str(shipped_panel_path(cfg.universe, cfg)))


@pytest.fixture(scope="session")
def small_panel(panel):
    "Three symbols of the shipped panel: fast to recompute features on."
    return panel[panel.symbol.isin(["RELIANCE", "TCS", "INFY"])].reset_index(drop=True)


# the tiny model's build with a short pretraining (seconds, not minutes)
SMALL_TINY = dict(n_conversations=60, drill_steps=6, drill_batch_size=4, n_easy_conversations=20, easy_steps=6, steps=30, batch_size=4, vocab_size=400, num_hidden_layers=2, token_budget=1200)


@pytest.fixture(scope="session")
def small_tiny_lm(tmp_path_factory):
    """A tiny model built by the same code as `models/tiny` with a short pretraining (`SMALL_TINY`):
    tests never depend on the cached `models/tiny` (a clean clone has none). Threads: the `build` runtime."""
    pytest.importorskip("torch")
    from tradenb.core import Config
    from tradenb.lm import TinyLMConfig, build_tiny_lm
    return build_tiny_lm(Config(), tmp_path_factory.mktemp("tiny"),
                         TinyLMConfig(**SMALL_TINY))
