"""`tradenb gpu-check` on the CPU (issue 17, item 1): every stage passes with tiny shapes and prints its table; a
failing stage is a FAIL row and exit code 1, not a crash; the random-weight model decides the same with and without the
shared-prefix cache (float32)."""
import pandas as pd
import pytest
from typer.testing import CliRunner

from tradenb.cli import app
from tradenb.core import Config
from tradenb.gpu_check import CPU_SHAPE, STAGES, build_check_model


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    r = CliRunner().invoke(app, ["gpu-check", "--device", "cpu", "--output-dir", str(out)])
    return r, out


def test_gpu_check_passes_on_cpu(cpu_run):
    r, out = cpu_run
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out/"results"/"gpu_check_bench.csv")
    assert df.ok.all(), df[~df.ok].to_dict("records")
    assert [s for s in STAGES if not df.stage.str.startswith(s).any()] == []
    assert set(df.dtype) == {"float32"} and set(df.device) == {"cpu"}
    assert "| stage" in r.output and "FAIL" not in r.output
    dec = df[df.stage.str.startswith("decisions")]
    assert len(dec) == 3 and (dec.decisions_per_s > 0).all()
    assert dec.note.str.contains("same decisions: True").all()   # cache on, off and one at a time agree (float32)
    grpo = df[df.stage == "grpo"].iloc[0]
    assert "mean length 16.0" in grpo.note                       # the pinned completion length (the preset's 16)


def test_failing_stage_is_reported(monkeypatch, tmp_path):
    import tradenb.grpo
    def boom(*a, **k): raise RuntimeError("CUDA out of memory (stand-in)")
    monkeypatch.setattr(tradenb.grpo, "train_grpo", boom)
    r = CliRunner().invoke(app, ["gpu-check", "--device", "cpu", "--stage", "load", "--stage", "grpo",
                                 "--output-dir", str(tmp_path)])
    assert r.exit_code == 1
    df = pd.read_csv(tmp_path/"results"/"gpu_check_bench.csv")
    assert df.stage.tolist() == ["load", "grpo"] and df.ok.tolist() == [True, False]
    assert "CUDA out of memory (stand-in)" in df.note.iloc[1]


def test_cuda_without_gpu_is_a_usage_error():
    import torch
    if torch.cuda.is_available(): pytest.skip("a GPU is present")
    r = CliRunner().invoke(app, ["gpu-check", "--device", "cuda"])
    assert r.exit_code == 2


def test_random_weights_prefix_cache_identical(tmp_path):
    "Flat random logits make near-ties likely: greedy completions still equal with and without the cache (float32)."
    from tradenb.env import TradingEnv
    from tradenb.llm_agent import LLMAgent
    from tradenb.lm import load_lm
    cfg = Config()
    model, tok = load_lm(str(build_check_model(cfg, tmp_path/"m", CPU_SHAPE, seed=3)), cfg)
    obs = [TradingEnv(t, "text", "test").reset(seed=i)[0] for i, t in enumerate(["easy", "easy", "medium", "hard"])]
    on = LLMAgent(model, tok, max_new_tokens=24, batch_size=4, prefix_cache=True).generate(obs)
    off = LLMAgent(model, tok, max_new_tokens=24, batch_size=4, prefix_cache=False).generate(obs)
    one = LLMAgent(model, tok, max_new_tokens=24, batch_size=1).generate(obs)
    assert on == off == one
