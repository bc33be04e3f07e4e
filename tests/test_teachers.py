"Teachers: the API teacher against a real local HTTP server, the template teacher, the HF teacher, the factory."
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from tradenb.decisions import decision_state, rollout_decisions
from tradenb.env import TradingEnv
from tradenb.features import FEATURES
from tradenb.reasoning import observed_reasoning
from tradenb.teachers import (HFTeacher, OpenAICompatibleTeacher, TeacherRequest, TemplateTeacher, teacher_from_env,
                              teacher_messages, teacher_requests)
import pandas as pd

from tradenb.training_data import distill, example_quality, quality_summary


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
    reqs = teacher_requests(cands.head(4))
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
    reqs = teacher_requests(cands.head(6))
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
    assert t.reason(teacher_requests(cands.head(1))) == [None] and t.stats["failed"] == 1 and t.stats["retries"] == 3


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
    # quality is measured on every answer before the filter: the garbage shows there, not in what was kept
    before = quality_summary(pd.DataFrame(info["before"]))
    assert len(info["before"]) == 20 + info["n_rejected"] - info["rejected"]["teacher_failed"]
    assert before["structured_pct"] < 100 == quality_summary(pd.DataFrame(
        [example_quality(c, r.target if "target" in out else r.label, r.symbols, r.prompt_text, r.date,
                         any(r.conflict)) for c, r in zip(out.completion, out.itertuples())]))["structured_pct"]
    assert out.action.value_counts().to_dict() == cands.head(20).action.value_counts().to_dict()
    FakeOpenAI.garbage_for = {"always garbage"}
    with pytest.raises(ValueError, match="ran out of"):
        distill(cands, 20, _teacher(server, tmp_path/"g2.jsonl"), cube)


def test_template_teacher_agrees_with_the_label(cfg, cube):
    st = decision_state(cfg, rollout_decisions(cfg, "train", "medium", n=100, seed=2))
    st2 = decision_state(cfg, rollout_decisions(cfg, "train", "easy", n=300, seed=2))
    for s in (st, st2):
        texts = TemplateTeacher().reason(teacher_requests(s))
        q = [example_quality(f"<think>{x}</think>\n{r.label}", r.label, r.symbols, r.prompt_text, r.date,
                             any(r.conflict), r.label) for x, r in zip(texts, s.itertuples())]
        agree = np.mean([x["label_agreement"] for x in q])
        assert agree >= 0.99
        assert np.mean([x["structured"] for x in q]) == 1.0 and not any(x["leaks"] for x in q)
        assert all("will " not in x.lower() for x in texts)


def test_template_teacher_writes_the_pretraining_words(cfg):
    "The tiny model's pretraining (`observed_reasoning` on a live env) and the compact template teacher agree."
    env = TradingEnv("medium", "text", "train", config=cfg)
    env.reset(seed=5)
    for _ in range(3): env.step(f"BUY {env.symbols[1]} 0.5")
    u, sym = env.unwrapped, env.symbols[2]
    prev = u.observed_features(lag=1)[:, FEATURES.index("macd_hist")].tolist()
    req = TeacherRequest(observation="", label=f"SELL {sym} 1.0", symbols=list(u.symbols),
                         actions=["SELL" if s == sym else "HOLD" for s in u.symbols],
                         features=u.observed_features().tolist(), macd_prev=prev, held=(u.portfolio.qty > 0).tolist(),
                         cash_share=float(u.portfolio.cash / u.equity_curve[-1]))
    assert TemplateTeacher(compact=True).explain(req) == observed_reasoning(env, f"SELL {sym} 1.0")


def test_hf_teacher_runs_a_loaded_model(small_tiny_lm, cfg, monkeypatch):
    "HFTeacher generates with the model it was given, in batches, one answer (or None) per request."
    from tradenb.lm import load_lm
    st = decision_state(cfg, rollout_decisions(cfg, "train", "easy", n=3, seed=1))
    model, tok = load_lm(str(small_tiny_lm), cfg)
    t = HFTeacher(model, tok, model_name="small tiny", max_new_tokens=8, batch_size=2)
    out = t.reason(teacher_requests(st))
    assert len(out) == 3 and all(o is None or isinstance(o, str) for o in out) and t.stats["requests"] == 3
    monkeypatch.delenv("TRADENB_TEACHER_MODEL", raising=False)
    asked = []
    via_env = teacher_from_env(cfg, "hf", load=lambda name, c: asked.append(name) or load_lm(str(small_tiny_lm), c))
    assert isinstance(via_env, HFTeacher) and via_env.model_name == "tiny" and asked == ["tiny"]


def test_teacher_from_env_reads_the_environment(cfg, monkeypatch, tmp_path):
    monkeypatch.delenv("TRADENB_TEACHER", raising=False)
    assert isinstance(teacher_from_env(cfg), TemplateTeacher) and teacher_from_env(cfg).compact
    assert not teacher_from_env(cfg.replace(reasoning="full")).compact
    monkeypatch.setenv("TRADENB_TEACHER", "api")
    monkeypatch.setenv("TRADENB_TEACHER_BASE_URL", "http://127.0.0.1:9/v1")
    api = teacher_from_env(cfg.replace(output_dir=tmp_path))
    assert isinstance(api, OpenAICompatibleTeacher) and api.cache_path == tmp_path/"datasets"/"teacher_cache.jsonl"
    assert api.min_interval == pytest.approx(60 / 500)
    monkeypatch.setenv("TRADENB_TEACHER", "hf")
    monkeypatch.setenv("TRADENB_TEACHER_MODEL", "my-model")
    with pytest.raises(ValueError, match="load="): teacher_from_env(cfg)
    t = teacher_from_env(cfg, model="m", tokenizer="t")
    assert (t.model, t.tok, t.model_name) == ("m", "t", "my-model")
    monkeypatch.setenv("TRADENB_TEACHER", "oracle")
    with pytest.raises(ValueError, match="Unknown TRADENB_TEACHER"): teacher_from_env(cfg)
