"""Tree runtimes end to end: kinds `xgboost` and `lightgbm` serving committed fixture models through the real stack
(nginx + FastCGI workers), over v1, v2 REST (JSON and binary, with tritonclient) and gRPC.

Expected values are the Python libraries' own outputs, committed with the fixtures
(Tests/KServeTreesTests/Fixtures, written by make_fixtures.py), so this needs neither xgboost nor lightgbm: results
must be bit-identical (XGBoost float32 values arrive in JSON as the double of the float, as KServe's `tolist()`).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import e2e_util as u

FIXTURES = Path(__file__).resolve().parents[1] / "KServeTreesTests" / "Fixtures"
MANIFEST = {c["name"]: c for c in json.loads((FIXTURES / "manifest.json").read_text())["cases"]}

# model name -> fixture case; xgb-bc is served from a folder (the UBJ file is found by extension).
SERVED = {
    "xgb-bc": "xgb_binary_logistic_ubj",
    "xgb-nan": "xgb_reg_squarederror_nan",
    "xgb-iris": "xgb_multi_softprob",
    "lgb-iris": "lgb_multiclass",
    "lgb-cat": "lgb_categorical",
}


def fixture_inputs(case: str) -> np.ndarray:
    c = MANIFEST[case]
    x = np.fromfile(FIXTURES / case / "X.f64", dtype="<f8").reshape(c["rows"], c["cols"])
    return x[np.all(~np.isinf(x), axis=1)]  # JSON cannot carry infinities


def expected(case: str, variant: str, rows_mask=None) -> np.ndarray:
    c = MANIFEST[case]
    out = next(o for o in c["outputs"] if o["variant"] == variant)
    dtype = "<f4" if c["kind"] == "xgboost" else "<f8"
    y = np.fromfile(FIXTURES / case / out["file"], dtype=dtype).reshape(out["shape"])
    x = np.fromfile(FIXTURES / case / "X.f64", dtype="<f8").reshape(c["rows"], c["cols"])
    return y[np.all(~np.isinf(x), axis=1)]


def rows_json(x: np.ndarray) -> list:
    return [[None if math.isnan(v) else float(v) for v in row] for row in x]


def same_bits(got, want: np.ndarray) -> bool:
    """Bit-for-bit equality (NaN equals NaN)."""
    g = np.asarray(got, dtype=want.dtype)
    if g.shape != want.shape:
        return False
    bits = np.uint32 if want.dtype == np.float32 else np.uint64
    return bool(np.all((g.view(bits) == want.view(bits)) | (np.isnan(g) & np.isnan(want))))


def tree_models(tmp: Path) -> list[dict]:
    folder = tmp / "xgb-bc"
    folder.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / SERVED["xgb-bc"] / "model.ubj", folder / "model.ubj")
    broken = tmp / "broken.json"
    broken.write_bytes((FIXTURES / SERVED["xgb-iris"] / "model.json").read_bytes()[:5000])
    models = [{"name": "xgb-bc", "kind": "xgboost", "path": str(folder)}]
    for name in ("xgb-nan", "xgb-iris"):
        models.append({"name": name, "kind": "xgboost", "path": str(FIXTURES / SERVED[name] / "model.json")})
    for name in ("lgb-iris", "lgb-cat"):
        models.append({"name": name, "kind": "lightgbm", "path": str(FIXTURES / SERVED[name] / "model.txt")})
    models.append({"name": "xgb-broken", "kind": "xgboost", "path": str(broken)})
    return models


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trees")
    cfg = u.default_config()
    cfg["models"] = tree_models(tmp)
    s = u.Stack(tmp, cfg, name="trees").start_cleanly(30)
    yield u.Api(s.base_url), s
    res = s.stop(timeout=10)
    assert not res.problems(), "; ".join(res.problems()) + "\n" + s.log_tail(80)


@pytest.mark.parametrize("model", sorted(SERVED))
def test_v1_predictions_are_bit_identical(trees, model):
    api, _ = trees
    case = SERVED[model]
    x = fixture_inputs(case)
    r = api.predict(model, {"instances": rows_json(x)})
    assert r.status_code == 200, u.describe(r)
    assert same_bits(r.json()["predictions"], expected(case, "predict")), model


@pytest.mark.parametrize("model,param,variant", [("xgb-bc", "output_margin", "margin"),
                                                  ("xgb-iris", "output_margin", "margin"),
                                                  ("lgb-iris", "raw_score", "raw")])
def test_margin_parameters(trees, model, param, variant):
    api, _ = trees
    case = SERVED[model]
    x = fixture_inputs(case)
    r = api.predict(model, {"instances": rows_json(x), "parameters": {param: True}})
    assert r.status_code == 200, u.describe(r)
    assert same_bits(r.json()["predictions"], expected(case, variant))
    # v2 JSON has no NaN: the rows without missing values.
    full = np.all(~np.isnan(x), axis=1)
    x = x[full]
    dtype = "FP32" if model.startswith("xgb") else "FP64"
    body = {"inputs": [{"name": "input-0", "shape": list(x.shape), "datatype": "FP64", "data": x.ravel().tolist()}],
            "parameters": {param: True}}
    r = api.infer(model, body)
    assert r.status_code == 200, u.describe(r)
    out = r.json()["outputs"][0]
    assert out["name"] == "output-0" and out["datatype"] == dtype
    want = expected(case, variant)[full]
    assert out["shape"] == list(want.shape)
    assert same_bits(np.array(out["data"]).reshape(want.shape), want)


def test_v1_rows_as_objects_by_feature_name(trees):
    api, _ = trees
    case = SERVED["lgb-iris"]
    x = fixture_inputs(case)[:20]
    names = [f"Column_{i}" for i in range(x.shape[1])]
    rows = [{n: float(v) for n, v in zip(names, row) if not math.isnan(v)} for row in x]
    r = api.predict("lgb-iris", {"instances": rows})
    assert r.status_code == 200, u.describe(r)
    assert same_bits(r.json()["predictions"], expected(case, "predict")[:20])


def test_v2_binary_tensors_with_tritonclient(trees):
    import tritonclient.http as httpclient
    _, s = trees
    c = httpclient.InferenceServerClient(url=f"127.0.0.1:{s.port}", network_timeout=60.0)
    try:
        for model, dtype in (("xgb-nan", "FP32"), ("xgb-iris", "FP64"), ("lgb-cat", "FP64")):
            case = SERVED[model]
            x = fixture_inputs(case)
            arr = x.astype(np.float32) if dtype == "FP32" else x
            inp = httpclient.InferInput("input-0", list(arr.shape), dtype)
            inp.set_data_from_numpy(arr, binary_data=True)
            res = c.infer(model, [inp], outputs=[httpclient.InferRequestedOutput("output-0", binary_data=True)])
            got = res.as_numpy("output-0")
            want = expected(case, "predict")
            assert got.dtype == want.dtype and same_bits(got, want), model
        meta = c.get_model_metadata("xgb-iris")
        assert meta["inputs"][0]["shape"] == [-1, 4] and meta["outputs"][0]["shape"] == [-1, 3]
        assert meta["inputs"][0]["datatype"] == "FP32"
        meta = c.get_model_metadata("lgb-cat")
        assert meta["inputs"][0]["shape"] == [-1, 4] and meta["outputs"][0]["shape"] == [-1]
        assert meta["outputs"][0]["datatype"] == "FP64"
        # the model's feature names, as saved in the file
        line = next(ln for ln in (FIXTURES / SERVED["lgb-cat"] / "model.txt").read_text().splitlines()
                    if ln.startswith("feature_names="))
        assert meta["inputs"][0]["parameters"]["feature_names"] == line.split("=", 1)[1].split(" ")
    finally:
        c.close()


def test_wrong_feature_count_is_400_naming_the_count(trees):
    api, _ = trees
    r = api.predict("xgb-iris", {"instances": [[1.0, 2.0, 3.0]]})
    assert r.status_code == 400 and "4" in r.json()["error"], u.describe(r)
    r = api.infer("lgb-iris", {"inputs": [{"name": "input-0", "shape": [1, 5], "datatype": "FP64",
                                           "data": [1, 2, 3, 4, 5]}]})
    assert r.status_code == 400 and "4" in r.json()["error"], u.describe(r)
    r = api.predict("xgb-iris", {"instances": [["a", 1, 2, 3]]})
    assert r.status_code == 400, u.describe(r)


def test_broken_model_is_not_ready_and_the_others_serve(trees):
    api, _ = trees
    r = api.get("/v2/models/xgb-broken/ready")
    assert r.status_code == 503
    r = api.predict("xgb-broken", {"instances": [[1, 2, 3, 4]]})
    assert r.status_code == 503
    msg = r.json()["error"]
    assert "broken.json" in msg and "truncated" in msg, msg
    assert api.get("/v2/models/xgb-iris/ready").status_code == 200


def test_model_dir_flag_adds_the_model_beside_the_configured_ones(make_stack, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    # *.bst is XGBoost's by default: --model_format names LightGBM's.
    shutil.copy(FIXTURES / SERVED["lgb-iris"] / "model.txt", folder / "model.bst")

    def cfg(c):
        c["models"] = [{"name": "first", "kind": "echo"}]
    s = make_stack(config=cfg, args=["--model_name", "iris", "--model_dir", str(folder), "--model_format", "lightgbm"])
    api = u.Api(s.base_url)
    case = SERVED["lgb-iris"]
    r = api.predict("iris", {"instances": rows_json(fixture_inputs(case))})
    assert r.status_code == 200, u.describe(r)
    assert same_bits(r.json()["predictions"], expected(case, "predict"))
    # the configured entry keeps its name and still serves
    assert u.expect_json(api.get("/v1/models"))["models"] == ["first", "iris"]
    assert api.predict("first", {"instances": [[1]]}).status_code == 200


def test_grpc_inference(tmp_path):
    pb = pytest.importorskip("kserve.protocol.grpc.grpc_predict_v2_pb2")
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pbg
    port = u.free_port()
    cfg = u.default_config()
    cfg["grpc"] = {"enable": True, "host": "127.0.0.1", "port": port}
    cfg["models"] = [{"name": "xgb-iris", "kind": "xgboost", "path": str(FIXTURES / SERVED["xgb-iris"] / "model.json")},
                     {"name": "lgb-iris", "kind": "lightgbm", "path": str(FIXTURES / SERVED["lgb-iris"] / "model.txt")}]
    s = u.Stack(tmp_path, cfg, name="trees-grpc")
    channel = None
    try:
        try:
            s.start(timeout=30)
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(channel).result(timeout=15)
        except Exception as e:  # this binary may not have the gRPC role yet
            s.stop(timeout=5)
            pytest.skip(f"no gRPC listener ({type(e).__name__}); the gRPC role is not built into this binary")
        stub = pbg.GRPCInferenceServiceStub(channel)
        for model in ("xgb-iris", "lgb-iris"):
            case = SERVED[model]
            x = fixture_inputs(case)
            req = pb.ModelInferRequest(model_name=model, inputs=[pb.ModelInferRequest.InferInputTensor(
                name="input-0", datatype="FP64", shape=list(x.shape),
                contents=pb.InferTensorContents(fp64_contents=x.ravel().tolist()))])
            res = stub.ModelInfer(req, timeout=30)
            want = expected(case, "predict")
            out = res.outputs[0]
            assert list(out.shape) == list(want.shape)
            if res.raw_output_contents:
                got = np.frombuffer(res.raw_output_contents[0], dtype=want.dtype).reshape(want.shape)
            elif want.dtype == np.float32:
                got = np.array(out.contents.fp32_contents, dtype=np.float32).reshape(want.shape)
            else:
                got = np.array(out.contents.fp64_contents, dtype=np.float64).reshape(want.shape)
            assert same_bits(got, want), model
            meta = stub.ModelMetadata(pb.ModelMetadataRequest(name=model), timeout=10)
            assert list(meta.inputs[0].shape) == [-1, 4]
    finally:
        if channel is not None:
            channel.close()
        if s.stopped is None and s.proc is not None:
            res = s.stop(timeout=10)
            assert not res.problems(), "; ".join(res.problems()) + "\n" + s.log_tail(80)
