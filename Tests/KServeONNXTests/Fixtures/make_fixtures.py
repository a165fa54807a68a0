"""Writes the ONNX fixtures the Swift tests and the e2e tests compare against (run in the e2e venv:
`.venv/bin/python Tests/KServeONNXTests/Fixtures/make_fixtures.py`; the outputs are committed).

Each fixture folder holds `model.onnx` and `cases.json`: inputs (name, datatype, shape, flat data) and the outputs
Python's onnxruntime (the same version as the library `make deps` fetches, one intra-op thread) computed for them.
Floats are written as the exact double of the value, so FP32/FP16 round-trip bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.datasets import load_iris, make_regression
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
def datatype(a: np.ndarray) -> str:
    if a.dtype.kind in "OU":
        return "BYTES"
    return {"f4": "FP32", "f8": "FP64", "f2": "FP16", "i8": "INT64", "i4": "INT32", "b1": "BOOL", "u1": "UINT8",
            "u2": "UINT16"}[a.dtype.kind + str(a.dtype.itemsize)]


def flat(a: np.ndarray) -> list:
    if a.dtype.type in (np.object_, np.str_):
        return [str(v) for v in a.reshape(-1)]
    if a.dtype.kind == "f":
        return [float(v) for v in a.reshape(-1)]
    if a.dtype.kind == "b":
        return [bool(v) for v in a.reshape(-1)]
    return [int(v) for v in a.reshape(-1)]


def session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def write(name: str, model: onnx.ModelProto | bytes, feeds: list[dict[str, np.ndarray]], extra: dict | None = None) -> Path:
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    s = session(path)
    cases = []
    for feed in feeds:
        outs = s.run(None, feed)
        cases.append({
            "inputs": [{"name": k, "datatype": datatype(v), "shape": list(v.shape), "data": flat(v)} for k, v in feed.items()],
            "outputs": [{"name": o.name, "datatype": datatype(np.asarray(r)), "shape": list(np.asarray(r).shape),
                         "data": flat(np.asarray(r))} for o, r in zip(s.get_outputs(), outs)],
        })
    doc = {"inputs": [{"name": i.name, "type": i.type, "shape": [d if isinstance(d, int) else -1 for d in i.shape]}
                      for i in s.get_inputs()],
           "outputs": [{"name": o.name, "type": o.type, "shape": [d if isinstance(d, int) else -1 for d in o.shape]}
                       for o in s.get_outputs()],
           "cases": cases}
    if extra:
        doc.update(extra)
    (folder / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")
    return path


def sklearn_pipeline() -> bytes:
    x, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x.astype(np.float32), y)
    model = to_onnx(pipe, x[:1].astype(np.float32), options={id(pipe.steps[-1][1]): {"zipmap": False}},
                    target_opset=17)
    data = model.SerializeToString()
    rows = x[[0, 1, 50, 51, 100, 149]].astype(np.float32)
    write("sklearn_pipeline", data, [{"X": rows}, {"X": rows[:1]}])
    # The same classifier with skl2onnx's default ZipMap output: a sequence of maps, refused at load.
    zip_model = to_onnx(pipe, x[:1].astype(np.float32), target_opset=17)
    (HERE / "zipmap").mkdir(exist_ok=True)
    (HERE / "zipmap" / "model.onnx").write_bytes(zip_model.SerializeToString())
    # A truncated copy: corrupt, refused at load.
    (HERE / "corrupt").mkdir(exist_ok=True)
    (HERE / "corrupt" / "model.onnx").write_bytes(data[: len(data) // 3])
    return data


def mlp_regressor() -> None:
    x, y = make_regression(n_samples=300, n_features=5, noise=0.1, random_state=0)
    mean, std = x.mean(axis=0).astype(np.float32), x.std(axis=0).astype(np.float32)
    xs = ((x.astype(np.float32) - mean) / std)
    mlp = MLPRegressor(hidden_layer_sizes=(16,), max_iter=2000, random_state=0).fit(xs, y)
    model = to_onnx(mlp, xs[:1], target_opset=17)
    rows = x[:7].astype(np.float32)
    standardized = (rows - mean) / std
    write("mlp_regressor", model, [{"X": standardized}],
          extra={"raw_rows": flat(rows), "mean": flat(mean), "std": flat(std),
                 "raw_shape": list(rows.shape)})


def multi_io() -> None:
    n = "N"
    g = helper.make_graph(
        [
            helper.make_node("Cast", ["a"], ["a64"], to=TensorProto.DOUBLE),
            helper.make_node("Cast", ["b"], ["b64"], to=TensorProto.DOUBLE),
            helper.make_node("Add", ["a64", "b64"], ["y"]),
            helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
            helper.make_node("Greater", ["a", "bf"], ["gt"]),
            helper.make_node("And", ["gt", "c"], ["both"]),
            helper.make_node("ArgMax", ["a"], ["idx"], axis=1, keepdims=0),
            helper.make_node("Identity", ["s"], ["s_out"]),
            helper.make_node("Cast", ["u"], ["u_wide"], to=TensorProto.UINT16),
        ],
        "multi_io",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, 3]),
            helper.make_tensor_value_info("b", TensorProto.INT32, [n, 3]),
            helper.make_tensor_value_info("c", TensorProto.BOOL, [n, 3]),
            helper.make_tensor_value_info("s", TensorProto.STRING, [n]),
            helper.make_tensor_value_info("u", TensorProto.UINT8, [n]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.DOUBLE, [n, 3]),
            helper.make_tensor_value_info("both", TensorProto.BOOL, [n, 3]),
            helper.make_tensor_value_info("idx", TensorProto.INT64, [n]),
            helper.make_tensor_value_info("s_out", TensorProto.STRING, [n]),
            helper.make_tensor_value_info("u_wide", TensorProto.UINT16, [n]),
        ],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    feed = {
        "a": np.array([[0.5, -1.25, 3.0], [7.0, 2.5, 2.0], [1e-3, 1e3, -0.1]], dtype=np.float32),
        "b": np.array([[0, -2, 3], [1, 9, -4], [0, 999, 0]], dtype=np.int32),
        "c": np.array([[True, True, False], [True, False, True], [False, True, True]]),
        "s": np.array(["cat", "", "naïve café"], dtype=object),
        "u": np.array([0, 7, 255], dtype=np.uint8),
    }
    write("multi_io", model, [feed])


def dynamic_fixed() -> None:
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 2)).astype(np.float32)
    bias = np.array([0.25, -0.5], dtype=np.float32)
    g = helper.make_graph(
        [
            helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["mm"]),
            helper.make_node("Add", ["mm", "bias"], ["out"]),
        ],
        "dynamic_fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(np.array([-1, 6], dtype=np.int64), "flat_shape"),
                     numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    x = rng.standard_normal((4, 3, 2)).astype(np.float32)
    write("dynamic_fixed", model, [{"x": x}, {"x": x[:1]}])


def fp16() -> None:
    g = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["m"]),
            helper.make_node("Add", ["m", "one"], ["y"]),
            helper.make_node("Cast", ["y"], ["y32"], to=TensorProto.FLOAT),
        ],
        "fp16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [None, 4]),
         helper.make_tensor_value_info("y32", TensorProto.FLOAT, [None, 4])],
        initializer=[numpy_helper.from_array(np.array(2, dtype=np.float16), "two"),
                     numpy_helper.from_array(np.array(1, dtype=np.float16), "one")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    x = np.array([[0.5, -1.0, 3.25, 100.0], [0.1, 0.2, 0.3, 30000.0]], dtype=np.float16)
    write("fp16", model, [{"x": x}])


if __name__ == "__main__":
    iris = sklearn_pipeline()
    mlp_regressor()
    multi_io()
    dynamic_fixed()
    fp16()
    # The default config's ONNX model: the iris pipeline (conf/models/iris-onnx/model.onnx).
    target = ROOT / "conf" / "models" / "iris-onnx"
    target.mkdir(parents=True, exist_ok=True)
    (target / "model.onnx").write_bytes(iris)
    print("fixtures written to", HERE)
