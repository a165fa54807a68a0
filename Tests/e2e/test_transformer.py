"""Transformers end to end: a transformer stack (kind `transformer`: identity pre/postprocess, the default predict and
explain) in front of a predictor stack, two real kserve-master stacks on different ports, over v1, v2 JSON, v2 binary
(4 MB FP32) and grpc-v2.

The predictor serves `echo-headers` models, which echo like `echo` and also return the request headers they
received, so the tests see on the predictor side which headers the transformer forwarded. A transformer forwards
under its own name, so each transformer model has a predictor model of the same name.
"""

from __future__ import annotations

import json
import struct
import sys
import time

import numpy as np
import pytest
import requests

import e2e_util as u

# Importing kserve runs its argparse over sys.argv (see test_clients.py).
_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pbg
finally:
    sys.argv = _argv

FORWARDED = {"x-request-id": "req-77", "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
             "authorization": "Bearer s3cret"}
NOT_FORWARDED = {"x-other": "nope", "cookie": "session=1", "x-forwarded-user": "mallory"}
CLOSED_PORT = 1  # nothing listens on port 1 here


def predictor_config(grpc_port: int) -> dict:
    cfg = u.default_config()
    cfg["server"]["threads"] = 2
    cfg["grpc"] = {"enable": True, "host": "127.0.0.1", "port": grpc_port}
    cfg["models"] = [
        {"name": n, "kind": "echo-headers"} for n in ("hv1", "hv2", "hgrpc", "explained")
    ] + [
        {"name": "slow", "kind": "sleep", "delay_ms": 3000},
        {"name": "slowg", "kind": "sleep", "delay_ms": 3000},
    ]
    return cfg


def transformer_config(pred_http: int, pred_grpc: int, grpc_port: int) -> dict:
    cfg = u.default_config()
    cfg["server"]["threads"] = 2
    cfg["grpc"] = {"enable": True, "host": "127.0.0.1", "port": grpc_port}
    http_host = f"127.0.0.1:{pred_http}"
    grpc_host = f"127.0.0.1:{pred_grpc}"
    cfg["models"] = [
        {"name": "hv1", "kind": "transformer", "predictor_host": http_host, "predictor_protocol": "v1"},
        {"name": "hv2", "kind": "transformer", "predictor_host": http_host, "predictor_protocol": "v2"},
        {"name": "hgrpc", "kind": "transformer", "predictor_host": grpc_host, "predictor_protocol": "grpc-v2"},
        {"name": "explained", "kind": "transformer", "predictor_host": http_host, "explainer_host": http_host},
        {"name": "nohost", "kind": "transformer"},
        {"name": "absent", "kind": "transformer", "predictor_host": http_host, "predictor_protocol": "v2"},
        {"name": "dead", "kind": "transformer", "predictor_host": f"127.0.0.1:{CLOSED_PORT}",
         "predictor_protocol": "v2", "predictor_request_retries": 2},
        {"name": "deadg", "kind": "transformer", "predictor_host": f"127.0.0.1:{CLOSED_PORT}",
         "predictor_protocol": "grpc-v2", "predictor_request_retries": 1},
        {"name": "slow", "kind": "transformer", "predictor_host": http_host, "predictor_protocol": "v2",
         "predictor_request_timeout_seconds": 0.5},
        {"name": "slowg", "kind": "transformer", "predictor_host": grpc_host, "predictor_protocol": "grpc-v2",
         "predictor_request_timeout_seconds": 0.5},
    ]
    return cfg


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    pred_grpc = u.free_port()
    pred = u.Stack(tmp_path_factory.mktemp("predictor"), predictor_config(pred_grpc), name="predictor")
    tx_grpc = u.free_port()
    stacks = [pred]
    try:
        pred.start(timeout=30)
        tx = u.Stack(tmp_path_factory.mktemp("transformer"),
                     transformer_config(pred.port, pred_grpc, tx_grpc), name="transformer")
        stacks.append(tx)
        tx.start(timeout=30)
        wait_grpc(f"127.0.0.1:{pred_grpc}")
        wait_grpc(f"127.0.0.1:{tx_grpc}")
    except Exception:
        for s in stacks:
            s.stop(timeout=5)
        raise
    yield {"pred": pred, "tx": tx, "tx_grpc": f"127.0.0.1:{tx_grpc}", "pred_grpc": f"127.0.0.1:{pred_grpc}"}
    problems = []
    for s in (tx, pred):
        res = s.stop(timeout=10)
        problems += [f"{s.name}: {p}" for p in res.problems()]
    assert not problems, problems


def wait_grpc(target: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with grpc.insecure_channel(target) as ch:
                if pbg.GRPCInferenceServiceStub(ch).ServerReady(pb.ServerReadyRequest(), timeout=2).ready:
                    return
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def headers_seen_v2(body: dict) -> dict:
    return json.loads(body["parameters"]["headers"])


def assert_forwarded(seen: dict) -> None:
    for k, v in FORWARDED.items():
        assert seen.get(k) == v, f"{k} not forwarded as {v!r}: {seen}"
    for k in NOT_FORWARDED:
        assert k not in seen, f"{k} must not be forwarded: {seen}"


# --------------------------------------------------------------------------------------------
# v1, v2 JSON, v2 binary, grpc-v2
# --------------------------------------------------------------------------------------------

def test_v1_forwards_body_and_only_three_headers(pair):
    tx = pair["tx"]
    body = {"instances": [[1, 2.5], [3, 4]]}
    r = requests.post(f"{tx.base_url}/v1/models/hv1:predict", json=body, headers={**FORWARDED, **NOT_FORWARDED})
    assert r.status_code == 200, u.describe(r)
    out = r.json()
    assert out["predictions"] == body["instances"]
    assert_forwarded(out["headers"])
    # the predictor got JSON
    assert out["headers"]["content-type"] == "application/json"


def test_v2_json(pair):
    tx = pair["tx"]
    req = {"id": "r-1", "parameters": {"p": "q"},
           "inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]},
                      {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["héllo"]}]}
    r = requests.post(f"{tx.base_url}/v2/models/hv2/infer", json=req, headers={**FORWARDED, **NOT_FORWARDED})
    assert r.status_code == 200, u.describe(r)
    out = r.json()
    assert out["id"] == "r-1"
    assert out["model_name"] == "hv2"
    assert [o["data"] for o in out["outputs"]] == [[1, 2, 3, 4], ["héllo"]]
    assert out["outputs"][0]["shape"] == [2, 2]
    assert out["parameters"]["p"] == "q"
    seen = headers_seen_v2(out)
    assert_forwarded(seen)
    assert seen["content-type"] == "application/json"  # JSON in, JSON forwarded


def test_v2_binary_4mb_roundtrip_with_tritonclient(pair):
    import tritonclient.http as httpclient
    tx = pair["tx"]
    data = np.random.default_rng(7).standard_normal((1, 1 << 20), dtype=np.float32)
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{tx.port}", network_timeout=60)
    try:
        inp = httpclient.InferInput("input-0", list(data.shape), "FP32")
        inp.set_data_from_numpy(data, binary_data=True)
        outs = [httpclient.InferRequestedOutput("output-0", binary_data=True)]
        res = c.infer("hv2", [inp], outputs=outs, headers=dict(FORWARDED))  # it adds to the dict
        got = res.as_numpy("output-0")
        assert got.shape == data.shape and got.dtype == np.float32
        assert np.array_equal(got, data)
        seen = json.loads(res.get_response()["parameters"]["headers"])
        assert_forwarded(seen)
        # forwarded with the binary extension: the body is about 4 MB, not the 10+ MB of JSON text
        assert "inference-header-content-length" in seen
        assert 4 << 20 <= int(seen["content-length"]) < (4 << 20) + 4096
    finally:
        c.close()


def test_v2_binary_request_json_output(pair):
    """A binary request forwarded binary; the client asked for JSON outputs and gets JSON."""
    tx = pair["tx"]
    values = [0.5, -1.25, 3.0]
    hdr = json.dumps({"inputs": [{"name": "a", "shape": [3], "datatype": "FP32",
                                  "parameters": {"binary_data_size": 12}}]}).encode()
    r = requests.post(f"{tx.base_url}/v2/models/hv2/infer", data=hdr + struct.pack("<3f", *values),
                      headers={"Inference-Header-Content-Length": str(len(hdr)),
                               "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, u.describe(r)
    out = r.json()
    assert out["outputs"][0]["data"] == values
    assert "inference-header-content-length" in headers_seen_v2(out)


def test_grpc_v2_forwarding(pair):
    tx = pair["tx"]
    req = {"id": "g-1", "inputs": [{"name": "x", "shape": [3], "datatype": "FP64", "data": [0.1, -2.0, 1e300]}]}
    r = requests.post(f"{tx.base_url}/v2/models/hgrpc/infer", json=req, headers={**FORWARDED, **NOT_FORWARDED})
    assert r.status_code == 200, u.describe(r)
    out = r.json()
    assert out["id"] == "g-1"
    assert out["outputs"][0]["data"] == [0.1, -2.0, 1e300]
    assert out["outputs"][0]["datatype"] == "FP64"
    seen = headers_seen_v2(out)
    assert_forwarded(seen)


def test_grpc_client_through_transformer(pair):
    """gRPC in at the transformer (raw contents), forwarded over v2 REST with the binary extension."""
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)
    req = pb.ModelInferRequest(model_name="hv2", id="grpc-in")
    t = req.inputs.add(name="x", datatype="INT32", shape=[3, 4])
    del t
    req.raw_input_contents.append(arr.tobytes())
    with grpc.insecure_channel(pair["tx_grpc"]) as ch:
        resp = pbg.GRPCInferenceServiceStub(ch).ModelInfer(
            req, timeout=30, metadata=[("x-request-id", "grpc-req"), ("x-other", "no")])
    assert resp.id == "grpc-in"
    assert len(resp.raw_output_contents) == 1
    assert np.array_equal(np.frombuffer(resp.raw_output_contents[0], dtype=np.int32).reshape(3, 4), arr)
    seen = json.loads(resp.parameters["headers"].string_param)
    assert seen.get("x-request-id") == "grpc-req"
    assert "x-other" not in seen


def test_explain_forwards_to_explainer(pair):
    tx = pair["tx"]
    r = requests.post(f"{tx.base_url}/v1/models/explained:explain", json={"instances": [[9]]}, headers=FORWARDED)
    assert r.status_code == 200, u.describe(r)
    assert r.json() == {"predictions": [[9]]}  # echo-headers' explain is echo's


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

def test_no_predictor_host_is_501(pair):
    tx = pair["tx"]
    r = requests.post(f"{tx.base_url}/v1/models/nohost:predict", json={"instances": [1]})
    assert r.status_code == 501, u.describe(r)
    assert r.json() == {"error": "Could not find predictor_host."}


def test_no_explainer_host_is_501(pair):
    tx = pair["tx"]
    r = requests.post(f"{tx.base_url}/v1/models/hv1:explain", json={"instances": [1]})
    assert r.status_code == 501, u.describe(r)
    assert r.json() == {"error": "Could not find explainer_host."}


def test_predictor_error_is_passed_on(pair):
    tx = pair["tx"]
    # the predictor has no model "absent": its 404 and message come back
    r = requests.post(f"{tx.base_url}/v2/models/absent/infer",
                      json={"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}]})
    assert r.status_code == 404, u.describe(r)
    assert r.json() == {"error": "Model with name absent does not exist."}
    # the predictor rejects the v1 body: its 400 and message come back
    r = requests.post(f"{tx.base_url}/v1/models/hv1:predict", json={"neither": 1})
    assert r.status_code == 400, u.describe(r)
    assert "instances" in r.json()["error"]


def test_predictor_unreachable_is_502_naming_host_after_retries(pair):
    tx = pair["tx"]
    before = tx.log_text().count("retry 2 of 2")
    r = requests.post(f"{tx.base_url}/v2/models/dead/infer",
                      json={"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}]})
    assert r.status_code == 502, u.describe(r)
    assert f"127.0.0.1:{CLOSED_PORT}" in r.json()["error"]
    deadline = time.monotonic() + 5
    while tx.log_text().count("retry 2 of 2") <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tx.log_text().count("retry 2 of 2") > before, "predictor_request_retries = 2 did not retry twice"


def test_grpc_predictor_unreachable_is_502(pair):
    tx = pair["tx"]
    r = requests.post(f"{tx.base_url}/v2/models/deadg/infer",
                      json={"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}]})
    assert r.status_code == 502, u.describe(r)
    assert f"127.0.0.1:{CLOSED_PORT}" in r.json()["error"]


@pytest.mark.parametrize("model", ["slow", "slowg"])
def test_predictor_timeout_is_504_and_worker_keeps_serving(pair, model):
    tx = pair["tx"]
    t0 = time.monotonic()
    r = requests.post(f"{tx.base_url}/v2/models/{model}/infer",
                      json={"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}]}, timeout=30)
    took = time.monotonic() - t0
    assert r.status_code == 504, u.describe(r)
    assert "0.5" in r.json()["error"]
    assert took < 2.5, f"the 0.5 s predictor timeout took {took:.2f}s"
    r = requests.post(f"{tx.base_url}/v1/models/hv1:predict", json={"instances": [1]})
    assert r.status_code == 200, u.describe(r)


def test_grpc_error_status_through_transformer(pair):
    """A gRPC client of the transformer sees UNAVAILABLE for an unreachable predictor, NOT_FOUND passed on."""
    req = pb.ModelInferRequest(model_name="dead")
    req.inputs.add(name="a", datatype="INT32", shape=[1]).contents.int_contents.append(1)
    with grpc.insecure_channel(pair["tx_grpc"]) as ch:
        stub = pbg.GRPCInferenceServiceStub(ch)
        with pytest.raises(grpc.RpcError) as e:
            stub.ModelInfer(req, timeout=30)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        req.model_name = "absent"
        with pytest.raises(grpc.RpcError) as e:
            stub.ModelInfer(req, timeout=30)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_readiness_without_health_check_ignores_predictor(pair):
    tx = pair["tx"]
    assert requests.get(f"{tx.base_url}/v2/models/dead/ready").status_code == 200
    assert requests.get(f"{tx.base_url}/v2/health/ready").status_code == 200


# --------------------------------------------------------------------------------------------
# predictor health check: readiness follows the predictor
# --------------------------------------------------------------------------------------------

def test_health_check_follows_the_predictor(make_stack):
    pred_grpc = u.free_port()
    pcfg = predictor_config(pred_grpc)
    pcfg["models"] = [{"name": "hc", "kind": "echo"}, {"name": "hcg", "kind": "echo"}]
    pred = make_stack(pcfg, name="hc-predictor")
    wait_grpc(f"127.0.0.1:{pred_grpc}")
    tcfg = u.default_config()
    common = {"enable_predictor_health_check": True, "predictor_health_check_cache_seconds": 0,
              "predictor_health_check_timeout_seconds": 1}
    tcfg["models"] = [
        {"name": "hc", "kind": "transformer", "predictor_host": f"127.0.0.1:{pred.port}",
         "predictor_protocol": "v2", **common},
        {"name": "hcg", "kind": "transformer", "predictor_host": f"127.0.0.1:{pred_grpc}",
         "predictor_protocol": "grpc-v2", **common},
        {"name": "hc1", "kind": "transformer", "predictor_host": f"127.0.0.1:{pred.port}",
         "predictor_protocol": "v1", **common},
    ]
    # a v1 predictor model "hc1" is missing on purpose: v1 readiness asks GET /v1/models/hc1 -> 404 -> not ready
    tx = make_stack(tcfg, name="hc-transformer")
    base = tx.base_url
    assert requests.get(f"{base}/v2/models/hc/ready").status_code == 200
    assert requests.get(f"{base}/v2/models/hcg/ready").status_code == 200
    assert requests.get(f"{base}/v1/models/hc").json() == {"name": "hc", "ready": True}
    r = requests.get(f"{base}/v2/models/hc1/ready")
    assert r.status_code == 503 and "predictor" in r.json()["error"], u.describe(r)
    assert requests.get(f"{base}/v2/health/ready").status_code == 200
    assert requests.get(f"{base}/v2/health/live").status_code == 200

    res = pred.stop(timeout=10)
    assert not res.problems(), res.problems()
    for path in ("/v2/models/hc/ready", "/v2/models/hcg/ready", "/v1/models/hc", "/v2/health/ready"):
        r = requests.get(base + path, timeout=10)
        assert r.status_code == 503, f"{path}: {u.describe(r)}"
    assert requests.get(f"{base}/v2/health/live").status_code == 200  # live, just not ready
    r = requests.post(f"{base}/v2/models/hc/infer",
                      json={"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}]})
    assert r.status_code in (502, 503), u.describe(r)


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry,needle", [
    ({"predictor_protocol": "v3"}, "predictor_protocol"),
    ({"predictor_host": "http://svc:80"}, "without a scheme"),
    ({"predictor_request_timeout_seconds": 0}, "predictor_request_timeout_seconds"),
    ({"predictor_request_retries": -1}, "predictor_request_retries"),
    ({"enable_predictor_health_check": "yes"}, "enable_predictor_health_check"),
])
def test_bad_predictor_options_fail_the_config_test(tmp_path, entry, needle):
    import subprocess
    cfg = u.default_config()
    cfg["models"] = [{"name": "t", "kind": "transformer", "predictor_host": "svc:80", **entry}]
    path = tmp_path / "kserve.toml"
    path.write_text(u.toml_dumps(cfg))
    r = subprocess.run([str(u.kserve_bin()), "-c", str(path), "-t"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert needle in out and '"t"' in out, out


def test_command_line_flags_make_a_transformer(pair, make_stack):
    """KServe's flags on the command line turn the first (--model_name) model into a transformer."""
    cfg = u.default_config()
    cfg["models"] = [{"name": "placeholder", "kind": "transformer"}]
    tx = make_stack(cfg, args=["--model_name", "hv2", "--predictor_host", f"127.0.0.1:{pair['pred'].port}",
                               "--predictor_protocol", "v2", "--predictor_request_timeout_seconds", "30"],
                    name="cli-transformer")
    r = requests.post(f"{tx.base_url}/v2/models/hv2/infer", headers=FORWARDED,
                      json={"inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": [5]}]})
    assert r.status_code == 200, u.describe(r)
    assert r.json()["outputs"][0]["data"] == [5]
    assert_forwarded(headers_seen_v2(r.json()))
