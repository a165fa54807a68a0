"""Open Inference Protocol (v2) REST routes and the Triton extras, through nginx."""

import time

import numpy as np
import pytest

from e2e_util import ECHO_INPUTS, MODEL_ORDER, describe, expect_error, expect_json


def _output(o: dict) -> dict:
    """An output without its (possibly null/empty) parameters."""
    assert set(o) <= {"name", "shape", "datatype", "parameters", "data"}, o
    return {k: o[k] for k in ("name", "shape", "datatype", "data")}


# ------------------------------------------------------------------------------ server / health

def test_v2_server_metadata(api):
    body = expect_json(api.get("/v2"))
    assert body["name"] == "kserve"
    assert isinstance(body["version"], str) and body["version"]
    assert isinstance(body["extensions"], list)
    assert "model_repository_extension" in body["extensions"]


def test_v2_health_live(api):
    assert expect_json(api.get("/v2/health/live")) == {"live": True}


def test_v2_health_ready(api):
    assert expect_json(api.get("/v2/health/ready")) == {"ready": True}


def test_v2_models_lists_every_configured_model_in_config_order(api):
    assert expect_json(api.get("/v2/models"))["models"] == MODEL_ORDER


def test_v2_model_metadata_reports_configured_inputs(api):
    body = expect_json(api.get("/v2/models/echo"))
    assert body["name"] == "echo"
    assert body["inputs"] == ECHO_INPUTS
    assert isinstance(body.get("outputs"), list)


def test_v2_model_ready(api):
    assert expect_json(api.get("/v2/models/echo/ready")) == {"name": "echo", "ready": True}


def test_v2_model_ready_of_model_that_failed_to_load_is_503(api):
    expect_error(api.get("/v2/models/broken/ready"), 503, startswith="Model with name broken is not ready.")


# ------------------------------------------------------------------------------ infer (JSON)

def test_v2_infer_echo_returns_each_input_as_output_i(api):
    body = {"inputs": [
        {"name": "input-0", "datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.5]},
        {"name": "second", "datatype": "INT32", "shape": [3], "data": [1, 2, 3]},
    ]}
    res = expect_json(api.infer("echo", body))
    assert res["model_name"] == "echo"
    assert [_output(o) for o in res["outputs"]] == [
        {"name": "output-0", "shape": [1, 2], "datatype": "FP32", "data": [1.5, 2.5]},
        {"name": "output-1", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]},
    ]


def test_v2_infer_echoes_request_id(api):
    body = {"id": "e2e-req-42", "inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [1]}]}
    assert expect_json(api.infer("echo", body))["id"] == "e2e-req-42"


def test_v2_infer_puts_request_parameters_on_the_response(api):
    params = {"p": 1, "s": "text", "b": True, "f": 1.25}
    body = {"id": "x", "parameters": params,
            "inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [1]}]}
    assert expect_json(api.infer("echo", body))["parameters"] == params


def test_v2_infer_puts_input_parameters_on_outputs(api):
    body = {"inputs": [
        {"name": "a", "datatype": "INT32", "shape": [1], "data": [1], "parameters": {"q": "s", "n": 3}},
        {"name": "b", "datatype": "INT32", "shape": [1], "data": [2], "parameters": {"flag": False}},
    ]}
    outs = expect_json(api.infer("echo", body))["outputs"]
    assert outs[0]["parameters"] == {"q": "s", "n": 3}
    assert outs[1]["parameters"] == {"flag": False}


def test_v2_infer_flattens_nested_data(api):
    body = {"inputs": [{"name": "a", "datatype": "INT64", "shape": [2, 2, 1], "data": [[[1], [2]], [[3], [4]]]}]}
    out = expect_json(api.infer("echo", body))["outputs"][0]
    assert out["shape"] == [2, 2, 1] and out["data"] == [1, 2, 3, 4]


JSON_VALUES = {
    "BOOL": [True, False, True],
    "INT8": [-128, 0, 127],
    "INT16": [-32768, 1, 32767],
    "INT32": [-(2**31), 0, 2**31 - 1],
    "INT64": [-(2**63), 0, 2**63 - 1],
    "UINT8": [0, 1, 255],
    "UINT16": [0, 1, 65535],
    "UINT32": [0, 1, 2**32 - 1],
    "UINT64": [0, 2**53 + 1, 2**64 - 1],
    "FP32": [0.5, -1.25, 6.8],
    "FP64": [0.1, 5e-324, 1.7976931348623157e308],
    "BYTES": ["cat", "", "ünï", "a\"b\\c\n"],
}


@pytest.mark.parametrize("datatype", sorted(JSON_VALUES))
def test_v2_infer_json_round_trip_per_datatype(api, datatype):
    values = JSON_VALUES[datatype]
    body = {"inputs": [{"name": "t", "datatype": datatype, "shape": [len(values)], "data": values}]}
    r = api.infer("echo", body)
    out = expect_json(r)["outputs"][0]
    assert out["datatype"] == datatype and out["shape"] == [len(values)], describe(r)
    got = out["data"]
    if datatype == "FP32":
        assert np.array_equal(np.array(got, dtype=np.float32), np.array(values, dtype=np.float32)), describe(r)
    else:
        assert got == values, describe(r)
    if datatype == "BOOL":
        assert all(type(g) is bool for g in got), describe(r)
    elif datatype.startswith(("INT", "UINT")):
        assert all(type(g) is int for g in got), describe(r)


def test_v2_infer_fp32_json_output_is_shortest_float32_decimal(api):
    # Decision: FP32 is printed as the shortest decimal that parses back to the same float32 (not widened).
    values = [6.8, 0.1, 16777217.0, 3.4028234663852886e38, 1e-45, -2.7182817]
    body = {"inputs": [{"name": "f", "datatype": "FP32", "shape": [len(values)], "data": values}]}
    r = api.infer("echo", body)
    got = expect_json(r)["outputs"][0]["data"]
    expected = [float(str(np.float32(v))) for v in values]  # numpy prints the shortest float32 repr
    assert [float(g) for g in got] == expected, describe(r)


def test_v2_infer_fp64_values_are_exact(api):
    values = [0.1, 1 / 3, 2.2250738585072014e-308, 5e-324, 1.7976931348623157e308, -9007199254740993.0]
    body = {"inputs": [{"name": "d", "datatype": "FP64", "shape": [len(values)], "data": values}]}
    got = expect_json(api.infer("echo", body))["outputs"][0]["data"]
    assert [float(g) for g in got] == values


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", None])
def test_v2_json_body_without_header_length_is_json_whatever_the_content_type(api, content_type):
    # Decision: binary iff Inference-Header-Content-Length is present.
    text = '{"inputs":[{"name":"a","datatype":"INT32","shape":[2],"data":[4,5]}]}'
    r = api.post_json_text("/v2/models/echo/infer", text, content_type=content_type)
    assert expect_json(r)["outputs"][0]["data"] == [4, 5]


def test_v2_generate_on_echo_is_501_json(api):
    expect_error(api.post("/v2/models/echo/generate", json={"text_input": "hi"}), 501)


# ------------------------------------------------------------------------------ versions

def test_v2_version_1_infer_is_served(api):
    body = {"inputs": [{"name": "a", "datatype": "INT32", "shape": [2], "data": [1, 2]}]}
    r = api.post("/v2/models/echo/versions/1/infer", json=body)
    assert expect_json(r)["outputs"][0]["data"] == [1, 2]


def test_v2_version_1_ready_is_served(api):
    r = api.get("/v2/models/echo/versions/1/ready")
    assert expect_json(r)["ready"] is True


def test_v2_version_1_metadata_is_served(api):
    assert expect_json(api.get("/v2/models/echo/versions/1"))["name"] == "echo"


@pytest.mark.parametrize("method,path", [
    ("POST", "/v2/models/echo/versions/2/infer"),
    ("GET", "/v2/models/echo/versions/2/ready"),
    ("GET", "/v2/models/echo/versions/2"),
])
def test_v2_other_version_is_404_json(api, method, path):
    kw = {"json": {"inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [1]}]}} \
        if method == "POST" else {}
    expect_error(api.request(method, path, **kw), 404)


# ------------------------------------------------------------------------------ Triton extras

def test_triton_model_config_reports_configured_inputs(api):
    body = expect_json(api.get("/v2/models/echo/config"))
    assert body["name"] == "echo"
    assert body["max_batch_size"] == 0
    inputs = body["input"]
    assert len(inputs) == 1
    assert inputs[0]["name"] == "input-0"
    assert inputs[0]["data_type"] == "TYPE_FP32"
    assert [int(d) for d in inputs[0]["dims"]] == [-1, 2]


def _statistics_advertised(api) -> bool:
    return "statistics" in expect_json(api.get("/v2"))["extensions"]


def test_statistics_route_exists_iff_advertised(api):
    r = api.get("/v2/models/stats")
    if _statistics_advertised(api):
        assert r.status_code == 200, describe(r)
    else:
        assert r.status_code == 404, "stats served but 'statistics' not advertised in /v2\n" + describe(r)


def _success_count(api, model="echo") -> tuple[int, int]:
    body = expect_json(api.get(f"/v2/models/{model}/stats"))
    stats = [m for m in body["model_stats"] if m["name"] == model]
    assert len(stats) == 1, body
    s = stats[0]
    return int(s["inference_stats"]["success"]["count"]), int(s["inference_count"])


def test_model_stats_success_count_rises_by_exactly_k_over_all_workers(api):
    if not _statistics_advertised(api):
        pytest.skip("'statistics' extension not advertised")
    before, inf_before = _success_count(api)
    k = 12
    body = {"inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [1]}]}
    for _ in range(k):
        expect_json(api.infer("echo", body))
    for _ in range(6):  # whichever worker answers must report the aggregate
        after, inf_after = _success_count(api)
        assert after - before == k, f"success count rose by {after - before}, expected {k}"
        assert inf_after - inf_before >= k


def test_all_models_stats_lists_every_model(api):
    if not _statistics_advertised(api):
        pytest.skip("'statistics' extension not advertised")
    body = expect_json(api.get("/v2/models/stats"))
    names = [m["name"] for m in body["model_stats"]]
    assert "echo" in names
    assert set(names) <= set(MODEL_ORDER)


# ------------------------------------------------------------------------------ sleep model

def test_sleep_model_waits_at_least_its_configured_delay(api):
    body = {"inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [9]}]}
    t0 = time.monotonic()
    r = api.infer("sleep", body)
    elapsed = time.monotonic() - t0
    assert expect_json(r)["outputs"][0]["data"] == [9]
    assert elapsed >= 0.05, f"answered after {elapsed:.3f}s, configured delay_ms = 50"


def test_sleep_model_request_parameter_delay_ms_overrides_config(api):
    body = {"parameters": {"delay_ms": 400},
            "inputs": [{"name": "a", "datatype": "INT32", "shape": [2], "data": [1, 2]}]}
    t0 = time.monotonic()
    r = api.infer("sleep", body)
    elapsed = time.monotonic() - t0
    out = expect_json(r)["outputs"][0]
    assert out["name"] == "output-0" and out["data"] == [1, 2]
    assert elapsed >= 0.4, f"answered after {elapsed:.3f}s, asked delay_ms = 400"


def test_query_string_does_not_change_routing(api):
    assert expect_json(api.get("/v2/models/echo/ready?verbose=1&x=y"))["ready"] is True
    body = {"inputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [5]}]}
    assert expect_json(api.post("/v2/models/echo/infer?trace=1", json=body))["outputs"][0]["data"] == [5]
