"The experiment registry's scoring: weights keys, cached test results, paired differences to the start model."
import pytest

from tradenb.core import Config
from tradenb.experiments import test_results as score_on_test, weights_key


def test_weights_key_follows_the_weights(tmp_path):
    d = tmp_path/"m"; d.mkdir()
    (d/"model.safetensors").write_bytes(b"weights v1")
    k1 = weights_key(d)
    assert weights_key(d) == k1 and len(k1) == 16
    (d/"model.safetensors").write_bytes(b"weights v2")
    assert weights_key(d) != k1
    assert weights_key("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen_Qwen2.5-0.5B-Instruct"   # a hub name: the name


def test_test_results_are_cached_by_weights_and_renamed(small_tiny_lm, tmp_path):
    pytest.importorskip("torch")
    cfg = Config(root=str(tmp_path), n_eval_episodes_lm=2)
    (tmp_path/"data").mkdir()                                   # the shipped data; episode sets, models, caches in tmp
    for f in Config().data_dir.iterdir():
        if f.name != "episodes": (tmp_path/"data"/f.name).symlink_to(f)
    row, eps = score_on_test(cfg, small_tiny_lm, "easy", "first")
    assert row["agent"] == "first" and len(eps) == 2 and "decision_accuracy" in row
    cached = list((tmp_path/"models"/"eval_cache").iterdir())
    assert len(cached) == 1 and (cached[0]/"episodes.csv").exists()
    row2, eps2 = score_on_test(cfg, small_tiny_lm, "easy", "second")   # the same weights: read back, renamed
    assert row2["agent"] == "second" and row2["score_mean"] == row["score_mean"]
    assert list(eps2.score) == list(eps.score)
