"""tritonclient.grpc checks of the onnx kind, run in a subprocess by test_onnx.py (tritonclient.grpc and kserve
register the same `inference.*` protobuf names, so one process cannot import both).

usage: onnx_grpc_checks.py HOST:PORT MODEL FIXTURE_DIR
Sends every case of FIXTURE_DIR/cases.json as raw input contents and compares every output bit for bit with
Python's onnxruntime; then checks ModelMetadata against the file's signature. Prints "ok MODEL".
"""

import json
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

NP = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32,
      "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "BYTES": np.object_}


def array(t):
    if t["datatype"] == "BYTES":
        return np.array([s.encode() for s in t["data"]], dtype=np.object_).reshape(t["shape"])
    return np.array(t["data"], dtype=NP[t["datatype"]]).reshape(t["shape"])


def main() -> int:
    target, model, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    doc = json.loads((folder / "cases.json").read_text())
    c = grpcclient.InferenceServerClient(url=target)
    try:
        for case in doc["cases"]:
            inputs = []
            for t in case["inputs"]:
                i = grpcclient.InferInput(t["name"], t["shape"], t["datatype"])
                i.set_data_from_numpy(array(t))
                inputs.append(i)
            res = c.infer(model, inputs)
            for want in case["outputs"]:
                got, exp = res.as_numpy(want["name"]), array(want)
                if exp.dtype == np.object_:
                    ok = [bytes(g) for g in got.reshape(-1)] == [bytes(w) for w in exp.reshape(-1)]
                else:
                    ok = got.dtype == exp.dtype and got.shape == exp.shape and got.tobytes() == exp.tobytes()
                if not ok:
                    print(f"{model}.{want['name']}: got {got!r}, want {exp!r}")
                    return 1
        meta = c.get_model_metadata(model, as_json=True)
        names = [i["name"] for i in meta["inputs"]]
        shapes = [[int(d) for d in i["shape"]] for i in meta["inputs"]]
        if names != [i["name"] for i in doc["inputs"]] or shapes != [i["shape"] for i in doc["inputs"]]:
            print(f"metadata {meta} does not match {doc['inputs']}")
            return 1
    finally:
        c.close()
    print(f"ok {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
