"The HTTP server on a real uvicorn on loopback: parity, OpenEnv client, concurrency, bad input, schema fuzz."
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

pytest.importorskip("openenv")
import uvicorn

from tradenb.env import ENV_VERSION, TASKS, TradingEnv
from tradenb.client import RemoteTradingEnv, free_port
from tradenb.server import create_app


@pytest.fixture(scope="module")
def server():
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(max_sessions=40, idle_timeout_s=300), host="127.0.0.1",
                                        port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200: break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url
    srv.should_exit = True
    th.join(timeout=10)


@pytest.mark.parametrize("mode", ["text", "numeric"])
def test_remote_episode_equals_in_process(server, mode):
    local, remote = TradingEnv("medium", mode, "test"), RemoteTradingEnv(server, "medium", mode, "test")
    o1, i1 = local.reset(seed=7)
    o2, i2 = remote.reset(seed=7)
    assert remote.symbols == local.symbols and i1["date"] == i2["date"]
    rng = np.random.default_rng(0)
    while True:
        a = (f"BUY {local.symbols[rng.integers(10)]} 0.3" if mode == "text"
             else rng.uniform(-1, 1, 10).astype(np.float32))
        o1, r1, t1, _, i1 = local.step(a)
        o2, r2, t2, _, i2 = remote.step(a)
        if mode == "text": assert o1 == o2
        else: np.testing.assert_allclose(o1, o2, rtol=1e-6)
        assert r1 == pytest.approx(r2, abs=1e-12) and t1 == t2
        assert i2["env_version"] == ENV_VERSION and i2["task_version"] == TASKS["medium"].version
        if t1: break
    assert i1["score"] == pytest.approx(i2["score"], abs=1e-12)
    remote.close()


def test_episode_through_openenv_generic_client(server):
    from openenv.core.generic_client import GenericEnvClient
    with GenericEnvClient(base_url=server).sync() as client:
        res = client.reset(task="easy", obs_mode="text", split="test", seed=3)
        assert res.observation["text"].startswith("Decision 1 of 20")
        obs = res.observation
        assert obs["env_version"] == ENV_VERSION and obs["task_version"] == TASKS["easy"].version
        steps = 0
        while not res.done:
            res = client.step({"text": "HOLD"})
            steps += 1
        assert steps == TASKS["easy"].n_steps and res.observation["score"] == 0.3
    local = TradingEnv("easy", "text", "test")
    local.reset(seed=3)
    assert res.observation["text"] == [local.step("HOLD") for _ in range(20)][-1][0]


def test_twenty_concurrent_sessions_fifty_steps_each(server):
    def worker(i):
        errors = 0
        with httpx.Client(base_url=server, timeout=30) as c:
            sid = c.post("/sessions", json={"task": "hard", "obs_mode": "numeric", "seed": i}).json()["session_id"]
            for k in range(50):
                r = c.post(f"/sessions/{sid}/step", json={"action": [0.0] * 25})
                if r.status_code != 200: errors += 1; continue
                if r.json()["terminated"]:  # 40-step episodes: start another in the same slot
                    c.delete(f"/sessions/{sid}")
                    new = c.post("/sessions", json={"task": "hard", "obs_mode": "numeric", "seed": i + 1000})
                    sid = new.json()["session_id"]
            errors += c.delete(f"/sessions/{sid}").status_code != 200
        return errors
    with ThreadPoolExecutor(20) as ex:
        assert sum(ex.map(worker, range(20))) == 0


def test_sessions_do_not_share_state(server):
    with httpx.Client(base_url=server) as c:
        a = c.post("/sessions", json={"task": "easy", "seed": 1}).json()
        b = c.post("/sessions", json={"task": "easy", "seed": 1}).json()
        sym = a["info"]["symbols"][0]
        ra = c.post(f"/sessions/{a['session_id']}/step", json={"action": f"BUY {sym} 1.0"}).json()
        rb = c.post(f"/sessions/{b['session_id']}/step", json={"action": "HOLD"}).json()
        assert ra["info"]["hold"] is False and rb["info"]["hold"] is True
        sa = c.get(f"/sessions/{a['session_id']}").json()["state"]
        sb = c.get(f"/sessions/{b['session_id']}").json()["state"]
        assert sa["step_count"] == sb["step_count"] == 1
        assert "Positions: none" in rb["observation"] and "Positions: none" not in ra["observation"]


@pytest.mark.parametrize("method,url,kw,status", [
    ("post", "/sessions", dict(content=b"{bad json", headers={"content-type": "application/json"}), 422),
    ("post", "/sessions", dict(json={"task": "impossible"}), 422),
    ("post", "/sessions", dict(json={"task": "easy", "seed": "abc"}), 422),
    ("post", "/sessions", dict(json={"task": "easy", "colour": "red"}), 422),
    ("post", "/sessions", dict(json={"seed": -1}), 422),
    ("post", "/sessions/unknown/step", dict(json={"action": "HOLD"}), 404),
    ("get", "/sessions/unknown", {}, 404),
    ("delete", "/sessions/unknown", {}, 404),
    ("post", "/sessions",
     dict(content=b"{" + b" " * 200_000 + b"}", headers={"content-type": "application/json"}), 413),
    ("post", "/step", dict(json={"action": {"text": "HOLD"}}), 409),
    ("post", "/reset", dict(json={"task": "impossible"}), 400),
])
def test_bad_input_gets_a_clear_4xx(server, method, url, kw, status):
    r = getattr(httpx, method)(server + url, timeout=10, **kw)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["detail"] and body["env_version"] == ENV_VERSION


def test_step_after_end_and_wrong_action_types(server):
    with httpx.Client(base_url=server) as c:
        sid = c.post("/sessions", json={"task": "easy", "obs_mode": "numeric", "seed": 0}).json()["session_id"]
        assert c.post(f"/sessions/{sid}/step", json={"action": "HOLD"}).status_code == 400      # text in numeric mode
        assert c.post(f"/sessions/{sid}/step", json={"action": [0.1, 0.2]}).status_code == 400  # wrong length
        assert c.post(f"/sessions/{sid}/step", json={"action": {"x": 1}}).status_code == 422
        for _ in range(20):
            assert c.post(f"/sessions/{sid}/step", json={"action": [0.0]}).status_code == 200
        r = c.post(f"/sessions/{sid}/step", json={"action": [0.0]})
        assert r.status_code == 409 and "over" in r.json()["detail"]


def test_session_limit_and_idle_expiry():
    from fastapi.testclient import TestClient
    app = create_app(max_sessions=2, idle_timeout_s=0.2)
    c = TestClient(app)
    ids = [c.post("/sessions", json={}).json()["session_id"] for _ in range(2)]
    assert c.post("/sessions", json={}).status_code == 429
    time.sleep(0.3)
    assert c.post("/sessions", json={}).status_code == 200       # the idle ones expired
    assert c.get(f"/sessions/{ids[0]}").status_code == 404


def test_openapi_schema_fuzz_never_5xx(server):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, settings
    schema = schemathesis.openapi.from_url(server + "/openapi.json")
    routes = ("/sessions", "/tasks", "/reset", "/step", "/state")
    ops = [op for op in schema.get_all_operations() if op.ok().path.startswith(routes)]
    assert ops
    calls = []
    for result in ops:
        op = result.ok()
        strategy = op.as_strategy()
        from hypothesis import given
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=strategy)
        def check(case):
            response = case.call(base_url=server, timeout=10)
            calls.append(response.status_code)
            assert response.status_code < 500, f"{op.method} {op.path} -> {response.status_code}: {response.text[:200]}"
        check()
    assert len(calls) > 50 and max(calls) < 500
