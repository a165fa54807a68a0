"""Binary tensor extension: tritonclient.http against the echo and FP16 sample models, plus raw requests
for the output-format rules of kserve-behaviour.md section 2."""

import json

import numpy as np
import pytest
import tritonclient.http as httpclient

from e2e_util import (describe, decode_raw, expect_json, post_binary, raw_of, serialize_bytes,
                      split_infer_response)


def _in(name, arr, datatype, binary=True):
    i = httpclient.InferInput(name, list(arr.shape), datatype)
    i.set_data_from_numpy(arr, binary_data=binary)
    return i


def _out(name, binary=True):
    return httpclient.InferRequestedOutput(name, binary_data=binary)


def _header(result) -> dict:
    return result.get_response()


# ------------------------------------------------------------------------------ tritonclient round trips

def test_triton_fp32_binary_round_trip(triton):
    x = np.array([[1.5, -2.25, 6.8], [0.0, 1e-30, 3.4e38]], dtype=np.float32)
    res = triton.infer("echo", [_in("input-0", x, "FP32")])
    y = res.as_numpy("output-0")
    assert y.dtype == np.float32 and y.shape == (2, 3)
    assert np.array_equal(y, x)
    assert _header(res)["outputs"][0]["parameters"]["binary_data_size"] == x.nbytes


def test_triton_int64_binary_round_trip(triton):
    x = np.array([np.iinfo(np.int64).min, -1, 0, 1, np.iinfo(np.int64).max], dtype=np.int64)
    y = triton.infer("echo", [_in("i", x, "INT64")]).as_numpy("output-0")
    assert y.dtype == np.int64 and np.array_equal(y, x)


@pytest.mark.parametrize("datatype", ["INT8", "INT16", "INT32", "UINT8", "UINT16", "UINT32", "UINT64", "FP64"])
def test_triton_other_numeric_binary_round_trip(triton, datatype):
    dt = np.dtype(httpclient.triton_to_np_dtype(datatype))
    lim = np.iinfo(dt) if dt.kind in "iu" else np.finfo(dt)
    x = np.array([[lim.min, 0], [1, lim.max]], dtype=dt)
    y = triton.infer("echo", [_in("t", x, datatype)]).as_numpy("output-0")
    assert y.dtype == dt and y.shape == (2, 2) and np.array_equal(y, x)


def test_triton_bool_binary_round_trip(triton):
    x = np.array([[True, False, True], [False, False, True]])
    res = triton.infer("echo", [_in("b", x, "BOOL")])
    y = res.as_numpy("output-0")
    assert y.dtype == np.bool_ and np.array_equal(y, x)
    assert _header(res)["outputs"][0]["parameters"]["binary_data_size"] == 6  # 1 byte per element


def test_triton_bool_json_round_trip(triton):
    x = np.array([True, False, True])
    y = triton.infer("echo", [_in("b", x, "BOOL", binary=False)], outputs=[_out("output-0", False)]) \
        .as_numpy("output-0")
    assert np.array_equal(y.astype(bool), x)


def test_triton_bytes_binary_round_trip_keeps_non_utf8_bytes(triton):
    x = np.array([b"cat", b"", b"\xff\x00\xfe\x80", "ünï".encode()], dtype=np.object_)
    res = triton.infer("echo", [_in("s", x, "BYTES")])
    y = res.as_numpy("output-0")
    assert list(y) == list(x)
    assert _header(res)["outputs"][0]["datatype"] == "BYTES"


def test_triton_bytes_json_output_is_utf8_strings(triton):
    x = np.array([b"cat", "ünï".encode(), b""], dtype=np.object_)
    res = triton.infer("echo", [_in("s", x, "BYTES")], outputs=[_out("output-0", binary=False)])
    assert _header(res)["outputs"][0]["data"] == ["cat", "ünï", ""]


def test_triton_binary_input_json_output_has_no_binary_data_size(triton):
    x = np.array([1, 2, 3], dtype=np.int32)
    res = triton.infer("echo", [_in("i", x, "INT32")], outputs=[_out("output-0", binary=False)])
    out = _header(res)["outputs"][0]
    assert out["data"] == [1, 2, 3]
    assert "binary_data_size" not in (out.get("parameters") or {})


def test_triton_requested_outputs_only_those_in_request_order_each_with_own_format(triton):
    a = np.array([1, 2], dtype=np.int32)
    b = np.array([1.5, 2.5], dtype=np.float32)
    c = np.array([7, 8, 9], dtype=np.int64)
    res = triton.infer("echo", [_in("a", a, "INT32"), _in("b", b, "FP32", binary=False), _in("c", c, "INT64")],
                       outputs=[_out("output-2", binary=True), _out("output-0", binary=False)])
    outs = _header(res)["outputs"]
    assert [o["name"] for o in outs] == ["output-2", "output-0"]
    assert "data" not in outs[0] and outs[0]["parameters"]["binary_data_size"] == c.nbytes
    assert outs[1]["data"] == [1, 2]
    assert np.array_equal(res.as_numpy("output-2"), c)
    assert np.array_equal(res.as_numpy("output-0"), a)
    assert res.as_numpy("output-1") is None


def test_triton_request_id_and_parameters_round_trip(triton):
    x = np.array([1], dtype=np.int32)
    res = triton.infer("echo", [_in("i", x, "INT32")], request_id="tc-7", parameters={"custom": "v", "n": 2})
    h = _header(res)
    assert h["id"] == "tc-7"
    assert h["parameters"]["custom"] == "v" and h["parameters"]["n"] == 2


def test_triton_fp16_output_model(triton):
    x = np.array([[0.5, -1.0, 3.14159], [65504.0, 1e-4, 2.0]], dtype=np.float32)
    res = triton.infer("fp16-output", [_in("fp32_input", x, "FP32")])
    h16 = res.as_numpy("fp16_output")
    h32 = res.as_numpy("fp32_output")
    assert h16.dtype == np.float16 and h16.shape == (6,)
    assert np.array_equal(h16, x.astype(np.float16).reshape(-1))
    assert h32.dtype == np.float32 and h32.shape == (6,)
    assert np.array_equal(h32, x.reshape(-1))
    dtypes = {o["name"]: o["datatype"] for o in _header(res)["outputs"]}
    assert dtypes == {"fp16_output": "FP16", "fp32_output": "FP32"}


def test_triton_fp16_input_model(triton):
    h = np.array([[0.5, -1.0], [3.140625, 65504.0]], dtype=np.float16)
    s = np.array([[b"ab", b"\xff\x01"], [b"", "é".encode()]], dtype=np.object_)
    res = triton.infer("fp16-input", [_in("fp16_input", h, "FP16"), _in("str_input", s, "BYTES")])
    f32 = res.as_numpy("fp32_output")
    assert f32.dtype == np.float32 and f32.shape == (4,)
    assert np.array_equal(f32, h.astype(np.float32).reshape(-1))
    so = res.as_numpy("str_output")
    assert so.shape == (4,) and list(so) == list(s.reshape(-1))


def test_triton_fp16_output_requested_as_json_is_rejected(triton):
    from tritonclient.utils import InferenceServerException
    x = np.array([1.0], dtype=np.float32)
    with pytest.raises(InferenceServerException) as e:
        triton.infer("fp16-output", [_in("fp32_input", x, "FP32")], outputs=[_out("fp16_output", binary=False)])
    assert e.value.status() == "400", str(e.value)
    assert "FP16" in e.value.message()


# ------------------------------------------------------------------------------ big tensors

def test_4mb_fp32_binary_round_trip_is_exact(triton):
    rng = np.random.default_rng(42)
    x = rng.standard_normal((1024, 1024)).astype(np.float32)
    y = triton.infer("echo", [_in("big", x, "FP32")]).as_numpy("output-0")
    assert y.shape == x.shape and np.array_equal(y, x)


def test_4mb_fp32_json_round_trip_is_exact(api):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(1024 * 1024).astype(np.float32)
    body = {"inputs": [{"name": "big", "datatype": "FP32", "shape": [1024, 1024], "data": x.tolist()}]}
    r = api.infer("echo", body, timeout=120)
    out = expect_json(r)["outputs"][0]
    assert out["shape"] == [1024, 1024]
    y = np.array(out["data"], dtype=np.float32)
    assert np.array_equal(y, x)


# ------------------------------------------------------------------------------ output-format rules (raw)

def _two_inputs():
    header = {"inputs": [
        {"name": "a", "datatype": "INT32", "shape": [2], "parameters": {"binary_data_size": 8}},
        {"name": "b", "datatype": "FP32", "shape": [1], "data": [2.5]},
    ]}
    return header, [raw_of("INT32", [3, 4])]


def test_binary_data_output_true_makes_every_output_binary(api):
    header, bufs = _two_inputs()
    header["parameters"] = {"binary_data_output": True}
    r = post_binary(api, "echo", header, bufs)
    head, raws = split_infer_response(r)
    assert set(raws) == {"output-0", "output-1"}, describe(r)
    assert decode_raw("INT32", [2], raws["output-0"]).tolist() == [3, 4]
    assert decode_raw("FP32", [1], raws["output-1"]).tolist() == [2.5]


def test_without_binary_data_output_every_output_is_json(api):
    header, bufs = _two_inputs()
    r = post_binary(api, "echo", header, bufs)
    assert "Inference-Header-Content-Length" not in r.headers, describe(r)
    outs = expect_json(r)["outputs"]
    assert [o["data"] for o in outs] == [[3, 4], [2.5]]


def test_requested_output_without_binary_data_is_json_even_if_binary_data_output_is_true(api):
    header, bufs = _two_inputs()
    header["parameters"] = {"binary_data_output": True}
    header["outputs"] = [{"name": "output-1"}, {"name": "output-0", "parameters": {"binary_data": True}}]
    head, raws = split_infer_response(post_binary(api, "echo", header, bufs))
    assert [o["name"] for o in head["outputs"]] == ["output-1", "output-0"]
    assert head["outputs"][0]["data"] == [2.5]
    assert set(raws) == {"output-0"}
    assert decode_raw("INT32", [2], raws["output-0"]).tolist() == [3, 4]


def test_requested_output_binary_data_true_wins_over_binary_data_output_false(api):
    header, bufs = _two_inputs()
    header["parameters"] = {"binary_data_output": False}
    header["outputs"] = [{"name": "output-1", "parameters": {"binary_data": True}}]
    head, raws = split_infer_response(post_binary(api, "echo", header, bufs))
    assert [o["name"] for o in head["outputs"]] == ["output-1"]
    assert decode_raw("FP32", [1], raws["output-1"]).tolist() == [2.5]


def test_binary_data_output_works_on_a_json_request_body(api):
    body = {"parameters": {"binary_data_output": True},
            "inputs": [{"name": "a", "datatype": "INT64", "shape": [3], "data": [1, -2, 3]}]}
    head, raws = split_infer_response(api.infer("echo", body))
    assert head["outputs"][0]["parameters"]["binary_data_size"] == 24
    assert decode_raw("INT64", [3], raws["output-0"]).tolist() == [1, -2, 3]


def test_binary_response_header_length_matches_json_header(api):
    buf = serialize_bytes([b"cat", b"\x00\xffok"])
    header = {"id": "hdr", "inputs": [{"name": "s", "datatype": "BYTES", "shape": [2],
                                       "parameters": {"binary_data_size": len(buf)}}],
              "outputs": [{"name": "output-0", "parameters": {"binary_data": True}}]}
    r = post_binary(api, "echo", header, [buf])
    head, raws = split_infer_response(r)  # asserts header length + buffers == body length
    assert head["id"] == "hdr" and head["model_name"] == "echo"
    assert raws["output-0"] == serialize_bytes([b"cat", b"\x00\xffok"])
    json.loads(r.content[:int(r.headers["Inference-Header-Content-Length"])])
