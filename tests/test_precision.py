"""Precision by device (issue 17, item 4): every loader and trainer takes chapter 00's one policy, and none asks for a
precision the device lacks. Each branch is forced on the CPU by patching torch's capability checks: the CPU, a GPU
without bf16 (a T4: fp16 with the loss scaler) and a GPU with bf16 (Ampere and later)."""
import pytest
import torch

from tradenb.core import Config, runtime

BRANCHES = {"cpu": (False, False), "fp16": (True, False), "bf16": (True, True)}


@pytest.fixture(params=sorted(BRANCHES))
def device(request, monkeypatch):
    "(branch, config) with torch's CUDA and bf16 checks forced to the branch's answers."
    cuda, bf16 = BRANCHES[request.param]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    return request.param, Config(device="cuda" if cuda else "cpu")


class Captured(Exception):
    "Raised by a patched config class: the test reads the arguments a trainer would have been built with."
    def __init__(self, kwargs): super().__init__("captured"); self.kwargs = kwargs


def capture(*args, **kwargs): raise Captured(kwargs)


def check_trainer_precision(branch, kw):
    "Both flags explicit; bf16 only where supported, fp16 only on a GPU without bf16, the CPU flag only on the CPU."
    assert "bf16" in kw and "fp16" in kw, "a trainer left TRL's bf16 default in place"
    assert kw["bf16"] == (branch == "bf16")
    assert kw["fp16"] == (branch == "fp16")
    assert kw["use_cpu"] == (branch == "cpu")
    assert not (kw["bf16"] and kw["fp16"])


def test_policy_never_asks_for_missing_precision(device):
    branch, cfg = device
    for workload in ("generate", "sft", "grpo", "build", "rl"):
        rt = runtime(cfg, workload)
        check_trainer_precision(branch, rt.trainer_precision())
        assert rt.dtype == {"cpu": "float32", "fp16": "float16", "bf16": "bfloat16"}[branch]
        assert rt.train_dtype == {"cpu": "float32", "fp16": "float32", "bf16": "bfloat16"}[branch]


class FakeModel:
    "Stands in for a loaded model on a machine without the forced GPU."
    device = "cpu"
    def to(self, device): return self
    def eval(self): return self
    def train(self, mode=True): return self


@pytest.mark.parametrize("name", ["tiny", "org/some-model"])   # a local directory and a hub id
@pytest.mark.parametrize("train_all", [False, True])
def test_load_lm_dtype(device, monkeypatch, name, train_all):
    import transformers
    from tradenb.lm import load_lm
    branch, cfg = device
    seen = {}
    def from_pretrained(path, dtype=None, **kw):
        seen["dtype"] = dtype
        return FakeModel()
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    if "/" in name:   # no hub here: the shipped tokenizer stands in
        tok = transformers.PreTrainedTokenizerFast.from_pretrained(str(Config().models_dir/"tiny"))
        monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tok)
    load_lm(name, cfg, four_bit=False, train_all=train_all)
    want = {"cpu": torch.float32, "fp16": torch.float32 if train_all else torch.float16,
            "bf16": torch.bfloat16}[branch]
    assert seen["dtype"] == want
    if branch != "bf16": assert seen["dtype"] != torch.bfloat16


def test_sft_trainer_args(device, monkeypatch, tmp_path):
    import trl
    from tradenb.sft import sft_trainer
    branch, cfg = device
    monkeypatch.setattr(trl, "SFTConfig", capture)
    with pytest.raises(Captured) as e:
        sft_trainer(runtime(cfg, "sft"), None, None, None, tmp_path, lr=1e-4, steps=1, batch_size=1, seed=0)
    check_trainer_precision(branch, e.value.kwargs)


def _record_load(monkeypatch, module) -> dict:
    "Replace `module.load_lm` by a stand-in that records whether every weight was loaded for training."
    seen = {}
    def fake_load(name, cfg, four_bit=None, train_all=False):
        seen["train_all"] = train_all
        return FakeModel(), None
    monkeypatch.setattr(module, "load_lm", fake_load)
    return seen


@pytest.mark.parametrize("lora_r", [0, 8])
def test_train_sft_args_and_loader(device, monkeypatch, tmp_path, lora_r):
    "train_sft (and RAFT, which calls it): a full fine-tune loads float32 master weights under fp16."
    import trl
    from datasets import Dataset
    import tradenb.sft as sft
    branch, cfg = device
    seen = _record_load(monkeypatch, sft)
    monkeypatch.setattr(trl, "SFTConfig", capture)
    ds = Dataset.from_list([dict(prompt=[{"role": "user", "content": "x"}],
                                 completion=[{"role": "assistant", "content": "HOLD"}])])
    with pytest.raises(Captured) as e:
        sft.train_sft(cfg, sft.SFTStageConfig(steps=1, lora_r=lora_r), "tiny", ds, tmp_path, track=False)
    check_trainer_precision(branch, e.value.kwargs)
    assert seen["train_all"] == (lora_r == 0)


def test_grpo_trainer_args(device, monkeypatch, tmp_path):
    import trl
    import tradenb.grpo as grpo
    from tradenb.grpo_rewards import prompt_set
    branch, cfg = device
    ds = prompt_set(Config(), "train", 4, "easy", 0)
    seen = _record_load(monkeypatch, grpo)
    monkeypatch.setattr(trl, "GRPOConfig", capture)
    with pytest.raises(Captured) as e:
        grpo.train_grpo(cfg, grpo.GRPOStageConfig(steps=1, lora_r=0), "tiny", ds, tmp_path, track=False)
    check_trainer_precision(branch, e.value.kwargs)
    assert seen["train_all"] is True


def test_episode_grpo_trainer_args(device, monkeypatch, tmp_path):
    import trl
    import tradenb.episode_grpo as eg
    branch, cfg = device
    monkeypatch.setattr(eg, "load_lm", lambda *a, **k: (FakeModel(), None))
    monkeypatch.setattr(trl, "GRPOConfig", capture)
    with pytest.raises(Captured) as e:
        eg.train_episode_grpo(cfg, eg.EpisodeGRPOStageConfig(steps=1, sft_steps=0), "tiny", tmp_path, track=False)
    check_trainer_precision(branch, e.value.kwargs)


def test_unsloth_gets_the_policy_dtype(device, monkeypatch):
    "The Unsloth path (CUDA only; not installed here): a stand-in module records the dtype it is asked for."
    import sys, types
    import tradenb.sft as sft
    branch, cfg = device
    if branch == "cpu": pytest.skip("Unsloth runs on CUDA only")
    seen = {}
    class FastLanguageModel:
        @staticmethod
        def from_pretrained(path, **kw): seen.update(kw); return FakeModel(), None
        @staticmethod
        def get_peft_model(model, **kw): return model
    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastLanguageModel=FastLanguageModel))
    sft._lora_model("org/some-model", cfg, sft.SFTStageConfig(use_unsloth=True), cuda=True)
    assert seen["dtype"] == {"fp16": torch.float16, "bf16": torch.bfloat16}[branch]
