"Training data: the SFT datasets never show a later day, have their mix, sizes and cards; quality metrics."
import json
import re

import pandas as pd
import pytest

from tradenb.core import Config
from tradenb.data import split_bounds
from tradenb.prompts import SYSTEM_PROMPT, parse_action
from tradenb.training_data import (DATASET_NAMES, build_dataset, build_datasets, dataset_size, example_quality,
                                   leak_flags, quality_summary)

DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


@pytest.fixture(scope="module")
def built(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    c = cfg.replace(output_dir=out)
    return c, {name: build_dataset(c, name, n=n) for name, n in
               [("sft_v1_rule", 70), ("sft_v2_balanced", 100), ("sft_v3_distilled", 80), ("sft_seed003_mix", 60)]}


def test_sft_examples_come_from_train_and_never_show_a_later_day(built, cube):
    _, sets = built
    lo, hi = split_bounds("train")
    dates = list(cube.date_str)
    for name, (ds, row) in sets.items():
        for ex in ds:
            d = pd.Timestamp(ex["date"])
            assert lo <= d <= hi, name
            sysm, user, asst = ex["messages"]
            assert sysm["content"] == SYSTEM_PROMPT and user["role"] == "user" and asst["role"] == "assistant"
            assert user["content"].splitlines()[0].endswith(f"| {ex['date']}")
            for x in DATE.findall(user["content"] + asst["content"]):
                assert pd.Timestamp(x) <= d, (name, x)
            # no close after t appears in the prompt
            t = dates.index(ex["date"])
            idx = [cube.symbols.index(s) for s in ex["symbols"]]
            shown = dict(re.findall(r"^([A-Z0-9&-]+): close ([\d.]+) ", user["content"], re.M))
            assert shown == {s: f"{cube.close[t, i]:.2f}" for s, i in zip(ex["symbols"], idx)}   # day t's closes only
            today = set(shown.values())
            for p in cube.close[t + 1: t + 16, idx].ravel():
                if f"{p:.2f}" not in today: assert f"{p:.2f}" not in user["content"] + asst["content"]
            assert not parse_action(asst["content"], ex["symbols"]).parse_error


def test_datasets_have_their_mix_sizes_and_cards(built):
    from datasets import load_from_disk
    c, sets = built
    for name, (ds, row) in sets.items():
        assert row["n_examples"] == len(ds) and row["profile"] == "smoke" and row["generator_version"]
        path = c.output_dir/"datasets"/name
        again = load_from_disk(str(path))
        assert again["messages"] == ds["messages"]
        card = json.loads((path/"card.json").read_text())
        assert card["n_examples"] == len(ds) and card["source_split"] == "train" and "structured_pct" in card["quality"]
        assert (path/"README.md").read_text().startswith(f"# {name}")
    for name in ("sft_v2_balanced", "sft_v3_distilled"):
        row = sets[name][1]
        for a, target in (("buy", 0.35), ("sell", 0.25), ("hold", 0.40)):
            assert abs(row[f"{a}_share"] - target) <= 0.01
        assert row["structured_pct"] == 100 and row["label_agreement_pct"] >= 99 and row["leak_flags"] == 0
    v1 = sets["sft_v1_rule"][1]
    assert v1["hold_share"] > 0.7     # the rule's natural imbalance: mostly HOLD
    assert sets["sft_v3_distilled"][1]["oracle_agreement_pct"] == 100


def test_seed003_mix_has_single_and_portfolio_examples_with_think(built):
    ds, _ = built[1]["sft_seed003_mix"]
    sizes = {len(s) for s in ds["symbols"]}
    assert sizes == {1, 10}
    assert all(m[2]["content"].startswith("<think>") and "</think>" in m[2]["content"] for m in ds["messages"])
    assert any(re.search(r"^(BUY|SELL) [A-Z&-]+ \d", m[2]["content"].split("</think>")[1].strip(), re.M)
               for m in ds["messages"])


def test_build_datasets_rejects_unknown_names(cfg):
    with pytest.raises(ValueError, match="Unknown dataset"):
        build_datasets(cfg, ["sft_v9"])


def test_dataset_sizes_come_from_the_profiles():
    for profile in ("smoke", "full"):
        c = Config.from_profile(profile)
        assert {n: dataset_size(c, n) for n in DATASET_NAMES} == c.values("datasets")
    with pytest.raises(ValueError, match="Unknown dataset"):
        dataset_size(Config(), "sft_v9")


def test_quality_summary_and_leak_flags():
    good = "<think>\nTrend: up.\nMomentum: RSI 55.\nRisk: size small.\nDecision: HOLD\n</think>\nHOLD"
    rows = [example_quality(good, "HOLD", ["TCS"], "p", "2024-01-02", conflict=c) for c in (True, False)]
    s = quality_summary(pd.DataFrame(rows))
    assert (s["structured_pct"], s["risk_pct"], s["conflict_pct"], s["leak_flags"]) == (100, 100, 0, 0)
    assert leak_flags("on 2024-01-01 it is certainly up", "p", "2024-01-02") == ["certainty"]
    assert leak_flags("close 101.25", "close 100.00", "2024-01-02", future_prices=["101.25"]) == ["future_price"]
