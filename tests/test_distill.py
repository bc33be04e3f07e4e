"Distillation: the GRPO prompt-set contract, no leakage, teachers (incl. a real local HTTP server), datasets."
import re

import numpy as np
import pandas as pd
import pytest

from tradenb.core import Config
from tradenb.data import shipped_panel_path, split_bounds
from tradenb.distill import GRPO_COLUMNS, grpo_prompt_set, rollout_decisions
from tradenb.env import TradingEnv, shipped_cube
from tradenb.features import FEATURES
from tradenb.labeling import indicator_signal
from tradenb.prompts import SYSTEM_PROMPT, market_line, parse_action

DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


@pytest.fixture(scope="module")
def cfg():
    return Config.from_profile("smoke")


@pytest.fixture(scope="module")
def cube(cfg):
    return shipped_cube(str(shipped_panel_path(cfg.universe, cfg)))


@pytest.fixture(scope="module", params=["easy", "medium"])
def gp(request, cfg):
    return request.param, grpo_prompt_set(cfg, "train", n=60, task=request.param, seed=3)


def test_grpo_contract_columns_and_types(gp):
    task, ds = gp
    assert len(ds) == 60 and set(GRPO_COLUMNS) <= set(ds.column_names)
    for ex in ds:
        n = len(ex["symbols"])
        assert n == {"easy": 1, "medium": 10}[task]
        assert [m["role"] for m in ex["prompt"]] == ["system", "user"] and ex["prompt"][0]["content"] == SYSTEM_PROMPT
        for col in ("close", "next_return", "horizon_return", "volatility", "signal"):
            assert len(ex[col]) == n, col
        assert all(np.isfinite(ex[c]).all() for c in ("close", "next_return", "horizon_return", "volatility"))
        assert min(ex["volatility"]) > 0 and set(ex["signal"]) <= {-1, 0, 1}
        assert not parse_action(ex["label"], ex["symbols"]).parse_error


def test_grpo_state_matches_the_market(gp, cube):
    "close / returns / volatility / signal recomputed independently from the cube."
    _, ds = gp
    dates = list(cube.date_str)
    for ex in ds.select(range(15)):
        t = dates.index(ex["date"])
        idx = [cube.symbols.index(s) for s in ex["symbols"]]
        c = cube.close
        np.testing.assert_allclose(ex["close"], c[t, idx])
        np.testing.assert_allclose(ex["next_return"], c[t + 1, idx] / c[t, idx] - 1, rtol=1e-9)
        np.testing.assert_allclose(ex["horizon_return"], c[t + 5, idx] / c[t, idx] - 1, rtol=1e-9)
        r = pd.Series(c[t - 20: t + 1, idx[0]]).pct_change().dropna()
        assert ex["volatility"][0] == pytest.approx(r.std(), rel=1e-9)
        assert ex["signal"] == indicator_signal(cube.features[t, idx]).tolist()


def test_grpo_prompts_are_env_observations_of_their_day(gp, cube):
    "The user message is the env's text observation of day t: its header date and market lines."
    _, ds = gp
    dates = list(cube.date_str)
    for ex in ds:
        user = ex["prompt"][1]["content"]
        assert user.splitlines()[0].endswith(f"| {ex['date']}")
        t = dates.index(ex["date"])
        for s in ex["symbols"]:
            assert market_line(cube, t, cube.symbols.index(s)) in user


def test_no_prompt_mentions_a_later_day_and_all_days_are_train(gp):
    _, ds = gp
    lo, hi = split_bounds("train")
    for ex in ds:
        d = pd.Timestamp(ex["date"])
        assert lo <= d <= hi
        # the forward signals come from inside the split too: t + 5 trading days is still train
        text = " ".join(m["content"] for m in ex["prompt"])
        assert all(pd.Timestamp(x) <= d for x in DATE.findall(text))


def test_grpo_is_deterministic_per_seed(cfg):
    a = grpo_prompt_set(cfg, n=10, seed=7)
    b = grpo_prompt_set(cfg, n=10, seed=7)
    c = grpo_prompt_set(cfg, n=10, seed=8)
    assert a["prompt"] == b["prompt"] and a["label"] == b["label"] and a["prompt"] != c["prompt"]


def test_bad_inputs_raise_clearly(cfg):
    with pytest.raises(ValueError, match="Unknown split"):
        grpo_prompt_set(cfg, "holdout", n=5)
    with pytest.raises(ValueError, match="Unknown task"):
        grpo_prompt_set(cfg, n=5, task="impossible")
    with pytest.raises(ValueError, match="n must be positive"):
        rollout_decisions(cfg, n=0)


def test_empty_split_is_an_error(cfg, panel):
    "A panel whose train split has no labelable days: a clear error, not an empty dataset."
    small = panel[panel.date >= "2024-06-01"]
    splits = {"train": ("2024-06-01", "2024-06-30"), "val": ("2024-07-01", "2024-12-31"), "test": ("2025-01-01", None)}
    with pytest.raises(ValueError, match="window|no decision day"):
        env = TradingEnv("easy", "text", "train", data=small, splits=splits)


# --- teachers --------------------------------------------------------------------------------------------------------
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tradenb.distill import (OpenAICompatibleTeacher, TemplateTeacher, _requests, build_dataset, decision_state,
                             distill, example_quality, teacher_messages)


class FakeOpenAI(BaseHTTPRequestHandler):
    "A tiny OpenAI-compatible server: 429 on the 1st call, a malformed body on the 2nd, garbage content when asked."
    calls, bodies, garbage_for = 0, [], set()

    def log_message(self, *a): pass

    def do_POST(self):
        cls = type(self)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        cls.calls += 1; cls.bodies.append(body)
        if self.path != "/v1/chat/completions":
            self.send_response(404); self.end_headers(); return
        if cls.calls == 1:
            self.send_response(429); self.send_header("Retry-After", "0"); self.end_headers(); return
        if cls.calls == 2:
            self.send_response(200); self.send_header("content-type", "application/json"); self.end_headers()
            self.wfile.write(b'{"choices": [ {"message": '); return
        user = body["messages"][-1]["content"]
        label = user.split("The right decision:\n")[1].split("\n\nWrite")[0]
        garbage = "always garbage" in cls.garbage_for or ("every 4th" in cls.garbage_for and cls.calls % 4 == 0)
        content = "I dunno" if garbage else (
            "Trend: the SMA20 sits above the SMA50.\nMomentum: RSI is neutral but MACD is mixed.\n"
            "Risk: volatility is moderate, so the size stays small.\nDecision: " + label.replace("\n", "; "))
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}],
                          "usage": {"prompt_tokens": 100, "completion_tokens": 20}}).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out))); self.end_headers(); self.wfile.write(out)


@pytest.fixture()
def server():
    FakeOpenAI.calls, FakeOpenAI.bodies, FakeOpenAI.garbage_for = 0, [], set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    th = threading.Thread(target=httpd.serve_forever, daemon=True); th.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown(); httpd.server_close()


@pytest.fixture(scope="module")
def cands(cfg):
    return decision_state(cfg, rollout_decisions(cfg, n=80, seed=11))


def _teacher(url, path, **kw):
    return OpenAICompatibleTeacher(base_url=url, model="fake-mini", api_key="sk-test", cache_path=path,
                                   backoff=0.01, **kw)


def test_api_teacher_retries_429_and_malformed_then_caches(server, cands, tmp_path):
    reqs = _requests(cands.head(4))
    t = _teacher(server, tmp_path/"cache.jsonl")
    out = t.reason(reqs)
    assert all(o and o.startswith("Trend:") for o in out)
    assert t.stats["retries"] == 1 and t.stats["malformed"] == 1 and t.stats["failed"] == 0
    assert FakeOpenAI.calls == 6 and t.stats["http_calls"] == 6
    assert t.stats["prompt_tokens"] == 400 and t.stats["completion_tokens"] == 80
    assert t.stats["cost_usd"] == pytest.approx((400 * 0.15 + 80 * 0.60) / 1e6)
    assert FakeOpenAI.bodies[-1]["model"] == "fake-mini" and FakeOpenAI.bodies[-1]["messages"] == teacher_messages(reqs[-1])
    # a new teacher on the same cache: no HTTP call at all, same answers
    t2 = _teacher(server, tmp_path/"cache.jsonl")
    assert t2.reason(reqs) == out and FakeOpenAI.calls == 6 and t2.stats["cached"] == 4


def test_api_teacher_resumes_after_interruption(server, cands, tmp_path):
    reqs = _requests(cands.head(6))
    t = _teacher(server, tmp_path/"c.jsonl")
    t.reason(reqs[:3])                                 # "interrupted" after three
    with open(tmp_path/"c.jsonl", "a") as f: f.write('{"key": "abc", "cont')   # a line cut mid-write
    calls = FakeOpenAI.calls
    t2 = _teacher(server, tmp_path/"c.jsonl")
    out = t2.reason(reqs)
    assert all(out) and t2.stats["cached"] == 3 and FakeOpenAI.calls - calls == 3


def test_api_teacher_gives_up_after_retries(cands, tmp_path):
    t = OpenAICompatibleTeacher(base_url="http://127.0.0.1:9/v1", cache_path=tmp_path/"x.jsonl", max_retries=2,
                                backoff=0.0, timeout=0.5)
    assert t.reason(_requests(cands.head(1))) == [None] and t.stats["failed"] == 1 and t.stats["retries"] == 3


def test_api_teacher_needs_a_base_url(monkeypatch):
    monkeypatch.delenv("TRADENB_TEACHER_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="TRADENB_TEACHER_BASE_URL"):
        OpenAICompatibleTeacher()


def test_api_teacher_reads_the_environment(monkeypatch, server):
    monkeypatch.setenv("TRADENB_TEACHER_BASE_URL", server)
    monkeypatch.setenv("TRADENB_TEACHER_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    t = OpenAICompatibleTeacher()
    assert (t.base_url, t.model, t.api_key) == (server, "env-model", "sk-env")


def test_garbage_replies_are_counted_rejections_not_a_smaller_dataset(server, cands, cube, tmp_path):
    FakeOpenAI.garbage_for = {"every 4th"}     # a garbage reply on every 4th HTTP call
    t = _teacher(server, tmp_path/"g.jsonl")
    out, info = distill(cands, 20, t, cube)
    assert len(out) == 20 and info["rejected"]["unstructured"] >= 1
    assert out.action.value_counts().to_dict() == cands.head(20).action.value_counts().to_dict()
    FakeOpenAI.garbage_for = {"always garbage"}
    with pytest.raises(ValueError, match="ran out of"):
        distill(cands, 20, _teacher(server, tmp_path/"g2.jsonl"), cube)


def test_template_teacher_agrees_with_the_label(cfg, cube):
    st = decision_state(cfg, rollout_decisions(cfg, "train", "medium", n=100, seed=2))
    st2 = decision_state(cfg, rollout_decisions(cfg, "train", "easy", n=300, seed=2))
    for s in (st, st2):
        texts = TemplateTeacher().reason(_requests(s))
        q = [example_quality(f"<think>{x}</think>\n{r.label}", r.label, r.symbols, r.prompt_text, r.date,
                             any(r.conflict), r.label) for x, r in zip(texts, s.itertuples())]
        agree = np.mean([x["label_agreement"] for x in q])
        assert agree >= 0.99
        assert np.mean([x["structured"] for x in q]) == 1.0 and not any(x["leaks"] for x in q)
        assert all("will " not in x.lower() for x in texts)


# --- datasets ----------------------------------------------------------------------------------------------------------
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
    from tradenb.distill import build_datasets
    with pytest.raises(ValueError, match="Unknown dataset"):
        build_datasets(cfg, ["sft_v9"])
