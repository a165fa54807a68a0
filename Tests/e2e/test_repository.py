"""Model repository extension: load/unload act on the whole worker pool.

Runs on a stack of its own (3 workers) so that unloading echo cannot disturb the other modules.
"""

import pytest

import e2e_util as u
from e2e_util import Api, describe, expect_error, expect_json

REPEAT = 30  # many requests, so that every worker answers several of them


@pytest.fixture(scope="module")
def repo_stack(tmp_path_factory):
    cfg = u.default_config()
    cfg["server"]["workers"] = 3
    s = u.Stack(tmp_path_factory.mktemp("repo"), cfg, name="repo")
    try:
        s.start()
    except Exception:
        s.stop(timeout=5)
        raise
    yield s
    res = s.stop()
    assert not res.problems(), res.problems()


@pytest.fixture
def rapi(repo_stack):
    a = Api(repo_stack.base_url)
    yield a
    # leave echo loaded whatever the test did
    a.post("/v2/repository/models/echo/load")


def _answers(api: Api, method: str, path: str, n: int = REPEAT, **kw):
    out = []
    for _ in range(n):
        r = api.request(method, path, **kw)
        out.append((r.status_code, r.content))
    return out


def _unload_echo(api):
    r = api.post("/v2/repository/models/echo/unload")
    assert expect_json(r) == {"name": "echo", "unload": True}


def test_unload_answers_unload_true(rapi):
    _unload_echo(rapi)


def test_after_unload_every_worker_reports_echo_not_ready(rapi):
    _unload_echo(rapi)
    for path in ("/v2/models/echo/ready", "/v1/models/echo"):
        answers = _answers(rapi, "GET", path)
        statuses = {s for s, _ in answers}
        assert len(set(answers)) == 1, f"workers disagree on {path}: {set(answers)}"
        assert statuses <= {404, 503}, f"{path} after unload: {answers[0]}"
        expect_error(rapi.get(path), statuses.pop())


def test_after_unload_every_worker_refuses_inference_on_echo(rapi):
    _unload_echo(rapi)
    body = {"inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [1]}]}
    answers = _answers(rapi, "POST", "/v2/models/echo/infer", json=body)
    assert len(set(answers)) == 1, f"workers disagree: {set(answers)}"
    assert answers[0][0] in (404, 503), answers[0]
    answers = _answers(rapi, "POST", "/v1/models/echo:predict", json={"instances": [[1]]})
    assert len(set(answers)) == 1, f"workers disagree: {set(answers)}"
    assert answers[0][0] in (404, 503), answers[0]


def test_after_unload_model_listings_agree_on_every_worker(rapi):
    _unload_echo(rapi)
    for path in ("/v1/models", "/v2/models"):
        answers = _answers(rapi, "GET", path)
        assert len(set(answers)) == 1, f"workers disagree on {path}: {set(answers)}"
    assert expect_json(rapi.get("/v2/health/ready")) == {"ready": True}


def test_after_unload_other_models_still_serve(rapi):
    _unload_echo(rapi)
    body = {"inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [3]}],
            "parameters": {"delay_ms": 0}}
    for _ in range(6):
        assert expect_json(rapi.infer("sleep", body))["outputs"][0]["data"] == [3]


def test_load_after_unload_makes_echo_ready_on_every_worker(rapi):
    _unload_echo(rapi)
    r = rapi.post("/v2/repository/models/echo/load")
    assert expect_json(r) == {"name": "echo", "load": True}
    for _ in range(20):
        assert expect_json(rapi.get("/v2/models/echo/ready")) == {"name": "echo", "ready": True}
    for i in range(20):
        assert expect_json(rapi.predict("echo", {"instances": [[i]]})) == {"predictions": [[i]]}
    assert expect_json(rapi.get("/v1/models"))["models"] == u.MODEL_ORDER


def test_load_of_loaded_model_answers_load_true(rapi):
    assert expect_json(rapi.post("/v2/repository/models/echo/load")) == {"name": "echo", "load": True}
    assert expect_json(rapi.get("/v2/models/echo/ready"))["ready"] is True


def test_load_unknown_model_is_an_error(rapi):
    # KServe answers 503 (load is a no-op, then "not ready"); 404 (not found) is the other sane answer.
    r = rapi.post("/v2/repository/models/nope/load")
    assert r.status_code in (404, 503), describe(r)
    expect_error(r, r.status_code, contains=["nope"])


def test_unload_unknown_model_is_404(rapi):
    expect_error(rapi.post("/v2/repository/models/nope/unload"), 404, contains=["nope"])


def test_load_of_model_that_fails_to_load_is_503_with_reason(rapi):
    r = rapi.post("/v2/repository/models/broken/load")
    expect_error(r, 503, contains=["broken"])
    for _ in range(6):
        expect_error(rapi.get("/v2/models/broken/ready"), 503)
