"""Chapter 29: a GGUF served by `llama_cpp.server` on loopback gives the same decisions as the same GGUF in process;
corrupt files, dead and garbage servers are clear errors or counted HOLDs; nothing hangs."""
import http.server, threading

import numpy as np
import pytest

from tradenb.core import Config
from tradenb.dqn_gguf import (LlamaAnswerer, LlamaServer, check_gguf, convert_to_gguf, free_port, llama_cpp_converter,
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
