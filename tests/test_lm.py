"The language-model layer: the tiny model's build and round trip, its pretraining text, and load_lm."
import json

import pytest

torch = pytest.importorskip("torch")
from transformers import AutoModelForCausalLM, AutoTokenizer

from tradenb.core import Config
from tradenb.env import TradingEnv
from tradenb.lm import (ANALYST_PROMPT, TinyLMConfig, build_tiny_lm, check_tiny_lm, load_lm, pretraining_conversations,
                        qwen25_chat_template)
from tradenb.prompts import SYSTEM_PROMPT, chat_messages, parse_action

from conftest import SMALL_TINY
SMALL = TinyLMConfig(**SMALL_TINY)   # the build of conftest.small_tiny_lm


@pytest.fixture(scope="module")
def tiny_dir(small_tiny_lm): return small_tiny_lm


def test_round_trip_ids_and_logits(tiny_dir):
    model, tok = load_lm(str(tiny_dir), Config())
    auto_tok = AutoTokenizer.from_pretrained(tiny_dir)   # the hub path a user would take
    env = TradingEnv("medium", "text", "test"); obs, _ = env.reset(seed=0)
    text = tok.apply_chat_template(chat_messages(obs), tokenize=False, add_generation_prompt=True) \
        + "<think>trend up</think>\nBUY TCS 0.5"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert auto_tok(text, add_special_tokens=False)["input_ids"] == ids    # same ids whichever class reloads it
    assert tok.decode(ids) == text
    again = AutoModelForCausalLM.from_pretrained(tiny_dir)
    x = torch.tensor([ids[:200]])
    with torch.no_grad(): assert torch.allclose(model(x).logits, again(x).logits)
    assert "<think>" in tok.get_vocab() and tok.chat_template == qwen25_chat_template()


def test_build_is_deterministic(tiny_dir, tmp_path):
    other = build_tiny_lm(Config(), tmp_path/"again", SMALL)
    a, b = AutoModelForCausalLM.from_pretrained(tiny_dir), AutoModelForCausalLM.from_pretrained(other)
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()): assert torch.equal(p, q), n
    assert json.loads((tiny_dir/"tradenb_tiny.json").read_text())["losses"] == json.loads((other/"tradenb_tiny.json").read_text())["losses"]


def test_load_lm_errors_clearly():
    with pytest.raises(Exception, match="no-such-model|not a valid|does not appear|Repo id|offline|resolve"):
        load_lm("/no/such/dir/no-such-model", Config())
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"): load_lm("tiny", Config(device="cuda"))


def test_pretraining_conversations_describe_named_stocks_without_the_answer_format():
    convs = pretraining_conversations(12, seed=3, format_share=0.0)
    assert convs == pretraining_conversations(12, seed=3, format_share=0.0)
    assert convs != pretraining_conversations(12, seed=4, format_share=0.0)
    for sysm, user, asst in convs:
        assert (sysm["content"], user["role"], asst["role"]) == (ANALYST_PROMPT, "user", "assistant")
        symbols = [l.split(":")[0] for l in user["content"].splitlines() if ": close " in l]
        named = user["content"].rsplit("\nDescribe ", 1)[1].rstrip(".").split(", ")
        lines = asst["content"].splitlines()
        assert set(named) <= set(symbols) and [l.split(":")[0] for l in lines] == ["Trend", "Momentum", "Risk"]
        for l in lines: assert [x.split()[0] for x in l.split(": ", 1)[1].rstrip(".").split("; ")] == named
        assert parse_action(asst["content"], symbols).parse_error      # never an answer in the trading format
        assert SYSTEM_PROMPT not in user["content"]
    mixed = pretraining_conversations(200, seed=3)
    share = sum(c[0]["content"] == SYSTEM_PROMPT for c in mixed) / len(mixed)
    assert 0.08 < share < 0.25                                          # FORMAT_SHARE = 0.15 of format chats


def test_the_shipped_base_is_what_its_command_builds():
    "The first pretraining steps of `make tiny`, re-run here, give exactly the shipped model's recorded losses."
    shipped = Config().models_dir/"tiny"
    rec = json.loads((shipped/"tradenb_tiny.json").read_text())
    assert len(rec["losses"]) == sum(rec["config"][k] for k in ("drill_steps", "easy_steps", "steps"))
    assert rec["command"].startswith("make tiny")
    assert check_tiny_lm(shipped, Config(), k=2) == rec["losses"][:2]


def test_shipped_base_meets_the_shape_contract():
    model, tok = load_lm("tiny", Config())
    c = model.config
    assert c.model_type == "qwen2" and c.hidden_size % 256 == 0 and c.intermediate_size % 256 == 0
    assert c.max_position_embeddings >= 8192
    for t in ("<think>", "</think>", "<tool_call>", "</tool_call>"):
        assert tok.convert_ids_to_tokens(tok(t, add_special_tokens=False)["input_ids"]) == [t]
