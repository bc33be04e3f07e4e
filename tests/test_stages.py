"Training stages: checkpoints in step order, LoRA adapters merged onto their base, a process's own peak memory."
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tradenb.core import Config
from tradenb.lm import load_lm
from tradenb.stages import checkpoints, load_adapter, peak_rss_mb, step_of


@pytest.fixture(scope="module")
def tiny_dir(small_tiny_lm): return small_tiny_lm


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
    ballast = np.ones(400 * 2**20 // 8)          # 400 MB resident in this process
    parent = peak_rss_mb()
    child = float(subprocess.run([sys.executable, "-c", "from tradenb.stages import peak_rss_mb; print(peak_rss_mb())"],
                                 capture_output=True, text=True, check=True).stdout)
    assert parent >= 400 and 0 < child < parent - 300
    del ballast
