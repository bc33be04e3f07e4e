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


def test_test_results_are_kept_per_environment(small_tiny_lm, cube, tmp_path):
    "Static, neural and harder scores of one model are three results (three caches), each saying where it was scored."
    pytest.importorskip("torch")
    from tradenb.world_model import WorldModelConfig, save_world_model, train_world_model, world_model_path
    cfg = Config(root=str(tmp_path), n_eval_episodes_lm=2)
    (tmp_path/"data").mkdir()
    for f in Config().data_dir.iterdir():
        if f.name != "episodes": (tmp_path/"data"/f.name).symlink_to(f)
    save_world_model(train_world_model(cube, cfg, WorldModelConfig(epochs=1), val_split=None), world_model_path(cfg))
    static, _ = score_on_test(cfg, small_tiny_lm, "easy", "m")
    neural, _ = score_on_test(cfg, small_tiny_lm, "easy", "m", source="neural")
    harder, eps = score_on_test(cfg, small_tiny_lm, "easy", "m", variants="v3.1", n=1)
    assert "source" not in static and neural["task_version"].endswith("+neural1")
    assert harder["variants"] == "drawdown+holding+streak" and len(eps) == 1
    assert len(list((tmp_path/"models"/"eval_cache").iterdir())) == 3
    again, _ = score_on_test(cfg, small_tiny_lm, "easy", "m2", source="neural")   # read back from its own cache
    assert again["score_mean"] == neural["score_mean"] and again["agent"] == "m2"
