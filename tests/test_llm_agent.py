"The LLM agent: batched generation equals one at a time, junk completions never break an episode, make_agent."
import string

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tradenb.core import Config
from tradenb.env import TradingEnv
from tradenb.evaluate import make_agent
from tradenb.llm_agent import LLMAgent, shared_prefix_length
from tradenb.lm import load_lm


@pytest.fixture(scope="module")
def tiny_dir(small_tiny_lm): return small_tiny_lm


def test_batched_generation_equals_one_at_a_time(tiny_dir):
    model, tok = load_lm(str(tiny_dir), Config())
    envs = [TradingEnv("easy", "text", "test") for _ in range(4)]
    obs = [e.reset(seed=i)[0] for i, e in enumerate(envs)]
    batched = LLMAgent(model, tok, max_new_tokens=12, batch_size=4).generate(obs)
    single = LLMAgent(model, tok, max_new_tokens=12, batch_size=1).generate(obs)
    plain = LLMAgent(model, tok, max_new_tokens=12, batch_size=4, prefix_cache=False).generate(obs)
    assert batched == single == plain          # the shared-prefix KV cache changes nothing but the speed


def test_shared_prefix_keeps_a_token_of_each_prompt():
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2 and shared_prefix_length([[1, 2], [3, 4]]) == 0


def test_make_agent_resolves_language_models(tiny_dir, tmp_path):
    "Importing tradenb.llm_agent registers the resolver: 'llm', 'tiny' and directories give LLM agents, named as before."
    import shutil
    cfg = Config(root=tmp_path)
    shutil.copytree(tiny_dir, tmp_path/"models"/"tiny")        # the profile's `tiny`, without building it
    agent, model = make_agent("llm", cfg)
    assert isinstance(agent, LLMAgent) and (agent.name, model) == ("tiny zero-shot", "tiny")
    assert make_agent("tiny", cfg)[0].name == "tiny zero-shot"
    agent, model = make_agent(str(tiny_dir), cfg)             # a fine-tuned checkpoint's folder: named by the folder
    assert (agent.name, model) == (tiny_dir.name, str(tiny_dir))


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
