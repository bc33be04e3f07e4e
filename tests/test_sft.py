"SFT: assistant-only data, resume equals an uninterrupted run, checkpoint selection by task score."
import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
from datasets import Dataset

from tradenb.core import Config
from tradenb.env import TradingEnv
from tradenb.prompts import chat_messages
from tradenb.sft import SFTStageConfig, select_best, to_prompt_completion, train_sft
from tradenb.stages import load_adapter


@pytest.fixture(scope="module")
def tiny(small_tiny_lm): return small_tiny_lm


@pytest.fixture(scope="module")
def chat():
    env, rows = TradingEnv("easy", "text", "train"), []
    for i in range(16):
        obs, _ = env.reset(seed=i)
        answer = ["HOLD", f"BUY {env.symbols[0]} 0.5", f"SELL {env.symbols[0]} 1.0"][i % 3]
        rows.append({"messages": chat_messages(obs, f"<think>\nDecision: {answer}.\n</think>\n{answer}")})
    return Dataset.from_list(rows)


def _adapter(run):
    from safetensors.torch import load_file
    return load_file(str(run / "adapter_model.safetensors"))


def test_prompt_completion_split_keeps_the_answer_out_of_the_prompt(chat):
    pc = to_prompt_completion(chat)
    for ex in pc:
        assert [m["role"] for m in ex["prompt"]] == ["system", "user"] and ex["completion"][0]["role"] == "assistant"
    bad = Dataset.from_list([{"messages": [{"role": "user", "content": "u"}]}])
    with pytest.raises(ValueError, match="last message must be the assistant"): to_prompt_completion(bad)


def test_resumed_run_equals_uninterrupted_run(tiny, chat, tmp_path):
    stage = SFTStageConfig(steps=4, save_steps=2, batch_size=4, lr=1e-3, warmup_steps=0)
    cfg = Config()
    full = train_sft(cfg, stage, tiny, chat, tmp_path / "full", track=False)
    cut = train_sft(cfg, stage, tiny, chat, tmp_path / "cut", stop_after=2, track=False)
    assert cut["global_step"] == 2
    again = train_sft(cfg, stage, tiny, chat, tmp_path / "cut", track=False)
    assert again["resumed_from"].endswith("checkpoint-2") and again["global_step"] == 4
    a, b = _adapter(tmp_path / "full" / "checkpoint-4"), _adapter(tmp_path / "cut" / "checkpoint-4")
    assert a.keys() == b.keys()
    for k in a: assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert [l for _, l in full["losses"]] == pytest.approx([l for _, l in again["losses"]], abs=1e-5)
    # a finished run asked again trains nothing more
    done = train_sft(cfg, stage, tiny, chat, tmp_path / "full", track=False)
    assert done["global_step"] == 4


def test_checkpoints_merge_onto_their_base(tiny, chat, tmp_path):
    stage = SFTStageConfig(steps=2, save_steps=2, batch_size=4, lr=5e-3, warmup_steps=0)
    r = train_sft(Config(), stage, tiny, chat, tmp_path / "run", track=False)
    merged, tok = load_adapter(tiny, r["checkpoints"][-1], Config())
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(tiny)
    x = torch.tensor([tok("HOLD BUY", add_special_tokens=False)["input_ids"]])
    with torch.no_grad(): assert not torch.allclose(merged(x).logits, base(x).logits)


def test_selection_is_by_score_not_loss():
    t = pd.DataFrame(dict(step=[0, 100, 200, 352], loss=[np.nan, 1.2, 1.0, 0.8], score_mean=[0.3, 0.35, 0.399, 0.383]))
    assert select_best(t).step == 200                    # the published lesson: lowest loss (352) is not the best
    with pytest.raises(ValueError): SFTStageConfig(eval_split="test")
    with pytest.raises(RuntimeError, match="CUDA"): SFTStageConfig(load_in_4bit=True).check_device(cuda=False)
