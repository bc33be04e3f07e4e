"The language-model layer: the tiny model's build and round trip, its pretraining text, and load_lm."
import json

import pytest

torch = pytest.importorskip("torch")
from transformers import AutoModelForCausalLM, AutoTokenizer

from tradenb.core import Config
from tradenb.env import TradingEnv
from tradenb.lm import TinyLMConfig, build_tiny_lm, load_lm, pretraining_conversations
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
    assert "<think>" in tok.get_vocab() and "{% generation %}" in tok.chat_template


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


def test_pretraining_conversations_are_chats_with_reasoning_and_a_parseable_answer():
    convs = pretraining_conversations(12, seed=3)
    assert convs == pretraining_conversations(12, seed=3) and convs != pretraining_conversations(12, seed=4)
    for sysm, user, asst in convs:
        assert (sysm["content"], user["role"], asst["role"]) == (SYSTEM_PROMPT, "user", "assistant")
        think, answer = asst["content"].split("\n</think>\n")
        assert think.startswith("<think>\nTrend: ") and "\nDecision: " in think
        symbols = [l.split(":")[0] for l in user["content"].splitlines() if ": close " in l]
        assert symbols and not parse_action(answer, symbols).parse_error
