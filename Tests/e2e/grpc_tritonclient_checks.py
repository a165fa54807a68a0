"""tritonclient.grpc against the gRPC process, one named check per run (see test_grpc.py).

    python grpc_tritonclient_checks.py 127.0.0.1:8081 <check>

Runs in its own interpreter because tritonclient.grpc and kserve register the same `inference.*` protobuf names.
Prints `ok <check>` and exits 0 when every assertion holds.
"""

from __future__ import annotations

import concurrent.futures
import sys

import numpy as np
import tritonclient.grpc as tg
from tritonclient.utils import InferenceServerException

DTYPES = {
    "BOOL": (np.bool_, [True, False, True]),
    "INT8": (np.int8, [-128, 0, 127]),
    "INT16": (np.int16, [-32768, 1, 32767]),
    "INT32": (np.int32, [-2**31, 5, 2**31 - 1]),
    "INT64": (np.int64, [-2**63, 6, 2**63 - 1]),
    "UINT8": (np.uint8, [0, 1, 255]),
    "UINT16": (np.uint16, [0, 1, 65535]),
    "UINT32": (np.uint32, [0, 1, 2**32 - 1]),
    "UINT64": (np.uint64, [0, 1, 2**64 - 1]),
    "FP16": (np.float16, [1.5, -2.25, 65504]),
    "FP32": (np.float32, [1.5, -0.1, 3.4e38]),
    "FP64": (np.float64, [0.1, -1e308, 5e-324]),
    "BYTES": (np.object_, [b"cat", b"", b"\xff\x00 not utf-8"]),
}


def inp(name: str, datatype: str, values) -> tg.InferInput:
    arr = np.array(values, dtype=DTYPES[datatype][0])
    i = tg.InferInput(name, list(arr.shape), datatype)
    i.set_data_from_numpy(arr)
    return i


def expect_error(fn, status: str, contains: str | None = None) -> None:
    try:
        fn()
    except InferenceServerException as e:
        assert e.status() == status, f"expected {status}, got {e.status()}: {e.message()}"
        assert "UNKNOWN" not in (e.status() or "")
        if contains is not None:
            assert contains in e.message(), f"{e.message()!r} does not mention {contains!r}"
        return
    raise AssertionError(f"expected {status}, the call succeeded")


def check_server(c: tg.InferenceServerClient) -> None:
    assert c.is_server_live()
    assert c.is_server_ready()
    md = c.get_server_metadata(as_json=True)
    assert md["name"] == "kserve" and md["version"], md
    assert "model_repository_extension" in md["extensions"], md


def check_models(c: tg.InferenceServerClient) -> None:
    assert c.is_model_ready("echo")
    assert not c.is_model_ready("broken")
    md = c.get_model_metadata("echo", as_json=True)
    assert md["name"] == "echo" and md["versions"] == ["1"], md
    assert md["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": ["-1", "2"]}], md
    expect_error(lambda: c.is_model_ready("nope"), "StatusCode.NOT_FOUND", "Model with name nope does not exist.")


def check_infer_datatypes(c: tg.InferenceServerClient) -> None:
    for datatype, (dtype, values) in DTYPES.items():
        res = c.infer("echo", [inp("x", datatype, values)], request_id=f"t-{datatype}")
        out = res.as_numpy("output-0")
        assert out.tolist() == np.array(values, dtype=dtype).tolist(), (datatype, out)
        msg = res.get_response()
        assert len(msg.raw_output_contents) == 1, datatype  # tritonclient sends raw, so outputs come back raw
        assert msg.outputs[0].datatype == datatype and msg.id == f"t-{datatype}"


def check_bytes_and_fp16(c: tg.InferenceServerClient) -> None:
    arr = np.array([[b"a", b"bc"], [b"\x00\xff", "é".encode()]], dtype=np.object_)
    i = tg.InferInput("s", [2, 2], "BYTES")
    i.set_data_from_numpy(arr)
    assert c.infer("echo", [i]).as_numpy("output-0").tolist() == arr.tolist()
    res = c.infer("fp16-input", [inp("fp16_input", "FP16", [1.5, -2.25, 65504]), inp("str_input", "BYTES", [b"x", b"yz"])])
    assert res.as_numpy("fp32_output").tolist() == [1.5, -2.25, 65504.0]
    assert res.as_numpy("str_output").tolist() == [b"x", b"yz"]
    res = c.infer("fp16-output", [inp("fp32_input", "FP32", [0.5, 3.0])])
    assert res.as_numpy("fp16_output").dtype == np.float16
    assert res.as_numpy("fp16_output").tolist() == [0.5, 3.0]


def check_parameters_and_ids(c: tg.InferenceServerClient) -> None:
    res = c.infer("echo", [inp("x", "INT32", [1])], request_id="tid-1", headers={"x-request-id": "t-hdr"},
                  parameters={"flag": True, "n": 3, "name": "z"})
    msg = res.get_response()
    assert msg.id == "tid-1"
    p = msg.parameters
    assert (p["flag"].bool_param, p["n"].int64_param, p["name"].string_param) == (True, 3, "z")
    assert c.infer("echo", [inp("x", "INT32", [1])]).get_response().id, "a generated id"
    # Triton's double_param reaches the model, but a float cannot travel back (KServe's to_grpc_parameters).
    expect_error(lambda: c.infer("echo", [inp("x", "INT32", [1])], parameters={"f": 1.5}),
                 "StatusCode.INVALID_ARGUMENT", "to_grpc: invalid parameter value: 1.5")


def check_requested_outputs(c: tg.InferenceServerClient) -> None:
    res = c.infer("echo", [inp("a", "INT32", [1, 2]), inp("b", "FP64", [0.5])],
                  outputs=[tg.InferRequestedOutput("output-1")])
    assert [o.name for o in res.get_response().outputs] == ["output-1"]
    assert res.as_numpy("output-1").tolist() == [0.5]
    expect_error(lambda: c.infer("echo", [inp("a", "INT32", [1])], outputs=[tg.InferRequestedOutput("zzz")]),
                 "StatusCode.INVALID_ARGUMENT", "Unexpected inference output 'zzz' for model 'echo'")


def check_errors(c: tg.InferenceServerClient) -> None:
    expect_error(lambda: c.infer("nope", [inp("x", "INT32", [1])]), "StatusCode.NOT_FOUND")
    expect_error(lambda: c.infer("broken", [inp("x", "INT32", [1])]), "StatusCode.UNAVAILABLE", "not ready")
    expect_error(lambda: c.infer("fp16-output", [inp("x", "INT32", [1])]), "StatusCode.INVALID_ARGUMENT")
    expect_error(lambda: c.get_model_config("echo"), "StatusCode.UNIMPLEMENTED")
    expect_error(lambda: c.get_inference_statistics("echo"), "StatusCode.UNIMPLEMENTED")
    expect_error(lambda: c.infer("sleep", [inp("x", "INT32", [1])], parameters={"delay_ms": 2000}, client_timeout=0.3),
                 "StatusCode.DEADLINE_EXCEEDED")


def check_repository(c: tg.InferenceServerClient) -> None:
    c.unload_model("sleep")  # Triton's layout: model_name is field 2
    expect_error(lambda: c.is_model_ready("sleep"), "StatusCode.NOT_FOUND")
    c.load_model("sleep")
    assert c.is_model_ready("sleep")
    expect_error(lambda: c.unload_model("nope"), "StatusCode.NOT_FOUND")
    expect_error(lambda: c.load_model("broken"), "StatusCode.UNAVAILABLE")


def check_large_and_concurrent(c: tg.InferenceServerClient) -> None:
    arr = np.random.default_rng(3).standard_normal(1 << 20).astype(np.float32)  # 4 MiB
    i = tg.InferInput("x", [1 << 20], "FP32")
    i.set_data_from_numpy(arr)
    assert np.array_equal(c.infer("echo", [i]).as_numpy("output-0"), arr)

    def one(k: int):
        res = c.infer("sleep" if k % 2 else "echo", [inp("x", "INT64", [k, 2 * k])], request_id=f"c{k}")
        return k, res.as_numpy("output-0").tolist(), res.get_response().id

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        results = list(pool.map(one, range(64)))
    assert sorted(results) == [(k, [k, 2 * k], f"c{k}") for k in range(64)]


def main() -> None:
    target, check = sys.argv[1], sys.argv[2]
    c = tg.InferenceServerClient(url=target)
    try:
        globals()[f"check_{check}"](c)
    finally:
        c.close()
    print(f"ok {check}")


if __name__ == "__main__":
    main()
