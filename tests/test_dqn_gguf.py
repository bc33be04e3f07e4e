"""Chapter 29: a GGUF served by `llama_cpp.server` on loopback gives the same decisions as the same GGUF in process;
corrupt files, dead and garbage servers are clear errors or counted HOLDs; nothing hangs."""
import http.server, threading

import numpy as np
import pytest

from tradenb.core import Config
from tradenb.client import free_port
from tradenb.dqn_gguf import (LlamaAnswerer, LlamaServer, check_gguf, convert_to_gguf, llama_cpp_converter,
                              lm_policy, quantize_gguf, server_answerer, tensor_types, verify_gguf, GGUF_TOLERANCES)
from tradenb.single_asset import SYSTEM, SingleAssetConfig, SingleAssetEnv, asset_series, pinned_starts, play

pytest.importorskip("llama_cpp")   # the `gguf` extra: `make setup` installs it (CI always has it)
CRYPTO = Config.from_profile("smoke", universe="crypto")


@pytest.fixture(scope="module")
def ggufs(small_tiny_lm, tmp_path_factory):
    "The small tiny model as F16 and Q8_0 GGUFs."
    d = tmp_path_factory.mktemp("gguf")
    f16 = convert_to_gguf(small_tiny_lm, d/"m-F16.gguf", llama_cpp_converter(CRYPTO))
    return dict(F16=f16, Q8_0=quantize_gguf(f16, d/"m-Q8_0.gguf", "Q8_0"), model=small_tiny_lm)


def episodes(answer, n_episodes=2, steps=4):
    eth = asset_series("ETH", cfg=CRYPTO)
    mk = lambda: SingleAssetEnv(eth, SingleAssetConfig(split="test", episode_len=steps, mode="text"))
    stats = {}
    res = play(lm_policy(answer, stats), mk, pinned_starts(mk(), n_episodes))
    return res, stats


def test_server_decides_as_the_in_process_model(ggufs):
    with LlamaAnswerer(ggufs["Q8_0"], max_new_tokens=12) as local:
        ref, ref_stats = episodes(local)
    with LlamaServer(ggufs["Q8_0"]) as srv:
        got, got_stats = episodes(server_answerer(srv.base_url, max_new_tokens=12, timeout=30))
    assert srv.proc.poll() is not None            # stopped
    assert list(got.actions) == list(ref.actions)
    assert got_stats["answers"] == ref_stats["answers"] and got_stats["decisions"] == 8


def test_gguf_matches_the_hf_model(ggufs):
    from tradenb.lm import load_lm
    model, tok = load_lm(str(ggufs["model"]), CRYPTO)
    chats = [[dict(role="system", content=SYSTEM), dict(role="user", content=f"ETH-USD day {i}. Position: flat.")]
             for i in range(3)]
    for k in ("F16", "Q8_0"):
        v = verify_gguf(model, tok, ggufs[k], chats, greedy_tokens=8, tie_margin=GGUF_TOLERANCES[k])
        assert v["ids_equal"] == 1 and v["max_abs_logit_diff"] <= GGUF_TOLERANCES[k], v
        assert v["greedy_equal"] + v["greedy_ties"] == 1 and v["top1_agree"] + v["top1_ties"] == 1, v
    types = set(tensor_types(ggufs["Q8_0"]).type)
    assert "Q8_0" in types and types <= {"Q8_0", "F32", "F16"}


def test_corrupt_and_truncated_files_are_named(ggufs, tmp_path):
    data = ggufs["Q8_0"].read_bytes()
    cut = tmp_path/"cut.gguf"; cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="truncated|corrupt"): check_gguf(cut)
    with pytest.raises(ValueError, match="truncated|corrupt"): LlamaAnswerer(cut)
    with pytest.raises(ValueError, match="truncated|corrupt"): LlamaServer(cut)
    junk = tmp_path/"junk.gguf"; junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a GGUF"): check_gguf(junk)


def test_a_dead_server_is_counted_holds_quickly():
    answer = server_answerer(f"http://127.0.0.1:{free_port()}/v1", timeout=2, max_retries=0)
    res, stats = episodes(answer, n_episodes=1, steps=2)
    assert stats["parse_errors"] == stats["decisions"] == 2
    assert res.actions[0] == ["HOLD", "HOLD"] and answer.client.stats["failed"] == 2


class Garbage(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"choices": [{"message": {"content": 42}}]}' if "bad" in self.path else b"<html>no</html>"
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass


@pytest.mark.parametrize("prefix", ["v1", "bad/v1"])
def test_a_garbage_server_is_counted_holds(prefix):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        answer = server_answerer(f"http://127.0.0.1:{srv.server_port}/{prefix}", timeout=5, max_retries=1)
        res, stats = episodes(answer, n_episodes=1, steps=2)
    finally:
        srv.shutdown()
    assert stats["parse_errors"] == 2 and np.isclose(res.score[0], 0.3)
    assert answer.client.stats["malformed"] == 4   # two requests, each tried twice


def test_modelfile_renders_as_the_hf_chat_template(small_tiny_lm):
    from tradenb.dqn_gguf import ollama_modelfile, parse_modelfile, render_ollama_template
    from tradenb.lm import load_lm
    _, tok = load_lm(str(small_tiny_lm), CRYPTO)
    mf = parse_modelfile(ollama_modelfile("./m.gguf", tok, system="Be brief."))
    assert mf["FROM"] == "./m.gguf" and mf["SYSTEM"] == "Be brief." and mf["PARAMETER"]["temperature"] == "0"
    for user, answer in (("ETH-USD on 2024-01-02.\nPosition: flat (all USD).", "Decision: HOLD."), ("?", "x\ny")):
        chat = [dict(role="system", content="Be brief."), dict(role="user", content=user)]
        assert (render_ollama_template(mf["TEMPLATE"], System="Be brief.", Prompt=user)
                == tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))
        assert (render_ollama_template(mf["TEMPLATE"], generate=False, System="Be brief.", Prompt=user,
                                       Response=answer)
                == tok.apply_chat_template(chat + [dict(role="assistant", content=answer)], tokenize=False))
    with pytest.raises(ValueError, match="no FROM"): parse_modelfile('SYSTEM """x"""\n')
    with pytest.raises(ValueError, match="unsupported"): render_ollama_template("{{ range .Messages }}")


def test_stage2_trains_merges_and_converts(small_tiny_lm, tmp_path):
    from datasets import Dataset
    from tradenb.dqn_gguf import Stage2Config, train_stage2
    from tradenb.lm import load_lm
    chats = [[dict(role="system", content=SYSTEM), dict(role="user", content=f"ETH-USD day {i}. Position: flat."),
              dict(role="assistant", content="Decision: BUY. Reason: up.")] for i in range(8)]
    cfg = CRYPTO.replace(root=tmp_path)
    res = train_stage2(cfg, small_tiny_lm, Dataset.from_dict(dict(messages=chats)), tmp_path/"merged",
                       Stage2Config(steps=2, batch_size=4))
    assert res["merged_class"] == "Qwen2ForCausalLM" and len(res["losses"]) >= 1
    assert not (tmp_path/"merged"/"adapter_config.json").exists()
    model, tok = load_lm(str(tmp_path/"merged"), cfg)
    _, tok0 = load_lm(str(small_tiny_lm), cfg)
    assert (tmp_path/"merged"/"tradenb_tiny.json").exists()      # the tiny record came along: the ids as trained
    text = tok0.apply_chat_template(chats[0], tokenize=False)
    assert tok(text)["input_ids"] == tok0(text)["input_ids"]
    with pytest.raises(ValueError, match="empty"):
        train_stage2(cfg, small_tiny_lm, Dataset.from_dict(dict(messages=chats[:0])), tmp_path/"x")


def test_bad_inputs_are_named(tmp_path, ggufs):
    from tradenb.dqn_gguf import heldout_scores, load_chapter28, momentum_chats, parse_decision
    import pandas as pd
    with pytest.raises(FileNotFoundError, match="run nbs/28"): load_chapter28(CRYPTO.replace(root=tmp_path,
                                                                                            output_dir=tmp_path))
    with pytest.raises(ValueError, match="unknown quantization"): quantize_gguf(ggufs["F16"], tmp_path/"q.gguf", "Q3")
    (tmp_path/"ad").mkdir(); (tmp_path/"ad"/"config.json").write_text("{}")
    (tmp_path/"ad"/"adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match="merge it first"): convert_to_gguf(tmp_path/"ad", tmp_path/"o.gguf", tmp_path)
    with pytest.raises(ValueError, match="not an HF model"): convert_to_gguf(tmp_path, tmp_path/"o.gguf", tmp_path)
    held = pd.DataFrame(dict(text=["a", "b", "c"], action=["BUY", "HOLD", "SELL"], hindsight=["BUY", "BUY", "HOLD"]))
    s = heldout_scores(lambda chats: ["Decision: BUY", None, "garbage"], held)
    assert s["heldout_agreement"] == pytest.approx(2 / 3) and s["heldout_accuracy"] == pytest.approx(2 / 3)
    assert s["heldout_parse_errors"] == 2 and parse_decision("Decision:**SELL**")[0] == 2
    up, down = ("ETH-USD.\nDaily changes, oldest first: " + " ".join([f"{s}1.0%"] * 5) + "\nVolatility: 2.0% a day"
                for s in "+-")
    d = pd.DataFrame(dict(text=[up, down], long=[False, True], regime=["mild_bull", "mild_bear"]))
    c = momentum_chats(d)
    assert c[0][-1]["content"].startswith("Decision: BUY.") and c[1][-1]["content"].startswith("Decision: SELL.")
    assert "Confidence" not in c[0][-1]["content"]
