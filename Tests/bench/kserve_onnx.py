"""make bench's ONNX workload, KServe's side and the shared model.

    .venv-bench/bin/python Tests/bench/kserve_onnx.py --train DIR
        writes DIR/model.onnx (an MLP: three dense layers 256 wide, ReLU, 10 outputs; fixed random weights),
        DIR/request1.json and DIR/request32.json (v2 JSON infer bodies, batch 1 and 32), DIR/expected.json (Python
        onnxruntime's outputs for them) and DIR/ort.json (onnxruntime's own in-process Run time, p50 in µs, one
        intra-op thread, same inputs).
    .venv-bench/bin/python Tests/bench/kserve_onnx.py --model_dir DIR --model_name onnx --http_port N --workers 2
        KServe 0.21's ModelServer serving that model with a custom Model calling onnxruntime (one intra-op thread,
        as ours), the way a KServe user serves ONNX without Triton.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

WIDTH = 256
OUTPUTS = 10


def build(out: Path) -> None:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits, nodes, prev = [], [], "input"
    sizes = [(WIDTH, WIDTH), (WIDTH, WIDTH), (WIDTH, OUTPUTS)]
    for i, (a, b) in enumerate(sizes):
        w = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        bias = (rng.standard_normal(b) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
        prev = f"a{i}"
        if i < len(sizes) - 1:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
            prev = f"r{i}"
    nodes.append(helper.make_node("Identity", [prev], ["output"]))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", WIDTH])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", OUTPUTS])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(model.SerializeToString())
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(str(out / "model.onnx"), so, providers=["CPUExecutionProvider"])
    expected, ort_us = {}, {}
    for batch in (1, 32):
        x = np.random.default_rng(batch).standard_normal((batch, WIDTH)).astype(np.float32)
        body = {"inputs": [{"name": "input", "shape": [batch, WIDTH], "datatype": "FP32",
                            "data": [float(v) for v in x.ravel()]}]}
        (out / f"request{batch}.json").write_text(json.dumps(body))
        y = session.run(None, {"input": x})[0]
        expected[str(batch)] = [float(v) for v in y.ravel()]
        times = []
        for _ in range(300):
            t0 = time.perf_counter_ns()
            session.run(None, {"input": x})
            times.append(time.perf_counter_ns() - t0)
        ort_us[str(batch)] = float(np.percentile(np.array(times[50:]), 50)) / 1000
    (out / "expected.json").write_text(json.dumps(expected))
    (out / "ort.json").write_text(json.dumps({"p50_us": ort_us, "onnxruntime": ort.__version__}))


try:  # the serving side needs KServe (the bench venv); --train needs only onnx and onnxruntime
    from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server
    from kserve.utils.utils import generate_uuid
except ImportError:  # pragma: no cover
    Model = object


class ONNXModel(Model):
    """A KServe custom Model running an ONNX file with onnxruntime (one intra-op thread). KServe pickles models into
    its worker processes: the session is rebuilt there (__setstate__), as it cannot be pickled."""

    def __init__(self, name: str, path: str):
        super().__init__(name)
        self.path = path
        self.session = None
        self.load()

    def load(self) -> bool:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, so, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.ready = True
        return True

    def __getstate__(self):
        state = dict(self.__dict__)
        state["session"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.load()

    async def predict(self, payload, headers=None, response_headers=None):
        feeds = {i.name: i.as_numpy() for i in payload.inputs}
        results = self.session.run(self.output_names, feeds)
        outputs = []
        for name, value in zip(self.output_names, results):
            out = InferOutput(name=name, shape=list(value.shape), datatype="FP32")
            out.set_data_from_numpy(value, binary_data=payload.use_binary_outputs)
            outputs.append(out)
        return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name,
                             infer_outputs=outputs, use_binary_outputs=payload.use_binary_outputs)


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args(argv)
    ModelServer().start([ONNXModel(args.model_name, str(Path(args.model_dir) / "model.onnx"))])


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--train":
        build(Path(sys.argv[2]))
    else:
        serve(sys.argv[1:])
