"""gRPC end to end: the gRPC process (`KSERVE_ROLE=grpc`, started by the master with `[grpc] enable = true`) in
front of the same FastCGI workers as REST, driven by off-the-shelf clients: grpcio stubs of KServe's own proto
(kserve.protocol.grpc), kserve's InferenceGRPCClient, tritonclient.grpc, and a raw grpc.health.v1 client.

tritonclient.grpc and kserve register the same `inference.*` protobuf names, so one Python process cannot import
both (and test_clients.py imports kserve): the tritonclient checks run in a subprocess (grpc_tritonclient_checks.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

import e2e_util as u

# Importing kserve runs its argparse over sys.argv (see test_clients.py).
_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pbg
finally:
    sys.argv = _argv

MAX_MESSAGE = 8 << 20
GRPC_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1),
                ("grpc.enable_retries", 0)]

# datatype -> (typed contents field, numpy dtype, values covering the range)
DATATYPES = {
    "BOOL": ("bool_contents", np.bool_, [True, False, True]),
    "INT8": ("int_contents", np.int8, [-128, 0, 127]),
    "INT16": ("int_contents", np.int16, [-32768, 1, 32767]),
    "INT32": ("int_contents", np.int32, [-2**31, 5, 2**31 - 1]),
    "INT64": ("int64_contents", np.int64, [-2**63, 6, 2**63 - 1]),
    "UINT8": ("uint_contents", np.uint8, [0, 1, 255]),
    "UINT16": ("uint_contents", np.uint16, [0, 1, 65535]),
    "UINT32": ("uint_contents", np.uint32, [0, 1, 2**32 - 1]),
    "UINT64": ("uint64_contents", np.uint64, [0, 1, 2**64 - 1]),
    "FP32": ("fp32_contents", np.float32, [1.5, -0.1, 3.4e38]),
    "FP64": ("fp64_contents", np.float64, [0.1, -1e308, 5e-324]),
    "BYTES": ("bytes_contents", np.object_, [b"cat", b"", b"\xff\x00 not utf-8"]),
}


# --------------------------------------------------------------------------------------------
# stack with the gRPC process
# --------------------------------------------------------------------------------------------

def grpc_config(**grpc_overrides) -> dict:
    cfg = u.default_config()
    cfg["grpc"] = {"enable": True, "host": "127.0.0.1", "port": u.free_port(), "max_message_size": "8m",
                   **grpc_overrides}
    return cfg


def role_of(pid: int) -> str | None:
    try:
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except OSError:
        return None
    for e in env:
        if e.startswith(b"KSERVE_ROLE="):
            return e.split(b"=", 1)[1].decode()
    return None


def pids_with_role(stack: u.Stack, role: str) -> list[int]:
    return [p for p in u.descendants_of(stack.proc.pid) if role_of(p) == role]


def raw_stub_call(target: str, method: str, request: bytes = b"", timeout: float = 5) -> bytes:
    with grpc.insecure_channel(target, options=GRPC_OPTIONS) as ch:
        f = ch.unary_unary(f"/inference.GRPCInferenceService/{method}",
                           request_serializer=lambda b: b, response_deserializer=lambda b: b)
        return f(request, timeout=timeout)


def wait_grpc_ready(target: str, timeout: float = 30) -> None:
    """Until ServerReady answers ready over gRPC."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            reply = pb.ServerReadyResponse.FromString(raw_stub_call(target, "ServerReady", timeout=2))
            if reply.ready:
                return
            last = "ready: false"
        except grpc.RpcError as e:
            last = f"{e.code()} {e.details()}"
        time.sleep(0.1)
    raise RuntimeError(f"gRPC server at {target} not ready after {timeout}s (last: {last})")


class GRPCStack:
    """A u.Stack with `[grpc] enable = true`, whose master starts the gRPC process."""

    def __init__(self, stack: u.Stack):
        self.stack = stack
        self.port = stack.config["grpc"]["port"]
        self.target = f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "GRPCStack":
        self.stack.start(timeout=timeout)
        wait_grpc_ready(self.target, timeout)
        return self

    def grpc_pids(self) -> list[int]:
        return pids_with_role(self.stack, "grpc")

    def worker_pids(self) -> list[int]:
        return pids_with_role(self.stack, "worker")


@pytest.fixture(scope="module", params=[True, False], ids=["through-nginx", "grpc-process"])
def gstack(request, tmp_path_factory):
    """Every test on this stack runs both ways: nginx's HTTP/2 listener in front (ModelInfer straight to the
    workers, the rest to the gRPC process; the default), and the gRPC process serving the port itself."""
    s = GRPCStack(u.Stack(tmp_path_factory.mktemp("grpc"), grpc_config(through_nginx=request.param), name="grpc"))
    try:
        s.start()
    except Exception:
        s.stack.stop(timeout=5)
        raise
    yield s
    res = s.stack.stop(timeout=15)
    assert not res.problems(), "; ".join(res.problems()) + "\n" + s.stack.log_tail(80)


@pytest.fixture(scope="module")
def target(gstack) -> str:
    return gstack.target


@pytest.fixture(scope="module")
def stub(target):
    ch = grpc.insecure_channel(target, options=GRPC_OPTIONS)
    yield pbg.GRPCInferenceServiceStub(ch)
    ch.close()


def expect_rpc_error(fn, code: grpc.StatusCode, *, contains: str | None = None, equals: str | None = None):
    with pytest.raises(grpc.RpcError) as info:
        fn()
    e = info.value
    assert e.code() == code, f"expected {code}, got {e.code()}: {e.details()}"
    assert e.code() != grpc.StatusCode.UNKNOWN
    if contains is not None:
        assert contains in e.details(), f"{e.details()!r} does not mention {contains!r}"
    if equals is not None:
        assert e.details() == equals, f"{e.details()!r} != {equals!r}"
    return e


def typed_request(model: str, inputs: list[tuple[str, str, list[int], list]], **kw) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name=model, **kw)
    for name, datatype, shape, values in inputs:
        t = req.inputs.add(name=name, datatype=datatype, shape=shape)
        getattr(t.contents, DATATYPES[datatype][0]).extend(values)
    return req


def raw_request(model: str, inputs: list[tuple[str, str, list[int], bytes]], **kw) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name=model, **kw)
    for name, datatype, shape, raw in inputs:
        req.inputs.add(name=name, datatype=datatype, shape=shape)
        req.raw_input_contents.append(raw)
    return req


def raw_bytes(datatype: str, values) -> bytes:
    if datatype == "BYTES":
        return u.serialize_bytes(values)
    dtype = np.float16 if datatype == "FP16" else DATATYPES[datatype][1]
    return np.asarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def decode_raw(datatype: str, raw: bytes) -> list:
    if datatype == "BYTES":
        return u.deserialize_bytes(raw)
    dtype = np.float16 if datatype == "FP16" else DATATYPES[datatype][1]
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).tolist()


def varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def proto_string(field: int, s: str) -> bytes:
    b = s.encode()
    return bytes([field << 3 | 2]) + varint(len(b)) + b


# --------------------------------------------------------------------------------------------
# the eight RPCs
# --------------------------------------------------------------------------------------------

def test_server_live_ready_metadata(stub):
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    md = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert md.name == "kserve"
    assert md.version
    assert "model_repository_extension" in md.extensions


def test_model_ready_and_metadata(stub):
    assert stub.ModelReady(pb.ModelReadyRequest(name="echo")).ready
    assert not stub.ModelReady(pb.ModelReadyRequest(name="broken")).ready
    md = stub.ModelMetadata(pb.ModelMetadataRequest(name="echo"))
    assert (md.name, list(md.versions), md.platform) == ("echo", ["1"], "")
    assert [(i.name, i.datatype, list(i.shape)) for i in md.inputs] == [("input-0", "FP32", [-1, 2])]
    md = stub.ModelMetadata(pb.ModelMetadataRequest(name="fp16-output"))
    assert [(o.name, o.datatype, list(o.shape)) for o in md.outputs] == [("fp16_output", "FP16", [-1]),
                                                                           ("fp32_output", "FP32", [-1])]


def test_missing_model_is_not_found(stub):
    expect_rpc_error(lambda: stub.ModelReady(pb.ModelReadyRequest(name="nope")), grpc.StatusCode.NOT_FOUND,
                     equals="Model with name nope does not exist.")
    expect_rpc_error(lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="nope")), grpc.StatusCode.NOT_FOUND,
                     equals="Model with name nope does not exist.")
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("nope", [("x", "INT32", [1], [1])])),
                     grpc.StatusCode.NOT_FOUND, equals="Model with name nope does not exist.")


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_raw_inputs_every_datatype(stub, datatype):
    values = DATATYPES[datatype][2]
    res = stub.ModelInfer(raw_request("echo", [("x", datatype, [3], raw_bytes(datatype, values))], id=f"raw-{datatype}"))
    assert len(res.raw_output_contents) == 1, "raw inputs -> raw outputs"
    out = res.outputs[0]
    assert (out.name, out.datatype, list(out.shape)) == ("output-0", datatype, [3])
    assert not out.HasField("contents")
    assert out.parameters["binary_data_size"].int64_param == len(res.raw_output_contents[0])
    expected = values if datatype == "BYTES" else np.array(values, DATATYPES[datatype][1]).tolist()
    assert decode_raw(datatype, res.raw_output_contents[0]) == expected
    assert res.id == f"raw-{datatype}"


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_typed_contents_every_datatype(stub, datatype):
    field, dtype, values = DATATYPES[datatype]
    res = stub.ModelInfer(typed_request("echo", [("x", datatype, [3], values)], id="typed"))
    assert len(res.raw_output_contents) == 0, "typed inputs -> typed outputs"
    out = res.outputs[0]
    assert (out.name, out.datatype, list(out.shape)) == ("output-0", datatype, [3])
    got = list(getattr(out.contents, field))
    if datatype == "FP32":
        assert np.array_equal(np.array(got, np.float32), np.array(values, np.float32))
    else:
        assert got == values
    assert (res.id, res.model_name) == ("typed", "echo")


def test_bytes_tensor_2d(stub):
    items = [b"a", b"bc", b"\x00\xff", "é".encode()]
    raw = stub.ModelInfer(raw_request("echo", [("s", "BYTES", [2, 2], u.serialize_bytes(items))]))
    assert list(raw.outputs[0].shape) == [2, 2]
    assert u.deserialize_bytes(raw.raw_output_contents[0]) == items
    typed = stub.ModelInfer(typed_request("echo", [("s", "BYTES", [2, 2], items)]))
    assert list(typed.outputs[0].contents.bytes_contents) == items


def test_fp16_raw(stub):
    half = [1.5, -2.25, 65504.0]
    res = stub.ModelInfer(raw_request("fp16-input", [("fp16_input", "FP16", [3], raw_bytes("FP16", half)),
                                                     ("str_input", "BYTES", [2], u.serialize_bytes([b"x", b"yz"]))]))
    outs = {o.name: i for i, o in enumerate(res.outputs)}
    assert decode_raw("FP32", res.raw_output_contents[outs["fp32_output"]]) == half
    assert u.deserialize_bytes(res.raw_output_contents[outs["str_output"]]) == [b"x", b"yz"]
    # Typed FP32 in: an FP16 output forces every output raw.
    typed = stub.ModelInfer(typed_request("fp16-output", [("fp32_input", "FP32", [2], [0.5, 3.0])]))
    assert len(typed.raw_output_contents) == 2
    assert decode_raw("FP16", typed.raw_output_contents[0]) == [0.5, 3.0]
    assert decode_raw("FP32", typed.raw_output_contents[1]) == [0.5, 3.0]
    assert typed.outputs[0].parameters["binary_data_size"].int64_param == 4


def test_fp16_typed_is_rejected(stub):
    req = pb.ModelInferRequest(model_name="echo")
    t = req.inputs.add(name="h", datatype="FP16", shape=[1])
    t.contents.fp32_contents.append(1.0)
    expect_rpc_error(lambda: stub.ModelInfer(req), grpc.StatusCode.INVALID_ARGUMENT, contains="raw_input_contents")


def test_parameters_round_trip(stub):
    req = typed_request("echo", [("x", "INT32", [1], [4])], id="params")
    req.parameters["b"].bool_param = True
    req.parameters["i"].int64_param = -7
    req.parameters["s"].string_param = "text"
    req.inputs[0].parameters["k"].string_param = "v"
    req.inputs[0].parameters["n"].int64_param = 3
    res = stub.ModelInfer(req)
    assert res.parameters["b"].bool_param is True
    assert res.parameters["i"].int64_param == -7
    assert res.parameters["s"].string_param == "text"
    assert res.outputs[0].parameters["k"].string_param == "v"
    assert res.outputs[0].parameters["n"].int64_param == 3
    assert set(res.parameters) == {"b", "i", "s"}


def test_request_id_and_metadata_reach_the_model(gstack, stub):
    res = stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [1])], id="grpc-id-1"),
                          metadata=[("x-request-id", "grpc-trace-42")])
    assert res.id == "grpc-id-1"
    generated = stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [1])])).id
    assert len(generated) == 36, "a request without an id gets a generated one"
    # The x-request-id metadata reached the model as a header: KServe's latency line names it.
    deadline = time.monotonic() + 5
    while "requestId: grpc-trace-42" not in gstack.stack.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "requestId: grpc-trace-42" in gstack.stack.log_text()


def test_requested_outputs(stub):
    req = raw_request("echo", [("a", "INT32", [2], raw_bytes("INT32", [1, 2])), ("b", "FP64", [1], raw_bytes("FP64", [0.5]))])
    req.outputs.add(name="output-1")
    res = stub.ModelInfer(req)
    assert [o.name for o in res.outputs] == ["output-1"]
    assert decode_raw("FP64", res.raw_output_contents[0]) == [0.5]
    req = typed_request("echo", [("a", "INT32", [1], [1]), ("b", "INT32", [1], [2])])
    req.outputs.add(name="output-1")
    req.outputs.add(name="output-0")
    assert [o.name for o in stub.ModelInfer(req).outputs] == ["output-1", "output-0"]
    bad = typed_request("echo", [("a", "INT32", [1], [1])])
    bad.outputs.add(name="zzz")
    expect_rpc_error(lambda: stub.ModelInfer(bad), grpc.StatusCode.INVALID_ARGUMENT,
                     equals="Unexpected inference output 'zzz' for model 'echo'")


def test_repository_load_unload(stub, target, gstack):
    api = u.Api(gstack.stack.base_url)
    r = stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="sleep"))
    assert (r.model_name, r.isUnloaded) == ("sleep", True)
    expect_rpc_error(lambda: stub.ModelReady(pb.ModelReadyRequest(name="sleep")), grpc.StatusCode.NOT_FOUND)
    for _ in range(4):  # every worker agrees
        assert api.get("/v2/models/sleep/ready").status_code == 404
    r = stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="sleep"))
    assert (r.model_name, r.isLoaded) == ("sleep", True)
    assert stub.ModelReady(pb.ModelReadyRequest(name="sleep")).ready
    for _ in range(4):
        assert api.get("/v2/models/sleep/ready").status_code == 200
    # Triton's layout (repository_name = 1, model_name = 2), as tritonclient's load_model / unload_model send it.
    triton = proto_string(1, "") + proto_string(2, "sleep")
    r = pb.RepositoryModelUnloadResponse.FromString(raw_stub_call(target, "RepositoryModelUnload", triton))
    assert (r.model_name, r.isUnloaded) == ("sleep", True)
    r = pb.RepositoryModelLoadResponse.FromString(raw_stub_call(target, "RepositoryModelLoad", triton))
    assert (r.model_name, r.isLoaded) == ("sleep", True)
    assert stub.ModelReady(pb.ModelReadyRequest(name="sleep")).ready


# --------------------------------------------------------------------------------------------
# errors: every code, never UNKNOWN
# --------------------------------------------------------------------------------------------

def test_error_codes(stub, target):
    S = grpc.StatusCode
    one = [("x", "INT32", [1], [1])]
    # NOT_FOUND
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("echo", one, model_version="7")), S.NOT_FOUND,
                     contains="version 7")
    expect_rpc_error(lambda: stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="nope")),
                     S.NOT_FOUND)
    expect_rpc_error(lambda: stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="nope")),
                     S.NOT_FOUND)
    # UNAVAILABLE: a model that failed to load
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("broken", one)), S.UNAVAILABLE,
                     contains="Model with name broken is not ready.")
    expect_rpc_error(lambda: stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="broken")),
                     S.UNAVAILABLE, contains="broken")
    # INVALID_ARGUMENT: KServe's raw-contents rules, shapes, datatypes, and the model's own InvalidInput
    mismatch = raw_request("echo", [("a", "INT32", [1], struct.pack("<i", 1))])
    mismatch.inputs.add(name="b", datatype="INT32", shape=[1])
    expect_rpc_error(lambda: stub.ModelInfer(mismatch), S.INVALID_ARGUMENT,
                     equals="the number of inputs (2) does not match the expected number of raw input contents (1) "
                            "for model 'echo'.")
    mixed = typed_request("echo", one)
    mixed.raw_input_contents.append(struct.pack("<i", 1))
    expect_rpc_error(lambda: stub.ModelInfer(mixed), S.INVALID_ARGUMENT,
                     equals="contents field must not be specified when using raw_input_contents for input 'x' "
                            "for model 'echo'")
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("echo", [("x", "INT32", [2, 2], [1, 2, 3])])),
                     S.INVALID_ARGUMENT, contains="shape needs 4")
    expect_rpc_error(lambda: stub.ModelInfer(raw_request("echo", [("x", "FP32", [3], b"\0" * 8)])),
                     S.INVALID_ARGUMENT, contains="'x'")
    expect_rpc_error(lambda: stub.ModelInfer(raw_request("echo", [("s", "BYTES", [1], b"\x09\0\0\0abc")])),
                     S.INVALID_ARGUMENT, contains="past the end")
    unknown_type = pb.ModelInferRequest(model_name="echo")
    unknown_type.inputs.add(name="x", datatype="FLOAT", shape=[1])
    expect_rpc_error(lambda: stub.ModelInfer(unknown_type), S.INVALID_ARGUMENT, contains="FLOAT")
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("fp16-output", one)), S.INVALID_ARGUMENT,
                     contains="fp32_input")
    expect_rpc_error(lambda: raw_stub_call(target, "ModelInfer", b"\xff\xff\xff"), S.INVALID_ARGUMENT,
                     contains="ModelInferRequest")
    # UNIMPLEMENTED: Triton-only RPCs
    expect_rpc_error(lambda: raw_stub_call(target, "ModelConfig", proto_string(1, "echo")), S.UNIMPLEMENTED)
    # RESOURCE_EXHAUSTED: over [grpc] max_message_size
    big = raw_request("echo", [("x", "UINT8", [MAX_MESSAGE + 1], b"\0" * (MAX_MESSAGE + 1))])
    expect_rpc_error(lambda: stub.ModelInfer(big), S.RESOURCE_EXHAUSTED, contains="max_message_size")
    # ... both ways: 6 MB of FP32 in, 9 MB (FP16 + FP32 copies) out
    n = 1_500_000
    grows = raw_request("fp16-output", [("fp32_input", "FP32", [n], b"\0" * (4 * n))])
    expect_rpc_error(lambda: stub.ModelInfer(grows), S.RESOURCE_EXHAUSTED, contains="response message")
    # DEADLINE_EXCEEDED: the client's deadline passes while the model works
    slow = typed_request("sleep", one)
    slow.parameters["delay_ms"].int64_param = 2000
    expect_rpc_error(lambda: stub.ModelInfer(slow, timeout=0.3), S.DEADLINE_EXCEEDED)
    # and the server is fine afterwards
    assert stub.ModelInfer(typed_request("echo", one)).outputs[0].contents.int_contents == [1]


def test_compressed_request_is_unimplemented_and_names_identity(target):
    """A gzip-compressed call is refused cleanly (this server offers identity only), and the channel keeps working."""
    ch = grpc.insecure_channel(target, options=GRPC_OPTIONS)
    stub = pbg.GRPCInferenceServiceStub(ch)
    try:
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [1])]), compression=grpc.Compression.Gzip,
                            timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED, info.value
        assert "identity" in info.value.details()
        res = stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [4])]), timeout=10)
        assert res.outputs[0].contents.int_contents == [4]
    finally:
        ch.close()


# --------------------------------------------------------------------------------------------
# size, concurrency, clients
# --------------------------------------------------------------------------------------------

def test_4mb_fp32_tensor(stub):
    arr = np.random.default_rng(7).standard_normal(1 << 20).astype(np.float32)  # 4 MiB
    res = stub.ModelInfer(raw_request("echo", [("x", "FP32", [1 << 20], arr.tobytes())]))
    assert np.array_equal(np.frombuffer(res.raw_output_contents[0], "<f4"), arr)
    typed = stub.ModelInfer(typed_request("echo", [("x", "FP32", [1 << 20], arr.tolist())]))
    assert np.array_equal(np.array(typed.outputs[0].contents.fp32_contents, np.float32), arr)


def test_calls_cancelled_while_large_answers_are_written(gstack, stub):
    """Large answers go from the worker straight to the connection (64 KB records, not libfcgi's 8 KB buffer).
    Calls cancelled while their 6 MB answers are on the way close the worker's connection under that write: the
    worker gives the answer up and serves on, no worker is replaced, and the next large answer is exact."""
    workers = sorted(gstack.worker_pids())
    n = 3 << 19  # 6 MiB of FP32, under the stack's 8 MiB message limit
    arr = np.random.default_rng(11).standard_normal(n).astype(np.float32)
    request = raw_request("echo", [("x", "FP32", [n], arr.tobytes())])
    ch = grpc.insecure_channel(gstack.target, options=GRPC_OPTIONS)
    try:
        quick = pbg.GRPCInferenceServiceStub(ch)
        for delay in (0.002, 0.005, 0.01, 0.02, 0.04):
            f = quick.ModelInfer.future(request, timeout=60)
            time.sleep(delay)
            f.cancel()
    finally:
        ch.close()
    for _ in range(3):
        res = stub.ModelInfer(request, timeout=60)
        assert np.array_equal(np.frombuffer(res.raw_output_contents[0], "<f4"), arr)
    assert sorted(gstack.worker_pids()) == workers, "a worker was replaced"


def test_64_concurrent_calls(target):
    ch = grpc.insecure_channel(target, options=GRPC_OPTIONS)
    stub = pbg.GRPCInferenceServiceStub(ch)
    try:
        futures = []
        for k in range(64):
            model = "sleep" if k % 2 else "echo"
            futures.append(stub.ModelInfer.future(
                raw_request(model, [("x", "INT64", [2], raw_bytes("INT64", [k, 2 * k]))], id=f"c{k}"), timeout=60))
        for k, f in enumerate(futures):
            res = f.result()
            assert res.id == f"c{k}"
            assert decode_raw("INT64", res.raw_output_contents[0]) == [k, 2 * k]
    finally:
        ch.close()


def test_kserve_inference_grpc_client(target):
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    async def run():
        c = InferenceGRPCClient(url=target, timeout=30, retries=0)
        try:
            assert await c.is_server_ready()
            assert await c.is_server_live()
            assert await c.is_model_ready("echo")
            i = InferInput(name="input-0", shape=[2, 2], datatype="FP32")
            i.set_data_from_numpy(np.array([[1, 2], [3, 4]], dtype=np.float32))
            res = await c.infer(InferRequest(model_name="echo", infer_inputs=[i], request_id="kserve-1",
                                             parameters={"p": "q"}),
                                headers=[("x-request-id", "kserve-hdr")])
            assert res.id == "kserve-1"
            assert res.outputs[0].as_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
            b = InferInput(name="s", shape=[2], datatype="BYTES")
            b.set_data_from_numpy(np.array([b"ab", b"c"], dtype=np.object_))
            res = await c.infer(InferRequest(model_name="echo", infer_inputs=[b]))
            assert res.outputs[0].as_numpy().tolist() == [b"ab", b"c"]
        finally:
            await c.close()

    asyncio.run(run())


# --------------------------------------------------------------------------------------------
# tritonclient.grpc (in a subprocess: its protos clash with kserve's in one interpreter)
# --------------------------------------------------------------------------------------------

TRITON_CHECKS = ["server", "models", "infer_datatypes", "bytes_and_fp16", "parameters_and_ids",
                 "requested_outputs", "errors", "repository", "large_and_concurrent"]


@pytest.mark.parametrize("check", TRITON_CHECKS)
def test_tritonclient_grpc(target, check):
    script = Path(__file__).with_name("grpc_tritonclient_checks.py")
    r = subprocess.run([sys.executable, str(script), target, check], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"tritonclient check {check!r} failed:\n{r.stdout}\n{r.stderr}"
    assert f"ok {check}" in r.stdout


# --------------------------------------------------------------------------------------------
# health
# --------------------------------------------------------------------------------------------

def _health_request(service: str) -> bytes:
    return proto_string(1, service) if service else b""


def _health_status(data: bytes) -> int:
    return data[1] if data[:1] == b"\x08" else 0  # UNKNOWN when the field is absent


SERVING, NOT_SERVING, SERVICE_UNKNOWN = 1, 2, 3


def health_check(target: str, service: str = "", timeout: float = 5) -> int:
    with grpc.insecure_channel(target) as ch:
        f = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=_health_request,
                           response_deserializer=_health_status)
        return f(service, timeout=timeout)


def health_watch(target: str, service: str = ""):
    ch = grpc.insecure_channel(target)
    f = ch.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=_health_request,
                        response_deserializer=_health_status)
    return ch, f(service, timeout=60)


def test_health_check_and_watch(target):
    assert health_check(target) == SERVING
    assert health_check(target, "inference.GRPCInferenceService") == SERVING
    with pytest.raises(grpc.RpcError) as info:
        health_check(target, "no.such.Service")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    ch, stream = health_watch(target)
    try:
        assert next(stream) == SERVING
    finally:
        stream.cancel()
        ch.close()
    ch, stream = health_watch(target, "no.such.Service")
    try:
        assert next(stream) == SERVICE_UNKNOWN
    finally:
        stream.cancel()
        ch.close()


# --------------------------------------------------------------------------------------------
# failures: a worker killed mid-call, graceful drain, the master's stop
# --------------------------------------------------------------------------------------------

def test_worker_killed_during_a_call(gstack, stub):
    slow = typed_request("sleep", [("x", "INT32", [1], [1])])
    slow.parameters["delay_ms"].int64_param = 5000
    outcome: dict = {}

    def call():
        try:
            stub.ModelInfer(slow, timeout=30)
            outcome["ok"] = True
        except grpc.RpcError as e:
            outcome["error"] = e

    t = threading.Thread(target=call)
    t.start()
    time.sleep(1.0)
    workers = gstack.worker_pids()
    assert workers, "no worker processes found"
    for p in workers:  # the call is on one of them; kill them all to be sure
        os.kill(p, signal.SIGKILL)
    t.join(30)
    assert not t.is_alive(), "the call hung after its worker died"
    e = outcome.get("error")
    assert e is not None, "the call succeeded although its worker was killed"
    assert e.code() == grpc.StatusCode.UNAVAILABLE, f"{e.code()}: {e.details()}"
    assert "worker" in e.details()
    # The master respawns the workers; the next call succeeds.
    wait_grpc_ready(gstack.target, 60)
    deadline = time.monotonic() + 30
    while True:
        try:
            assert stub.ModelReady(pb.ModelReadyRequest(name="echo")).ready
            break
        except (grpc.RpcError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    res = stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [9])]))
    assert res.outputs[0].contents.int_contents == [9]


def sigterm_grpc_process_during_a_call(make_stack, cfg: dict, name: str, *, delay_ms: int, settle: float):
    """Starts a stack, a `sleep` ModelInfer of `delay_ms` (answering [3]) and a health Watch (SERVING), then after
    `settle` seconds sends the gRPC process SIGTERM and checks the Watch turns NOT_SERVING.
    Returns (stack, [gRPC pid], channel, stub, the call's future, the Watch's channel and stream)."""
    s = GRPCStack(make_stack(cfg, start=False, name=name))
    s.start()
    pids = s.grpc_pids()
    assert len(pids) == 1, f"expected one gRPC process, found {pids}"
    ch = grpc.insecure_channel(s.target, options=GRPC_OPTIONS)
    stub = pbg.GRPCInferenceServiceStub(ch)
    slow = typed_request("sleep", [("x", "INT32", [1], [3])])
    slow.parameters["delay_ms"].int64_param = delay_ms
    future = stub.ModelInfer.future(slow, timeout=30)
    wch, watch = health_watch(s.target)
    assert next(watch) == SERVING
    time.sleep(settle)
    os.kill(pids[0], signal.SIGTERM)
    assert next(watch) == NOT_SERVING
    return s, pids, ch, stub, future, (wch, watch)


def wait_exited(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while u.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not u.pid_alive(pid), "the gRPC process did not exit after draining"


def test_graceful_drain(make_stack):
    """SIGTERM to the gRPC process serving the port itself: in-flight calls finish, health says NOT_SERVING, new
    calls are UNAVAILABLE."""
    s, pids, ch, stub, future, (wch, _watch) = sigterm_grpc_process_during_a_call(
        make_stack, grpc_config(through_nginx=False), "drain", delay_ms=2000, settle=0.5)
    time.sleep(0.3)
    with pytest.raises(grpc.RpcError) as info:
        raw_stub_call(s.target, "ServerLive", timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    res = future.result(timeout=30)  # the in-flight call finished
    assert res.outputs[0].contents.int_contents == [3]
    wait_exited(pids[0])
    deadline = time.monotonic() + 5  # the master logs the exit status once it has reaped the process
    while not re.search(r"gRPC server exited.*exit status 0", s.stack.log_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert re.search(r"gRPC server exited.*exit status 0", s.stack.log_text()), "the gRPC process must exit 0 after a drain"
    wch.close()
    ch.close()


def test_grpc_process_restart_behind_nginx_spares_model_infer(make_stack):
    """Behind nginx, SIGTERM to the gRPC process drains what it serves (health turns NOT_SERVING and the Watch
    ends), it exits 0 and the master starts it again, while a ModelInfer in flight through nginx finishes and new
    ones keep being answered by the workers."""
    s, pids, ch, stub, future, (wch, _watch) = sigterm_grpc_process_during_a_call(
        make_stack, grpc_config(), "drainfront", delay_ms=1500, settle=0.3)
    for k in range(5):  # ModelInfer does not go through the gRPC process
        assert stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [k])]), timeout=10) \
            .outputs[0].contents.int_contents == [k]
    assert future.result(timeout=30).outputs[0].contents.int_contents == [3]
    wait_exited(pids[0])
    wait_grpc_ready(s.target, 30)  # the master started it again: health and metadata answer
    assert health_check(s.target) == SERVING
    assert s.grpc_pids() and s.grpc_pids() != pids
    wch.close()
    ch.close()


def test_request_timeout_and_nginx_errors_are_grpc_statuses(make_stack):
    """Behind nginx, nginx's own answers are gRPC statuses with messages, never bare HTTP errors: [server]
    request_timeout passing is DEADLINE_EXCEEDED (and the worker is replaced), a message over the receive limit
    is RESOURCE_EXHAUSTED naming the key; and ModelInfer goes on while the gRPC process is stopped."""
    cfg = grpc_config(max_message_size="1m")
    cfg["server"]["request_timeout"] = 1
    s = GRPCStack(make_stack(cfg, start=False, name="nginxerrors"))
    s.start()
    ch = grpc.insecure_channel(s.target, options=GRPC_OPTIONS)
    stub = pbg.GRPCInferenceServiceStub(ch)
    try:
        slow = typed_request("sleep", [("x", "INT32", [1], [1])])
        slow.parameters["delay_ms"].int64_param = 4000
        start = time.monotonic()
        expect_rpc_error(lambda: stub.ModelInfer(slow, timeout=30), grpc.StatusCode.DEADLINE_EXCEEDED,
                         contains="request_timeout")
        assert time.monotonic() - start < 3.5
        big = raw_request("echo", [("x", "UINT8", [2 << 20], b"\0" * (2 << 20))])
        expect_rpc_error(lambda: stub.ModelInfer(big, timeout=30), grpc.StatusCode.RESOURCE_EXHAUSTED,
                         contains="max_receive_message_length")
        for p in s.grpc_pids():
            os.kill(p, signal.SIGSTOP)  # the gRPC process stops answering: nginx cannot reach it in time
        try:
            assert stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [6])]), timeout=10) \
                .outputs[0].contents.int_contents == [6]
        finally:
            for p in s.grpc_pids():
                os.kill(p, signal.SIGCONT)
        assert stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live
    finally:
        ch.close()


def test_master_stop_waits_for_grpc_calls(make_stack):
    """Stopping the whole server lets an in-flight gRPC call finish, and everything exits cleanly."""
    s = GRPCStack(make_stack(grpc_config(), start=False, name="stopgrpc"))
    s.start()
    ch = grpc.insecure_channel(s.target, options=GRPC_OPTIONS)
    stub = pbg.GRPCInferenceServiceStub(ch)
    slow = typed_request("sleep", [("x", "INT32", [1], [5])])
    slow.parameters["delay_ms"].int64_param = 1500
    future = stub.ModelInfer.future(slow, timeout=30)
    time.sleep(0.4)
    res = s.stack.stop(timeout=20)
    assert future.result(timeout=30).outputs[0].contents.int_contents == [5]
    assert not res.problems(), "; ".join(res.problems()) + "\n" + s.stack.log_tail(60)
    ch.close()


@pytest.mark.parametrize("through_nginx", [True, False], ids=["through-nginx", "grpc-process"])
def test_overload_is_unavailable_not_a_hang(make_stack, through_nginx):
    """All call slots busy past [grpc] queue_timeout: UNAVAILABLE with a clear message, the busy call still succeeds.
    (Behind nginx, an explicit limit sends ModelInfer to the gRPC process, whose limiter keeps it.)"""
    cfg = grpc_config(max_concurrent_calls=1, queue_timeout=0.5, through_nginx=through_nginx)
    cfg["server"]["workers"] = 1
    s = GRPCStack(make_stack(cfg, start=False, name="overload"))
    try:
        s.start()
    except RuntimeError as e:
        if "max_concurrent_calls" in str(e) or "queue_timeout" in str(e):
            s.stack.stop(timeout=5)
            pytest.skip("[grpc] max_concurrent_calls / queue_timeout are not config keys yet")
        raise
    ch = grpc.insecure_channel(s.target, options=GRPC_OPTIONS)
    stub = pbg.GRPCInferenceServiceStub(ch)
    slow = typed_request("sleep", [("x", "INT32", [1], [1])])
    slow.parameters["delay_ms"].int64_param = 3000
    busy = stub.ModelInfer.future(slow, timeout=30)
    time.sleep(0.3)
    start = time.monotonic()
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [2])]), timeout=20),
                     grpc.StatusCode.UNAVAILABLE, contains="retry later")
    assert time.monotonic() - start < 5, "the refused call waited far longer than queue_timeout"
    assert busy.result(timeout=30).outputs[0].contents.int_contents == [1]
    assert stub.ModelInfer(typed_request("echo", [("x", "INT32", [1], [3])])).outputs[0].contents.int_contents == [3]
    ch.close()
