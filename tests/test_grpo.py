"""GRPO stage: reward functions (adversarial and property tests), stage config, temperature schedule,
HOLD-collapse detector, and train_grpo on the tiny model (temperature annealing, resume == uninterrupted)."""
import math, os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from tradenb.core import Config
from tradenb.grpo import GRPOStageConfig, cosine_temperature, hold_collapse, train_grpo
from tradenb.grpo_rewards import (REWARD_NAMES, check_prompt_set, format_reward, hold_penalty_reward, mix_reward,
                                  prediction_reward, prompt_set, reasoning_reward, reward_funcs, total_reward,
                                  trading_reward)

SYMS = ["RELIANCE", "TCS"]
FUNCS = dict(zip(REWARD_NAMES, reward_funcs()))
BOUNDS = dict(format=(-1, 0), reasoning=(0, 1), trading=(-1, 1), prediction=(-1, 1), mix=(-1, 1), hold_penalty=(-1, 0),
              price_change=(-10, 10), format_pm=(-1, 1), hold_progressive=(-1, 0), signal_agreement=(-1, 1))


def cols(n, r=(0.02, -0.01), h=(0.05, -0.03), vol=(0.01, 0.02), sig=(1, -1), syms=SYMS, held=True, cash=0.5):
    "Reward columns for n completions; every symbol held (so a SELL executes) unless `held=False`."
    return dict(symbols=[list(syms)] * n, next_return=[list(r)] * n, horizon_return=[list(h)] * n,
                volatility=[list(vol)] * n, signal=[list(sig)] * n, held=[[held] * len(syms)] * n,
                cash_share=[cash] * n)


def msgs(texts):
    return [[{"role": "assistant", "content": t}] for t in texts]


def all_rewards(completions, **c):
    return {name: f(completions, **c) for name, f in FUNCS.items()}


def assert_sane(out, n):
    for name, vs in out.items():
        assert len(vs) == n, name
        lo, hi = BOUNDS[name]
        for v in vs:
            assert isinstance(v, float) and math.isfinite(v) and lo - 1e-9 <= v <= hi + 1e-9, (name, v)


ADVERSARIAL = [
    "",                                              # empty
    "<think>",                                       # truncated reasoning
    "<think>trend up, momentum rising, risk moderate so BUY RELIANCE",   # never closed: the order is inside the think
    "</think>",
    "<think></think>",
    "<think>trend momentum risk</think>",            # reasoning but no answer
    "x" * 100_000,                                   # oversized
    "<think>" + "trend " * 20_000 + "</think>\nBUY RELIANCE 0.5",        # absurdly long reasoning
    "BUY RELIANCE 0.5\n" * 5000,                      # oversized but valid at the end
    "\x00\x01\ufffd\u202e☃🚀" * 300,                 # unicode junk
    "BUY NOTASTOCK 0.5",                              # unknown symbol
    "SELL TCS 7", "BUY RELIANCE -0.5", "BUY RELIANCE nan", "BUY RELIANCE inf", "BUY RELIANCE 1e309",
    "HOLD HOLD HOLD", "buy reliance 50%", "<THINK>caps</THINK>\nhold",
]


def test_adversarial_completions_score_without_crashing():
    n = len(ADVERSARIAL)
    for comp in (ADVERSARIAL, msgs(ADVERSARIAL), [{"role": "assistant", "content": t} for t in ADVERSARIAL]):
        assert_sane(all_rewards(comp, **cols(n)), n)
    odd = [None, 123, [], [{"role": "assistant", "content": None}], [{"role": "assistant"}], {"content": 5}, b"BUY"]
    assert_sane(all_rewards(odd, **cols(len(odd))), len(odd))
    assert format_reward(odd, **cols(len(odd))) == [-1.0] * len(odd)


def test_broken_answers_fail_the_format_gate_and_earn_nothing_else():
    broken = ["", "<think>", "<think>trend up so BUY RELIANCE 0.5", "x" * 100_000, "BUY NOTASTOCK 0.5", "SELL TCS 7",
              "\x00\ufffd☃" * 100]
    out = all_rewards(msgs(broken), **cols(len(broken)))
    assert out["format"] == [-1.0] * len(broken)
    for name in ("reasoning", "trading", "prediction", "mix", "hold_penalty", "price_change", "hold_progressive"):
        assert out[name] == [0.0] * len(broken), name
    assert out["format_pm"] == out["signal_agreement"] == [-1.0] * len(broken)


FORMAT_ONLY = ["HOLD", "<think>trend up, RSI momentum rising, volatility risk moderate</think>\nHOLD", "Action: HOLD",
               "**HOLD**", "- HOLD.", "hold", "<think>trend momentum risk</think>\nDecision: hold"]


@given(r=st.lists(st.floats(-0.5, 0.5), min_size=2, max_size=2),
       h=st.lists(st.floats(-0.9, 2.0), min_size=2, max_size=2),
       vol=st.lists(st.floats(0, 0.2), min_size=2, max_size=2), which=st.sampled_from(FORMAT_ONLY))
@settings(max_examples=60, deadline=None)
def test_format_only_answers_earn_no_trading_reward(r, h, vol, which):
    c = cols(1, r=r, h=h, vol=vol)
    assert format_reward([which], **c) == [0.0]                # they are well formed...
    for f in (trading_reward, prediction_reward, mix_reward):  # ...and earn nothing for trading
        assert f([which], **c) == [0.0]


@given(text=st.text(max_size=400) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
       wrap=st.sampled_from(["{}", "<think>{}</think>\nBUY RELIANCE 0.5", "{}\nSELL TCS 0.25", "<think>{}",
                             "{}</think>HOLD"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_text_never_raises(text, wrap):
    comp = [wrap.format(text), text]
    assert_sane(all_rewards(msgs(comp), **cols(2)), 2)
    assert_sane(all_rewards(comp, **cols(2)), 2)


@given(frac=st.floats(0.01, 1.0), r=st.floats(-0.2, 0.2), vol=st.floats(0.001, 0.1),
       side=st.sampled_from(["BUY", "SELL"]))
@settings(max_examples=100, deadline=None)
def test_trading_reward_is_tanh_of_volatility_scaled_signed_move(frac, r, vol, side):
    c = cols(1, r=(r,), h=(0.0,), vol=(vol,), sig=(0,), syms=["RELIANCE"])
    text = f"<think>x</think>\n{side} RELIANCE {frac:.4f}"
    f = float(f"{frac:.4f}") * (1 if side == "BUY" else -1)
    got = trading_reward([text], **c)[0]
    assert got == pytest.approx(math.tanh(1.5 * f * r / vol), abs=1e-9)
    if abs(r) > 1e-12:                                             # BUY gains on a rise, SELL on a fall
        assert np.sign(got) == np.sign(f * r)
        assert prediction_reward([text], **c) == [float(np.sign(f * r))]
    # the v2.1 mix with a flat episode return is 30% of the step term
    assert mix_reward([text], **c)[0] == pytest.approx(0.3 * got, abs=1e-9)


def test_mix_weights_episode_return_over_sqrt_horizon():
    c = cols(1, r=(0.0,), h=(0.04,), vol=(0.01,), sig=(0,), syms=["RELIANCE"])
    got = mix_reward(["BUY RELIANCE 1"], horizon=4, **c)[0]
    assert got == pytest.approx(0.7 * math.tanh(1.5 * 0.04 / (0.01 * 2)))
    assert mix_reward(["SELL RELIANCE 1"], horizon=4, **c)[0] == pytest.approx(-got)
    # a dataset `horizon` column (per row) reaches the TRL-facing wrapper and wins over the stage's horizon
    assert FUNCS["mix"](["BUY RELIANCE 1"], horizon=[4], **c)[0] == pytest.approx(got)
    assert FUNCS["mix"](["BUY RELIANCE 1"], **c)[0] != pytest.approx(got)     # stage default is 5 days


def test_multi_symbol_exposure_is_normalised_and_nan_data_is_skipped():
    c = cols(1, r=(0.02, 0.02), vol=(0.01, 0.01))
    one = trading_reward(["BUY RELIANCE 1"], **c)[0]
    both = trading_reward(["BUY RELIANCE 1\nBUY TCS 1"], **c)[0]
    assert both == pytest.approx(one)                     # doubling exposure does not double z
    hedged = trading_reward(["BUY RELIANCE 1\nSELL TCS 1"], **c)[0]
    assert hedged == pytest.approx(0.0)
    nan = cols(1, r=(float("nan"), 0.02), vol=(0.01, float("nan")))
    assert trading_reward(["BUY RELIANCE 1\nBUY TCS 1"], **nan) == [0.0]


def test_hold_penalty_only_when_indicators_clearly_signal():
    assert hold_penalty_reward(["HOLD"], **cols(1, sig=(1, 1))) == [-1.0]
    assert hold_penalty_reward(["HOLD"], **cols(1, sig=(-1, 0))) == [-0.5]
    assert hold_penalty_reward(["HOLD"], **cols(1, sig=(0, 0))) == [0.0]
    assert hold_penalty_reward(["BUY TCS 0.5"], **cols(1, sig=(1, 1))) == [0.0]
    assert hold_penalty_reward(["junk"], **cols(1, sig=(1, 1))) == [0.0]   # the format gate handles junk


@given(side=st.sampled_from(["BUY", "SELL"]), frac=st.floats(0.05, 1.0), r=st.floats(-0.2, 0.2),
       held=st.booleans(), cash=st.sampled_from([0.0, 0.5]), sig=st.sampled_from([-1, 0, 1]))
@settings(max_examples=80, deadline=None)
def test_rewards_score_orders_as_the_env_executes_them(side, frac, r, held, cash, sig):
    "A SELL of an unheld stock or a BUY without cash executes nothing: every reward scores it exactly as a HOLD."
    c = cols(1, r=(r,), h=(r,), vol=(0.01,), sig=(sig,), syms=["RELIANCE"], held=held, cash=cash)
    order, hold = all_rewards([f"{side} RELIANCE {frac:.2f}"], **c), all_rewards(["HOLD"], **c)
    void = (side == "SELL" and not held) or (side == "BUY" and cash == 0.0)
    for name in ("trading", "prediction", "mix", "hold_penalty", "price_change", "hold_progressive",
                 "signal_agreement"):
        if void: assert order[name] == hold[name], name
    if not void and abs(r) > 1e-9:
        assert np.sign(order["price_change"][0]) == np.sign(r) * (1 if side == "BUY" else -1)
    # the HOLD penalty only counts signals one can act on: a down signal on an unheld stock is no reason to trade
    if sig == -1 and not held: assert hold["hold_penalty"] == [0.0]


def test_reasoning_quality():
    good = "<think>trend up, RSI momentum rising, volatility risk moderate</think>\nBUY RELIANCE 0.5"
    r = reasoning_reward([good, "<think>trend up and more trend words here</think>\nHOLD", "<think></think>\nHOLD",
                          "<think>" + "trend momentum risk " * 500 + "</think>\nHOLD", "HOLD",
                          good.replace("BUY", "BUZ")],
                         symbols=[SYMS] * 6)
    assert r[0] == 1.0 and 0 < r[1] < 1
    assert r[2:] == [0.0] * 4


def test_total_reward_prefers_a_right_trade_over_hold_over_junk():
    w = GRPOStageConfig().reward_weights
    texts = ["<think>trend up, momentum rising, risk moderate</think>\nBUY RELIANCE 0.5", "HOLD", "garbage"]
    tot = total_reward(msgs(texts), w, **cols(3))
    assert tot[0] > tot[1] > tot[2]


def test_malformed_columns_raise_naming_the_column():
    c = cols(2)
    with pytest.raises(ValueError, match="next_return"):
        trading_reward(["HOLD"] * 2, **{**c, "next_return": [[0.1, 0.1]]})
    with pytest.raises(ValueError, match="symbols"):
        format_reward(["HOLD"] * 2, symbols=[SYMS])
    with pytest.raises(ValueError, match="signal"):
        hold_penalty_reward(["HOLD"] * 2, **{**c, "signal": None})
    with pytest.raises(ValueError, match="held"):
        trading_reward(["HOLD"] * 2, **{k: v for k, v in c.items() if k != "held"})


def test_prompt_set_schema_and_its_checks():
    from datasets import Dataset
    cfg = Config()
    ds = prompt_set(cfg, n=5, task="medium", seed=3)
    check_prompt_set(ds)
    for row in ds:
        n = len(row["symbols"])
        per_symbol = ("close", "next_return", "horizon_return", "volatility", "signal")
        assert n == 10 and all(len(row[k]) == n for k in per_symbol)
        assert set(row["signal"]) <= {-1, 0, 1} and all(v >= 0 for v in row["volatility"])
        assert row["prompt"][0]["role"] == "system" and row["date"] in row["prompt"][1]["content"]
    bad = Dataset.from_list([{**ds[0], "horizon_return": ds[0]["horizon_return"][:3]}])
    with pytest.raises(ValueError, match="row 0: column 'horizon_return'"):
        check_prompt_set(bad)
    with pytest.raises(ValueError, match="label"):
        check_prompt_set(ds.remove_columns("label"))


@given(total=st.integers(1, 1000), a=st.integers(0, 1000), b=st.integers(0, 1000))
def test_cosine_temperature_is_monotone_between_its_ends(total, a, b):
    a, b = sorted((a, b))
    ta, tb = cosine_temperature(a, total), cosine_temperature(b, total)
    assert 0.6 - 1e-12 <= tb <= ta <= 0.9 + 1e-12
    assert cosine_temperature(0, total) == pytest.approx(0.9) and cosine_temperature(total, total) == pytest.approx(0.6)


def test_stage_presets_and_gpu_only_options():
    smoke, full = GRPOStageConfig.for_profile(Config()), GRPOStageConfig.for_profile(Config.from_profile("full"))
    assert full.lr == 5e-6 and full.beta == 0.05 and full.save_steps == 50 and full.num_generations in (4, 8)
    assert smoke.lr > full.lr and smoke.num_generations == 4 and smoke.steps < full.steps
    assert GRPOStageConfig.for_profile(Config(seed=7)).seed == 7
    with pytest.raises(ValueError, match="unknown reward weight"):
        GRPOStageConfig(reward_weights={"format": 1, "profit": 1})
    for opt in ("use_vllm", "load_in_4bit", "use_unsloth"):
        with pytest.raises(RuntimeError, match="need a CUDA GPU"):
            GRPOStageConfig(**{opt: True}).check_device(cuda=False)


def test_train_grpo_refuses_gpu_only_path_on_cpu(tmp_path):
    import torch
    if torch.cuda.is_available(): pytest.skip("a GPU is present")
    cfg = Config()
    with pytest.raises(RuntimeError, match="CUDA GPU"):
        train_grpo(cfg, GRPOStageConfig(use_vllm=True), "tiny", prompt_set(cfg, n=2), tmp_path, track=False)


def test_hold_collapse_detector():
    flat = [{"step": i, "frac_reward_zero_std": 1.0, "hold_share": 0.97} for i in range(10)]
    live = [{"step": i, "frac_reward_zero_std": 0.1, "hold_share": 0.4} for i in range(10)]
    assert hold_collapse(flat) and not hold_collapse(live)
    assert hold_collapse({"log_history": flat}) and not hold_collapse({"frac_reward_zero_std": [0.1] * 3})
    assert not hold_collapse([{"frac_reward_zero_std": 1.0, "hold_share": 0.05}])    # stuck, but not on HOLD
    with pytest.raises(ValueError, match="frac_reward_zero_std"):
        hold_collapse([{"loss": 0.3}])


# ---- training on the tiny model (a few seconds each) ------------------------------------------------

@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory, small_tiny_lm):
    """The tiny model, briefly fine-tuned on short well-formed answers (a third HOLD) so that GRPO groups
    differ and training has a signal whatever format the pretrained tiny model currently writes."""
    from tradenb.hold_collapse import hold_share_conversations
    from tradenb.sft import full_finetune
    cfg = Config()
    ds = prompt_set(cfg, n=8, seed=0)
    sft = full_finetune(cfg, small_tiny_lm, hold_share_conversations(prompt_set(cfg, n=48, seed=1), 1 / 3),
                        tmp_path_factory.mktemp("sft"), steps=30)
    return cfg, ds, sft


def lora_state(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items() if "lora_" in k}


def test_interrupted_run_resumes_to_the_same_result(tiny_setup, tmp_path):
    cfg, ds, sft = tiny_setup
    stage = GRPOStageConfig.for_profile(cfg, steps=4, save_steps=2, max_completion_length=48)
    full = train_grpo(cfg, stage, sft, ds, tmp_path/"a", track=False)
    cut = train_grpo(cfg, stage, sft, ds, tmp_path/"b", stop_after=2, track=False)
    assert cut["global_step"] == 2 and [p.split("/")[-1] for p in cut["checkpoints"]] == ["checkpoint-2"]
    resumed = train_grpo(cfg, stage, sft, ds, tmp_path/"b", track=False)
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["global_step"] == 4
    a, b = lora_state(full["trainer"]), lora_state(resumed["trainer"])
    assert a.keys() == b.keys() and len(a) > 0
    for k in a: assert np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-6), k
    assert cut["final_dir"] is None and full["final_dir"].endswith("final")
    # the saved final adapter holds the trained LoRA weights, and merging it changes no logits
    import torch
    from peft import PeftModel
    from tradenb.lm import load_lm
    from tradenb.stages import checkpoints, load_adapter
    unmerged = PeftModel.from_pretrained(load_lm(str(sft), cfg)[0], full["final_dir"]).eval()
    saved = {k: v for k, v in unmerged.state_dict().items() if "lora_" in k}
    assert saved.keys() == a.keys() and all(torch.equal(saved[k], a[k]) for k in a)
    merged, tok = load_adapter(sft, full["final_dir"], cfg)
    assert not any("lora_" in k for k in merged.state_dict())
    ids = tok("Decision 1 of 20 | RELIANCE trend up", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, unmerged(input_ids=ids).logits, atol=1e-4)
    # the run's last checkpoint holds the same adapter as final/
    assert [p.name for p in checkpoints(tmp_path/"a")] == ["checkpoint-2", "checkpoint-4"]
    last, _ = load_adapter(sft, checkpoints(tmp_path/"a")[-1], cfg)
    with torch.no_grad():
        assert torch.allclose(last(ids).logits, merged(ids).logits, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="adapter_config"):
        load_adapter(sft, tmp_path, cfg)
    base = lora_state(cut["trainer"])
    assert any(not np.allclose(a[k].numpy(), base[k].numpy()) for k in a)   # steps 3-4 did change the weights
    keys = ("reward", "kl", "frac_reward_zero_std", "temperature", "loss")
    ha = [{k: h.get(k) for k in keys} for h in full["log_history"] if "reward" in h]
    hb = [{k: h.get(k) for k in keys} for h in resumed["log_history"] if "reward" in h]
    assert len(ha) == len(hb) == 4
    for x, y in zip(ha, hb):
        for k in keys: assert x[k] == pytest.approx(y[k], rel=1e-5, abs=1e-7), k

    # the trainer's sampling temperature followed the cosine schedule during the run
    temps = [h["temperature"] for h in full["health"]]
    assert temps == pytest.approx([cosine_temperature(s, 4) for s in range(4)])
    assert full["trainer"].temperature == pytest.approx(cosine_temperature(3, 4)) and full["trainer"].temperature < 0.9
    assert full["trainer"].generation_config.temperature == full["trainer"].temperature
    # health metrics are in the log: KL (beta > 0), zero-std share, each component, HOLD share
    row = full["health"][-1]
    for k in ("kl", "frac_reward_zero_std", "frac_hold_groups", "hold_share",
              *(f"rewards/{n}/mean" for n in REWARD_NAMES)):
        assert k in row, k
    assert full["kl_final"] is not None and full["seconds_per_step"] > 0


def test_kl_stop_callback_stops_the_run_and_mlflow_gets_the_health_metrics(tiny_setup, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path/"mlruns").as_uri())
    cfg, ds, sft = tiny_setup
    # any logged KL exceeds the stop
    stage = GRPOStageConfig.for_profile(cfg, steps=6, kl_stop=-1.0, max_completion_length=48)
    res = train_grpo(cfg, stage, sft, ds, tmp_path/"run", track=True)
    assert res["global_step"] == 1 and res["stopped_reason"].startswith("kl")
    import mlflow
    run = mlflow.MlflowClient(tracking_uri=(tmp_path/"mlruns").as_uri()).get_run(res["mlflow_run_id"])
    for k in ("kl", "frac_reward_zero_std", "hold_share", "rewards/mix/mean", "frac_reward_zero_std_mean"):
        assert k in run.data.metrics, k
    assert run.data.params["beta"] == "0.05" and run.data.tags["run_record.profile"] == "smoke"
