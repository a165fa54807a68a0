"""Kind `onnx` end to end: the committed ONNX fixtures (Tests/KServeONNXTests/Fixtures, made by make_fixtures.py
with Python's onnxruntime) served through the real stack (nginx, FastCGI workers, the gRPC process, ONNX Runtime
loaded at run time), over v1, v2 REST JSON and binary (tritonclient.http) and gRPC (tritonclient.grpc and KServe's
own stubs). Outputs must be bit-identical to Python's onnxruntime.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import e2e_util as u

FIXTURES = Path(__file__).resolve().parents[1] / "KServeONNXTests" / "Fixtures"
SERVED = {  # model name -> fixture
    "onnx-iris": "sklearn_pipeline",
    "onnx-mlp": "mlp_regressor",
    "onnx-multi": "multi_io",
    "onnx-dyn": "dynamic_fixed",
    "onnx-fp16": "fp16",
}
NP = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32,
      "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "BYTES": np.object_}


def wait_for(predicate, timeout: float) -> None:
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


def cases(fixture: str) -> dict:
    return json.loads((FIXTURES / fixture / "cases.json").read_text())


def array(t: dict) -> np.ndarray:
    if t["datatype"] == "BYTES":
        return np.array([s.encode() for s in t["data"]], dtype=np.object_).reshape(t["shape"])
    return np.array(t["data"], dtype=NP[t["datatype"]]).reshape(t["shape"])


def same(got: np.ndarray, want: np.ndarray) -> bool:
    got = np.asarray(got)
    if want.dtype == np.object_:
        return [bytes(g) for g in got.reshape(-1)] == [bytes(w) for w in want.reshape(-1)] and got.shape == want.shape
    if got.shape != want.shape or got.dtype != want.dtype:
        return False
    return got.tobytes() == want.tobytes()


def onnx_models(tmp: Path) -> list[dict]:
    triton = tmp / "iris" / "1"  # Triton's repository layout: <model>/<version>/model.onnx
    triton.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "sklearn_pipeline" / "model.onnx", triton / "model.onnx")
    models = [{"name": "onnx-iris", "kind": "onnx", "path": str(tmp / "iris"), "output": "probabilities"}]
    for name in ("onnx-mlp", "onnx-multi", "onnx-dyn", "onnx-fp16"):
        models.append({"name": name, "kind": "onnx", "path": str(FIXTURES / SERVED[name] / "model.onnx")})
    models.append({"name": "onnx-zipmap", "kind": "onnx", "path": str(FIXTURES / "zipmap")})
    models.append({"name": "onnx-corrupt", "kind": "onnx", "path": str(FIXTURES / "corrupt" / "model.onnx")})
    models.append({"name": "echo", "kind": "echo"})
    return models


@pytest.fixture(scope="module")
def onnx_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("onnx")
    cfg = u.default_config()
    cfg["grpc"] = {"enable": True, "host": "127.0.0.1", "port": u.free_port()}
    cfg["models"] = onnx_models(tmp)
    s = u.Stack(tmp, cfg, name="onnx")
    try:
        s.start(timeout=60)
        wait_for(lambda: u.Api(s.base_url).get("/v2/models/onnx-iris/ready").status_code == 200, 30)
    except Exception:
        s.stop(timeout=5)
        raise
    yield u.Api(s.base_url), s, cfg["grpc"]["port"]
    res = s.stop(timeout=10)
    assert not res.problems(), "; ".join(res.problems()) + "\n" + s.log_tail(80)


def test_v1_predictions_are_the_configured_output(onnx_stack):
    api, _, _ = onnx_stack
    case = cases("sklearn_pipeline")["cases"][0]
    x = array(case["inputs"][0])
    r = api.predict("onnx-iris", {"instances": x.tolist()})
    assert r.status_code == 200, u.describe(r)
    want = array(next(o for o in case["outputs"] if o["name"] == "probabilities"))
    assert same(np.array(r.json()["predictions"], dtype=np.float32), want)
    # without the option, the first output (the MLP has one: variable, [rows, 1] nested lists)
    mlp = cases("mlp_regressor")["cases"][0]
    r = api.predict("onnx-mlp", {"instances": array(mlp["inputs"][0]).tolist()})
    assert r.status_code == 200, u.describe(r)
    preds = r.json()["predictions"]
    assert isinstance(preds[0], list) and len(preds[0]) == 1
    assert same(np.array(preds, dtype=np.float32), array(mlp["outputs"][0]))


@pytest.mark.parametrize("model", [m for m in SERVED if m != "onnx-fp16"])
def test_v2_json_outputs_are_bit_identical(onnx_stack, model):
    api, _, _ = onnx_stack
    for case in cases(SERVED[model])["cases"]:
        body = {"inputs": [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"], "data": t["data"]}
                           for t in case["inputs"]]}
        r = api.infer(model, body)
        assert r.status_code == 200, u.describe(r)
        got = {o["name"]: o for o in r.json()["outputs"]}
        assert list(got) == [o["name"] for o in case["outputs"]]
        for want in case["outputs"]:
            o = got[want["name"]]
            assert o["datatype"] == want["datatype"] and o["shape"] == want["shape"], (model, o["name"])
            if want["datatype"] == "BYTES":
                assert o["data"] == want["data"]
            else:
                assert same(np.array(o["data"], dtype=NP[want["datatype"]]).reshape(o["shape"]), array(want)), o["name"]


@pytest.mark.parametrize("model", sorted(SERVED))
def test_v2_binary_with_tritonclient(onnx_stack, model):
    import tritonclient.http as httpclient
    _, s, _ = onnx_stack
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{s.port}", network_timeout=60.0)
    try:
        for case in cases(SERVED[model])["cases"]:
            inputs = []
            for t in case["inputs"]:
                i = httpclient.InferInput(t["name"], t["shape"], t["datatype"])
                i.set_data_from_numpy(array(t), binary_data=True)
                inputs.append(i)
            outs = [httpclient.InferRequestedOutput(o["name"], binary_data=True) for o in case["outputs"]]
            res = c.infer(model, inputs, outputs=outs)
            for want in case["outputs"]:
                assert same(res.as_numpy(want["name"]), array(want)), (model, want["name"])
    finally:
        c.close()


@pytest.mark.parametrize("model", sorted(SERVED))
def test_grpc_with_tritonclient(onnx_stack, model):
    """Raw input contents with tritonclient.grpc, in a subprocess (it cannot share a process with kserve)."""
    import subprocess
    import sys
    _, _, port = onnx_stack
    script = Path(__file__).with_name("onnx_grpc_checks.py")
    r = subprocess.run([sys.executable, str(script), f"127.0.0.1:{port}", model, str(FIXTURES / SERVED[model])],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and f"ok {model}" in r.stdout, f"{r.stdout}\n{r.stderr}"


def test_grpc_typed_contents_and_requested_outputs(onnx_stack):
    pb = pytest.importorskip("kserve.protocol.grpc.grpc_predict_v2_pb2")
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pbg
    _, _, port = onnx_stack
    case = cases("sklearn_pipeline")["cases"][0]
    x = array(case["inputs"][0])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pbg.GRPCInferenceServiceStub(channel)
        req = pb.ModelInferRequest(
            model_name="onnx-iris",
            inputs=[pb.ModelInferRequest.InferInputTensor(name="X", datatype="FP32", shape=list(x.shape),
                                                          contents=pb.InferTensorContents(fp32_contents=x.ravel().tolist()))],
            outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="label")])
        res = stub.ModelInfer(req, timeout=30)
        assert [o.name for o in res.outputs] == ["label"]
        want = array(next(o for o in case["outputs"] if o["name"] == "label"))
        assert list(res.outputs[0].contents.int64_contents) == want.tolist()
        meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="onnx-multi"), timeout=10)
        assert [(i.name, i.datatype, list(i.shape)) for i in meta.inputs][:2] == [("a", "FP32", [-1, 3]), ("b", "INT32", [-1, 3])]


def test_requested_outputs_only(onnx_stack):
    api, _, _ = onnx_stack
    case = cases("multi_io")["cases"][0]
    body = {"inputs": [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"], "data": t["data"]}
                       for t in case["inputs"]],
            "outputs": [{"name": "s_out"}, {"name": "idx"}]}
    r = api.infer("onnx-multi", body)
    assert r.status_code == 200, u.describe(r)
    assert [o["name"] for o in r.json()["outputs"]] == ["s_out", "idx"]
    body["outputs"] = [{"name": "nope"}]
    r = api.infer("onnx-multi", body)
    assert r.status_code == 400 and "nope" in r.json()["error"], u.describe(r)


def test_metadata_and_config_come_from_the_file(onnx_stack):
    api, _, _ = onnx_stack
    meta = u.expect_json(api.get("/v2/models/onnx-multi"))
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [
        ("a", "FP32", [-1, 3]), ("b", "INT32", [-1, 3]), ("c", "BOOL", [-1, 3]), ("s", "BYTES", [-1]), ("u", "UINT8", [-1])]
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [
        ("y", "FP64"), ("both", "BOOL"), ("idx", "INT64"), ("s_out", "BYTES"), ("u_wide", "UINT16")]
    meta = u.expect_json(api.get("/v2/models/onnx-dyn"))
    assert meta["inputs"][0]["shape"] == [-1, 3, 2] and meta["outputs"][0]["shape"] == [-1, 2]
    config = u.expect_json(api.get("/v2/models/onnx-fp16/config"))
    assert config["input"][0]["data_type"] == "TYPE_FP16"


def infer_x(api, model, shape, datatype, data):
    return api.infer(model, {"inputs": [{"name": "x", "datatype": datatype, "shape": shape, "data": data}]})


@pytest.mark.parametrize("body,phrases", [
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 2], "data": [0] * 6},
                 {"name": "extra", "datatype": "FP32", "shape": [1], "data": [0]}]}, ["unknown input 'extra'"]),
    ({"inputs": [{"name": "y", "datatype": "FP32", "shape": [1], "data": [0]}]}, ["unknown input 'y'"]),
    ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 3, 2], "data": [0] * 6}]},
     ["input 'x'", "expected datatype FP32, got FP64"]),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [6], "data": [0] * 6}]}, ["input 'x'", "expected rank 3"]),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4, 2], "data": [0] * 8}]},
     ["input 'x'", "dimension 1 must be 3", "got 4"]),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 2], "data": [0] * 5}]}, ["x"]),
])
def test_bad_inputs_are_400_naming_the_input(onnx_stack, body, phrases):
    api, _, _ = onnx_stack
    r = api.infer("onnx-dyn", body)
    assert r.status_code == 400, u.describe(r)
    msg = r.json()["error"]
    for p in phrases:
        assert p in msg, msg
    assert api.get("/v2/models/onnx-dyn/ready").status_code == 200


def test_missing_input_is_400_naming_it(onnx_stack):
    api, _, _ = onnx_stack
    r = api.infer("onnx-multi", {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]})
    assert r.status_code == 400, u.describe(r)
    assert "missing input 'b'" in r.json()["error"] and "INT32 [-1, 3]" in r.json()["error"], r.json()


def test_binary_size_mismatch_is_400(onnx_stack):
    api, _, _ = onnx_stack
    header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3, 2],
                                     "parameters": {"binary_data_size": 20}}]}).encode()
    r = api.post("/v2/models/onnx-dyn/infer", data=header + b"\0" * 20,
                 headers={"Inference-Header-Content-Length": str(len(header)),
                          "Content-Type": "application/octet-stream"})
    assert r.status_code == 400 and "x" in r.json()["error"], u.describe(r)


def test_runtime_failure_is_500_with_onnx_runtimes_message(onnx_stack):
    api, _, _ = onnx_stack
    case = cases("multi_io")["cases"][0]
    inputs = [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"], "data": t["data"]}
              for t in case["inputs"]]
    b = next(i for i in inputs if i["name"] == "b")  # b's batch (2) no longer matches a's (3): Add cannot broadcast
    b["shape"], b["data"] = [2, 3], b["data"][:6]
    r = api.infer("onnx-multi", {"inputs": inputs})
    assert r.status_code == 500, u.describe(r)
    assert "ONNX Runtime" in r.json()["error"], r.json()
    # the worker keeps serving
    r = api.predict("onnx-iris", {"instances": [[5.1, 3.5, 1.4, 0.2]]})
    assert r.status_code == 200, u.describe(r)


def test_v1_on_a_multi_input_model_is_400(onnx_stack):
    api, _, _ = onnx_stack
    r = api.predict("onnx-multi", {"instances": [[1, 2, 3]]})
    assert r.status_code == 400 and "5 inputs" in r.json()["error"], u.describe(r)


def test_bad_files_leave_the_model_not_ready_with_the_reason(onnx_stack):
    api, _, _ = onnx_stack
    r = api.predict("onnx-zipmap", {"instances": [[1, 2, 3, 4]]})
    assert r.status_code == 503
    assert '"zipmap": False' in r.json()["error"], r.json()
    r = api.predict("onnx-corrupt", {"instances": [[1, 2, 3, 4]]})
    assert r.status_code == 503 and "corrupt/model.onnx" in r.json()["error"], r.json()
    assert api.get("/v2/models/onnx-iris/ready").status_code == 200
    assert api.predict("echo", {"instances": [[1]]}).status_code == 200


def test_library_missing_server_starts_and_onnx_models_say_why(make_stack, tmp_path):
    def cfg(c):
        c["models"] = [{"name": "iris", "kind": "onnx", "path": str(FIXTURES / "sklearn_pipeline" / "model.onnx")},
                       {"name": "echo", "kind": "echo"}]
    missing = tmp_path / "nowhere" / "libonnxruntime.so"
    s = make_stack(config=cfg, env={"KSERVE_ONNXRUNTIME_LIBRARY": str(missing)})
    api = u.Api(s.base_url)
    r = api.predict("iris", {"instances": [[5.1, 3.5, 1.4, 0.2]]})
    assert r.status_code == 503, u.describe(r)
    msg = r.json()["error"]
    assert str(missing) in msg and "make deps" in msg, msg
    assert api.predict("echo", {"instances": [[1]]}).status_code == 200


def test_default_config_serves_the_iris_onnx_model(make_stack):
    conf = Path(__file__).resolve().parents[2] / "conf" / "kserve.conf"
    text = conf.read_text()
    assert 'kind = "onnx"' in text
    import tomllib
    doc = tomllib.loads(text)
    entry = next(m for m in doc["models"] if m["kind"] == "onnx")

    def cfg(c):
        c["models"] = [dict(entry, path=str(conf.parent / entry["path"]))]
    s = make_stack(config=cfg)
    api = u.Api(s.base_url)
    wait_for(lambda: api.get(f"/v2/models/{entry['name']}/ready").status_code == 200, 30)
    r = api.predict(entry["name"], {"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})
    assert r.status_code == 200, u.describe(r)
    probs = np.array(r.json()["predictions"])
    assert probs.shape == (2, 3) and probs[0].argmax() == 0 and probs[1].argmax() == 2


def test_sample_swift_preprocessing_then_onnx(make_stack):
    """`standardized-mlp`: (x - mean) / std in Swift, then the ONNX MLP; equal to Python's standardise + run."""
    doc = cases("mlp_regressor")

    def cfg(c):
        c["models"] = [{"name": "mlp", "kind": "standardized-mlp",
                        "path": str(FIXTURES / "mlp_regressor" / "model.onnx"), "mean": doc["mean"], "std": doc["std"]}]
    s = make_stack(config=cfg)
    api = u.Api(s.base_url)
    wait_for(lambda: api.get("/v2/models/mlp/ready").status_code == 200, 30)
    raw = np.array(doc["raw_rows"], dtype=np.float32).reshape(doc["raw_shape"])
    want = array(doc["cases"][0]["outputs"][0])
    r = api.infer("mlp", {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": list(raw.shape),
                                      "data": raw.ravel().tolist()}]})
    assert r.status_code == 200, u.describe(r)
    out = r.json()["outputs"][0]
    assert out["name"] == "output-0" and out["shape"] == list(want.shape)
    assert same(np.array(out["data"], dtype=np.float32).reshape(want.shape), want)
    r = api.predict("mlp", {"instances": raw.tolist()})
    assert r.status_code == 200, u.describe(r)
    assert same(np.array(r.json()["predictions"], dtype=np.float32), want)
