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
