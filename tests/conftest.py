import numpy as np
import pytest

from tradenb.data import load_panel


@pytest.fixture(scope="session")
def panel():
    "The shipped NIFTY panel (validated)."
    return load_panel()


@pytest.fixture(scope="session")
def small_panel(panel):
    "Three symbols of the shipped panel: fast to recompute features on."
    return panel[panel.symbol.isin(["RELIANCE", "TCS", "INFY"])].reset_index(drop=True)


# the tiny model's build with a short pretraining (seconds, not minutes)
SMALL_TINY = dict(n_conversations=60, steps=30, batch_size=4, vocab_size=400)


@pytest.fixture(scope="session")
def small_tiny_lm(tmp_path_factory):
    """A tiny model built by the same code as `models/tiny` with a short pretraining (`SMALL_TINY`):
    tests never depend on the cached `models/tiny` (a clean clone has none)."""
    torch = pytest.importorskip("torch")
    from tradenb.core import Config
    from tradenb.lm import TinyLMConfig, build_tiny_lm
    torch.set_num_threads(1)
    return build_tiny_lm(Config(), tmp_path_factory.mktemp("tiny"),
                         TinyLMConfig(**SMALL_TINY))
