"The language-model layer: the tiny model's build and round trip, load_lm, and LLMAgent under junk."
import json, string

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from tradenb.core import Config
from tradenb.env import TradingEnv
from tradenb.lm import LLMAgent, TinyLMConfig, build_tiny_lm, checkpoints, load_adapter, load_lm, peak_rss_mb, step_of
from tradenb.prompts import SYSTEM_PROMPT

from conftest import SMALL_TINY
SMALL = TinyLMConfig(**SMALL_TINY)   # the build of conftest.small_tiny_lm


@pytest.fixture(scope="module")
def tiny_dir(small_tiny_lm): return small_tiny_lm


def test_round_trip_ids_and_logits(tiny_dir):
    model, tok = load_lm(str(tiny_dir), Config())
    auto_tok = AutoTokenizer.from_pretrained(tiny_dir)   # the hub path a user would take
    env = TradingEnv("medium", "text", "test"); obs, _ = env.reset(seed=0)
    text = tok.apply_chat_template([{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": obs}],
                                   tokenize=False, add_generation_prompt=True) + "<think>trend up</think>\nBUY TCS 0.5"
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


def test_batched_generation_equals_one_at_a_time(tiny_dir):
    model, tok = load_lm(str(tiny_dir), Config())
    envs = [TradingEnv("easy", "text", "test") for _ in range(4)]
    obs = [e.reset(seed=i)[0] for i, e in enumerate(envs)]
    batched = LLMAgent(model, tok, max_new_tokens=12, batch_size=4).generate(obs)
    single = LLMAgent(model, tok, max_new_tokens=12, batch_size=1).generate(obs)
    plain = LLMAgent(model, tok, max_new_tokens=12, batch_size=4, prefix_cache=False).generate(obs)
    assert batched == single == plain          # the shared-prefix KV cache changes nothing but the speed


def test_checkpoints_are_listed_by_step_number(tmp_path):
    for step in (300, 20, 1000, 5): (tmp_path/f"checkpoint-{step}").mkdir()
    (tmp_path/"checkpoint-final").mkdir(); (tmp_path/"final").mkdir(); (tmp_path/"checkpoint-9").write_text("a file")
    assert [step_of(p) for p in checkpoints(tmp_path)] == [5, 20, 300, 1000]     # numeric, not lexical, order
    assert checkpoints(tmp_path/"missing") == []
    with pytest.raises(ValueError, match="checkpoint-N"): step_of(tmp_path/"final")


def test_load_adapter_merges_a_lora_adapter_onto_its_base(tiny_dir, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    cfg = Config()
    base, tok = load_lm(str(tiny_dir), cfg)
    torch.manual_seed(0)   # init_lora_weights=False: random A and B, so the adapter really changes the model
    peft = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(tmp_path/"checkpoint-3")
    merged, tok2 = load_adapter(tiny_dir, tmp_path/"checkpoint-3", cfg)
    assert not merged.training and not any("lora_" in k for k in merged.state_dict())
    ids = tok("Decision 1 of 20 | RELIANCE trend up", return_tensors="pt")["input_ids"]
    fresh = load_lm(str(tiny_dir), cfg)[0]
    with torch.no_grad():
        unmerged = PeftModel.from_pretrained(fresh, tmp_path/"checkpoint-3").eval()(input_ids=ids).logits
        out = merged(ids).logits
        assert torch.allclose(out, unmerged, atol=1e-5)
        assert not torch.allclose(out, load_lm(str(tiny_dir), cfg)[0](ids).logits, atol=1e-3)   # the adapter did something
    assert tok2.get_vocab() == tok.get_vocab()
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_adapter(tiny_dir, tmp_path, cfg)


def test_peak_rss_is_the_fresh_process_own_peak():
    "A spawned process reports its own peak, not its parent's (ru_maxrss would carry the parent's across exec)."
    import subprocess, sys
    ballast = np.ones(400 * 2**20 // 8)          # 400 MB resident in this process
    parent = peak_rss_mb()
    child = float(subprocess.run([sys.executable, "-c", "from tradenb.lm import peak_rss_mb; print(peak_rss_mb())"],
                                 capture_output=True, text=True, check=True).stdout)
    assert parent >= 400 and 0 < child < parent - 300
    del ballast


class JunkLLM(LLMAgent):
    "An LLMAgent whose 'model' writes fuzzed completions (the parsing path is the real one)."
    def __init__(self, seed):
        super().__init__(model=None, tokenizer=None, name="junk")
        self.junk_rng = np.random.default_rng(seed)

    def reset(self, n_envs, seed=None): self.log = []

    def generate(self, observations):
        return [self.fuzz() for _ in observations]

    def fuzz(self):
        r = self.junk_rng
        sym = r.choice(["RELIANCE", "TCS", "NOPE", "tcs", "", "INFY.NS"])
        size = r.choice(["0.5", "1e9", "-3", "nan", "inf", "50%", "", "0", "1/2", "9" * 40])
        pieces = ["<think>", "</think>", "BUY", "SELL", "HOLD", sym, size, "\n", " ", "Action:", "**", "ðŸ“ˆ",
                  "".join(r.choice(list(string.printable), r.integers(0, 40)))]
        kind = r.integers(5)
        if kind == 0: return "".join(r.choice(pieces, r.integers(0, 12)))
        if kind == 1: return f"<think>{'reasoning ' * int(r.integers(0, 50))}"           # truncated think
        if kind == 2: return f"{r.choice(['BUY', 'SELL'])} {sym} {size}"
        if kind == 3: return "x" * int(r.integers(0, 30_000))
        return f"<think>ok</think>\n{r.choice(['BUY', 'SELL', 'HOLD'])} {sym} {size}\n{r.choice(pieces)}"


def test_llm_agent_survives_10k_fuzzed_completions():
    agent, n, seen = JunkLLM(0), 0, 0
    envs = [TradingEnv("medium", "text", "train") for _ in range(25)]
    while n < 10_000:
        obs = [e.reset(seed=n + i)[0] for i, e in enumerate(envs)]
        agent.reset(len(envs))
        for _ in range(envs[0].spec_task.n_steps):
            actions = agent.act(obs, envs)
            steps = [e.step(a) for e, a in zip(envs, actions)]
            for (o, r, term, trunc, info), log in zip(steps, agent.log[-len(envs):]):
                assert np.isfinite(r) and np.isfinite(info["equity"])
                # every completion either parsed (a valid order or HOLD) or is a HOLD counted as a parse error
                assert info["parse_error"] == log["parse_error"]
                if info["parse_error"]: assert info["hold"]
            obs = [s[0] for s in steps]
            n += len(envs); seen += sum(s[4]["parse_error"] for s in steps)
    assert n >= 10_000 and 0 < seen < n      # junk was mostly rejected, some well-formed orders went through
