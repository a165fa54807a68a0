"""KServe v1 REST routes, through nginx."""

import json

from e2e_util import MODEL_ORDER, describe, expect_error, expect_json


def test_root_answers_alive(api):
    assert expect_json(api.get("/")) == {"status": "alive"}


def test_v1_models_lists_every_configured_model_in_config_order(api):
    body = expect_json(api.get("/v1/models"))
    assert body["models"] == MODEL_ORDER


def test_v1_model_status_of_ready_model(api):
    assert expect_json(api.get("/v1/models/echo")) == {"name": "echo", "ready": True}


def test_v1_model_status_of_model_that_failed_to_load_is_503_with_reason(api):
    msg = expect_error(api.get("/v1/models/broken"), 503, startswith="Model with name broken is not ready.")
    assert len(msg) > len("Model with name broken is not ready."), f"the load failure reason is missing: {msg!r}"


def test_v1_predict_echo_returns_instances_as_predictions(api):
    assert expect_json(api.predict("echo", {"instances": [[1, 2]]})) == {"predictions": [[1, 2]]}


def test_v1_predict_echo_accepts_inputs_key(api):
    assert expect_json(api.predict("echo", {"inputs": [[3, 4]]})) == {"predictions": [[3, 4]]}


def test_v1_predict_keeps_integers_as_integers(api):
    r = api.predict("echo", {"instances": [[1, 2], [-3, 0]]})
    body = expect_json(r)
    assert body == {"predictions": [[1, 2], [-3, 0]]}
    flat = [x for row in body["predictions"] for x in row]
    assert all(type(x) is int for x in flat), f"integers came back as floats: {r.text}"


def test_v1_predict_floats_round_trip_exactly(api):
    values = [0.1, 2.5, 3.141592653589793, 1e-300, 5e-324, 1.7976931348623157e308, 1.0000000000000002,
              -123456.789e-10]
    r = api.predict("echo", {"instances": values})
    got = expect_json(r)["predictions"]
    assert [float(g) for g in got] == values, describe(r)


def test_v1_predict_big_integers_are_exact(api):
    values = [2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1]
    r = api.predict("echo", {"instances": values})
    got = expect_json(r)["predictions"]
    assert got == values and all(type(g) is int for g in got), describe(r)


def test_v1_predict_integers_beyond_64_bits_are_exact(api):
    # Decision: "A round trip through the server never changes a value."
    values = [10**30, -(10**25), 2**64]
    r = api.predict("echo", {"instances": values})
    got = expect_json(r)["predictions"]
    assert got == values and all(type(g) is int for g in got), describe(r)


def test_v1_predict_echoes_arbitrary_json_values(api):
    instances = [{"a": "b", "n": None}, "text ünï \"q\"", None, True, False, [], {}, [[1.5, "x"]]]
    assert expect_json(api.predict("echo", {"instances": instances})) == {"predictions": instances}


def test_v1_explain_echo_answers_like_predict(api):
    body = {"instances": [[1, 2], [3.5, 4]]}
    predicted = expect_json(api.predict("echo", body))
    explained = expect_json(api.post("/v1/models/echo:explain", json=body))
    assert explained == predicted == {"predictions": [[1, 2], [3.5, 4]]}


def test_v1_explain_does_not_echo_request_headers(api):
    r = api.post("/v1/models/echo:explain", json={"instances": [[1, 2]]},
                 headers={"X-E2e-Probe": "should-not-come-back"})
    expect_json(r)
    assert "X-E2e-Probe" not in r.headers, describe(r)
    assert "should-not-come-back" not in json.dumps(dict(r.headers))


def test_v1_predict_without_content_type_is_parsed_as_json(api):
    r = api.post_json_text("/v1/models/echo:predict", '{"instances": [[5, 6]]}', content_type=None)
    assert expect_json(r) == {"predictions": [[5, 6]]}


def test_v1_predict_with_percent_encoded_colon(api):
    r = api.post("/v1/models/echo%3Apredict", json={"instances": [[7]]})
    assert expect_json(r) == {"predictions": [[7]]}


def test_v1_predict_with_chunked_request_body(api):
    def chunks():
        yield b'{"instances": '
        yield b'[[1, 2], '
        yield b'[3, 4]]}'
    r = api.post("/v1/models/echo:predict", data=chunks(), headers={"Content-Type": "application/json"})
    assert expect_json(r) == {"predictions": [[1, 2], [3, 4]]}
