"""Every error answers the right status with a JSON `{"error": ...}` body, and the workers keep serving.

After each test an autouse fixture checks that ordinary requests still succeed and that the set of
worker processes is the one the stack started with (no worker died on the bad request).
"""

import json
import socket

import pytest

from e2e_util import assert_serving, expect_error, post_binary, raw_of, serialize_bytes


@pytest.fixture(autouse=True)
def still_serving_afterwards(stack, api):
    yield
    assert_serving(api)
    assert stack.worker_pids() == stack.initial_workers, \
        f"worker set changed: {stack.initial_workers} -> {stack.worker_pids()}"
    assert stack.proc.poll() is None, "master died"


def _inp(name="a", datatype="INT32", shape=(2,), data=(1, 2), **extra):
    d = {"name": name, "datatype": datatype, "shape": list(shape)}
    if data is not None:
        d["data"] = list(data)
    d.update(extra)
    return d


# ------------------------------------------------------------------------------ routing

@pytest.mark.parametrize("path", ["/nope", "/v2/nope", "/v1/nothing/here", "/v3/models", "/v2/models/echo/bogus"])
def test_unknown_path_is_404_json(api, path):
    expect_error(api.get(path), 404)


@pytest.mark.parametrize("method,path", [
    ("GET", "/v2/models/echo/infer"),
    ("POST", "/v2/health/live"),
    ("POST", "/v2/health/ready"),
    ("POST", "/"),
    ("DELETE", "/v1/models/echo"),
    ("PUT", "/v2/models/echo"),
    ("GET", "/v2/repository/models/echo/load"),
    ("GET", "/v2/repository/models/echo/unload"),
])
def test_wrong_method_is_405_json(api, method, path):
    expect_error(api.request(method, path), 405)


@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/models/nope"),
    ("POST", "/v1/models/nope:predict"),
    ("POST", "/v1/models/nope:explain"),
    ("GET", "/v2/models/nope"),
    ("GET", "/v2/models/nope/ready"),
    ("POST", "/v2/models/nope/infer"),
])
def test_unknown_model_is_404_with_kserve_message(api, method, path):
    body = {"instances": [[1]]} if path.startswith("/v1") else {"inputs": [_inp()]}
    r = api.request(method, path, json=body if method == "POST" else None)
    expect_error(r, 404, equals="Model with name nope does not exist.")


@pytest.mark.parametrize("method,path", [
    ("POST", "/v1/models/broken:predict"),
    ("POST", "/v1/models/broken:explain"),
    ("POST", "/v2/models/broken/infer"),
    ("GET", "/v2/models/broken/ready"),
    ("GET", "/v1/models/broken"),
])
def test_model_that_failed_to_load_is_503_on_its_routes(api, method, path):
    body = {"instances": [[1]]} if path.startswith("/v1") else {"inputs": [_inp()]}
    r = api.request(method, path, json=body if method == "POST" else None)
    expect_error(r, 503, startswith="Model with name broken is not ready.")


def _raw_http(stack, data: bytes) -> tuple[int, dict, bytes]:
    """Send raw bytes to nginx and parse the answer (status, lower-case headers, body)."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    return status, headers, body


def _assert_raw_json_error(status, headers, body, expected_status):
    assert status == expected_status, (status, headers, body)
    assert headers.get("content-type", "").split(";")[0] == "application/json", (status, headers, body)
    parsed = json.loads(body)
    assert set(parsed) == {"error"} and isinstance(parsed["error"], str) and parsed["error"], body


def test_garbage_request_line_is_400_json_from_nginx(stack):
    _assert_raw_json_error(*_raw_http(stack, b"THIS IS NOT HTTP\r\n\r\n"), 400)


def test_uri_too_long_is_414_json_from_nginx(api):
    expect_error(api.get("/v2/models/" + "a" * 20000), 414)


def test_header_too_large_is_400_json_from_nginx(api):
    expect_error(api.get("/v2/health/ready", headers={"X-Big": "b" * 20000}), 400)


# ------------------------------------------------------------------------------ malformed bodies

@pytest.mark.parametrize("path", ["/v1/models/echo:predict", "/v2/models/echo/infer"])
@pytest.mark.parametrize("text", ['{"instances": [1, 2', "not json", "", '{"a":1}}', "\xff\xfe"])
def test_malformed_json_is_400(api, path, text):
    data = text.encode("latin-1")
    expect_error(api.post_json_text(path, data), 400)


def test_v1_instances_not_a_list_is_400(api):
    expect_error(api.predict("echo", {"instances": "x"}), 400)


def test_v1_body_without_instances_or_inputs_is_400(api):
    expect_error(api.predict("echo", {"foo": [1]}), 400)


@pytest.mark.parametrize("path", ["/v1/models/echo:predict", "/v2/models/echo/infer"])
def test_json_nested_100000_deep_is_400(api, path):
    depth = 100_000
    deep = "[" * depth + "]" * depth
    text = '{"instances": %s}' % deep if "v1" in path else \
        '{"inputs":[{"name":"a","datatype":"INT32","shape":[1],"data":%s}]}' % deep
    expect_error(api.post_json_text(path, text), 400)


def test_v2_missing_inputs_is_400(api):
    expect_error(api.infer("echo", {"id": "x"}), 400)


def test_v2_empty_inputs_is_400(api):
    expect_error(api.infer("echo", {"inputs": []}), 400)


def test_v2_fp16_as_json_is_400(api):
    expect_error(api.infer("echo", {"inputs": [_inp("h", "FP16", (2,), (1.0, 2.0))]}), 400, contains=["FP16"])


def test_v2_fp16_output_that_would_be_json_is_400(api):
    body = {"inputs": [_inp("fp32_input", "FP32", (2,), (1.0, 2.0))]}
    expect_error(api.infer("fp16-output", body), 400, contains=["FP16"])


def test_v2_unknown_datatype_is_400(api):
    expect_error(api.infer("echo", {"inputs": [_inp("a", "FP128", (1,), (1,))]}), 400)


def test_v2_missing_datatype_is_400(api):
    expect_error(api.infer("echo", {"inputs": [{"name": "a", "shape": [1], "data": [1]}]}), 400)


def test_v2_data_length_not_matching_shape_is_400_naming_the_input(api):
    body = {"inputs": [_inp("my-odd-input", "INT32", (3,), (1, 2))]}
    expect_error(api.infer("echo", body), 400, contains=["my-odd-input"])


def test_v2_nested_data_not_matching_shape_is_400_naming_the_input(api):
    body = {"inputs": [{"name": "ragged", "datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3]]}]}
    expect_error(api.infer("echo", body), 400, contains=["ragged"])


def test_v2_negative_dimension_is_400_naming_the_input(api):
    expect_error(api.infer("echo", {"inputs": [_inp("neg", "INT32", (-1,), (1,))]}), 400, contains=["neg"])


def test_v2_overflowing_dimensions_are_400_naming_the_input(api):
    body = {"inputs": [_inp("huge", "INT32", (2**62, 2**62), (1,))]}
    expect_error(api.infer("echo", body), 400, contains=["huge"])


def test_v2_duplicate_input_names_are_400(api):
    expect_error(api.infer("echo", {"inputs": [_inp("dup"), _inp("dup")]}), 400)


def test_v2_input_without_data_or_binary_data_size_is_400(api):
    expect_error(api.infer("echo", {"inputs": [_inp("nodata", data=None)]}), 400, contains=["nodata"])


def test_v2_value_of_wrong_type_for_datatype_is_400(api):
    expect_error(api.infer("echo", {"inputs": [_inp("s", "INT32", (2,), ("a", "b"))]}), 400)


@pytest.mark.parametrize("datatype,value", [("INT8", 300), ("UINT8", -1), ("UINT64", 2**64), ("INT64", 2**63)])
def test_v2_integer_out_of_range_for_datatype_is_400(api, datatype, value):
    expect_error(api.infer("echo", {"inputs": [_inp("r", datatype, (1,), (value,))]}), 400)


def test_v2_unknown_requested_output_is_400(api):
    body = {"inputs": [_inp()], "outputs": [{"name": "zzz"}]}
    expect_error(api.infer("echo", body), 400, contains=["zzz"])


def test_v2_non_utf8_bytes_as_json_output_is_an_error(api):
    header = {"inputs": [_inp("raw", "BYTES", (1,), None, parameters={"binary_data_size": 6})]}
    r = post_binary(api, "echo", header, [serialize_bytes([b"\xff\xfe"])])
    # KServe: InferenceError (500) "Failed to encode ... using UTF-8. Please use binary_data=True"
    assert r.status_code in (400, 500), r.text
    expect_error(r, r.status_code)


# ------------------------------------------------------------------------------ binary extension

def _binary_fp32_header(n=2, size=None, name="bin"):
    return {"inputs": [_inp(name, "FP32", (n,), None, parameters={"binary_data_size": 4 * n if size is None else size})]}


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", "0x10", "12abc", ""])
def test_v2_binary_header_length_not_a_length_is_400(api, value):
    r = post_binary(api, "echo", _binary_fp32_header(), [raw_of("FP32", [1, 2])], header_length=value)
    expect_error(r, 400)


def test_v2_binary_header_length_larger_than_body_is_400(api):
    r = post_binary(api, "echo", _binary_fp32_header(), [raw_of("FP32", [1, 2])], header_length=10_000)
    expect_error(r, 400)


def test_v2_binary_header_length_cutting_the_json_is_400(api):
    header = _binary_fp32_header()
    n = len(json.dumps(header))
    r = post_binary(api, "echo", header, [raw_of("FP32", [1, 2])], header_length=n - 5)
    expect_error(r, 400)


def test_v2_binary_data_size_not_matching_shape_is_400_naming_the_input(api):
    r = post_binary(api, "echo", _binary_fp32_header(2, size=4, name="short"), [raw_of("FP32", [1])])
    expect_error(r, 400, contains=["short"])


def test_v2_binary_data_size_past_end_of_body_is_400(api):
    r = post_binary(api, "echo", _binary_fp32_header(4, name="past"), [raw_of("FP32", [1, 2])])
    expect_error(r, 400)


def test_v2_bytes_length_prefix_past_buffer_is_400_naming_the_input(api):
    buf = (100).to_bytes(4, "little") + b"ab"
    header = {"inputs": [_inp("badbytes", "BYTES", (1,), None, parameters={"binary_data_size": len(buf)})]}
    expect_error(post_binary(api, "echo", header, [buf]), 400, contains=["badbytes"])


def test_v2_binary_fp16_with_json_data_is_400(api):
    header = {"inputs": [_inp("fp16_input", "FP16", (1,), (1.0,)),
                         _inp("str_input", "BYTES", (1,), None, parameters={"binary_data_size": 5})]}
    expect_error(post_binary(api, "fp16-input", header, [serialize_bytes([b"a"])]), 400, contains=["FP16"])
