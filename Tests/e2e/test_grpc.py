"""gRPC end to end: the gRPC process (`KSERVE_ROLE=grpc`, started by the master with `[grpc] enable = true`) in
front of the same FastCGI workers as REST, driven by off-the-shelf clients: tritonclient.grpc, kserve's
InferenceGRPCClient, grpcio stubs of KServe's proto (typed contents), and a raw grpc.health.v1 client.

Set KSERVE_E2E_START_GRPC=1 to start the gRPC role by hand next to the stack (for a master that does not start
it itself yet).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import struct
import subprocess
import threading
import time

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tg
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pbg
from tritonclient.utils import InferenceServerException

import e2e_util as u

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
    """A u.Stack with `[grpc] enable = true`, plus (optionally) the gRPC role started by hand."""

    def __init__(self, stack: u.Stack):
        self.stack = stack
        self.port = stack.config["grpc"]["port"]
        self.target = f"127.0.0.1:{self.port}"
        self.manual: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "GRPCStack":
        self.stack.start(timeout=timeout)
        if os.environ.get("KSERVE_E2E_START_GRPC") == "1":
            self.manual = subprocess.Popen(
                [str(u.kserve_bin()), "-c", str(self.stack.config_path)], cwd=self.stack.cwd,
                stdin=subprocess.DEVNULL, stdout=self.stack._logf, stderr=subprocess.STDOUT,
                env={**os.environ, "KSERVE_ROLE": "grpc"})
        wait_grpc_ready(self.target, timeout)
        return self

    def grpc_pids(self) -> list[int]:
        if self.manual is not None:
            return [self.manual.pid] if self.manual.poll() is None else []
        return pids_with_role(self.stack, "grpc")

    def worker_pids(self) -> list[int]:
        return pids_with_role(self.stack, "worker")

    def stop_manual(self) -> None:
        if self.manual is not None and self.manual.poll() is None:
            self.manual.send_signal(signal.SIGTERM)
            self.manual.wait(15)


@pytest.fixture(scope="module")
def gstack(tmp_path_factory):
    s = GRPCStack(u.Stack(tmp_path_factory.mktemp("grpc"), grpc_config(), name="grpc"))
    try:
        s.start()
    except Exception:
        s.stop_manual()
        s.stack.stop(timeout=5)
        raise
    yield s
    s.stop_manual()
    res = s.stack.stop(timeout=15)
    assert not res.problems(), "; ".join(res.problems()) + "\n" + s.stack.log_tail(80)


@pytest.fixture(scope="module")
def target(gstack) -> str:
    return gstack.target


@pytest.fixture(scope="module")
def client(target):
    c = tg.InferenceServerClient(url=target)
    yield c
    c.close()


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


def expect_triton_error(fn, status: str, contains: str | None = None) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as info:
        fn()
    e = info.value
    assert e.status() == status, f"expected {status}, got {e.status()}: {e.message()}"
    if contains is not None:
        assert contains in e.message(), f"{e.message()!r} does not mention {contains!r}"
    return e


def typed_request(model: str, inputs: list[tuple[str, str, list[int], list]], **kw) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name=model, **kw)
    for name, datatype, shape, values in inputs:
        t = req.inputs.add(name=name, datatype=datatype, shape=shape)
        getattr(t.contents, DATATYPES[datatype][0]).extend(values)
    return req


def raw_input(name: str, datatype: str, values) -> tg.InferInput:
    arr = np.array(values, dtype=DATATYPES[datatype][1] if datatype != "FP16" else np.float16)
    i = tg.InferInput(name, list(arr.shape), datatype)
    i.set_data_from_numpy(arr)
    return i


# --------------------------------------------------------------------------------------------
# the eight RPCs
# --------------------------------------------------------------------------------------------

def test_server_live_ready_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    md = client.get_server_metadata(as_json=True)
    assert md["name"] == "kserve"
    assert md["version"]
    assert "model_repository_extension" in md["extensions"]


def test_model_ready_and_metadata(client, stub):
    assert client.is_model_ready("echo")
    assert not client.is_model_ready("broken")
    md = client.get_model_metadata("echo", as_json=True)
    assert md["name"] == "echo"
    assert md["versions"] == ["1"]
    assert md["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": ["-1", "2"]}]
    md = stub.ModelMetadata(pb.ModelMetadataRequest(name="fp16-output"))
    assert [(o.name, o.datatype, list(o.shape)) for o in md.outputs] == [("fp16_output", "FP16", [-1]),
                                                                           ("fp32_output", "FP32", [-1])]


def test_missing_model_is_not_found(client, stub):
    expect_rpc_error(lambda: stub.ModelReady(pb.ModelReadyRequest(name="nope")), grpc.StatusCode.NOT_FOUND,
                     equals="Model with name nope does not exist.")
    expect_rpc_error(lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="nope")), grpc.StatusCode.NOT_FOUND)
    expect_triton_error(lambda: client.infer("nope", [raw_input("x", "INT32", [1])]), "StatusCode.NOT_FOUND",
                        "Model with name nope does not exist.")


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_raw_inputs_every_datatype(client, datatype):
    values = DATATYPES[datatype][2]
    res = client.infer("echo", [raw_input("x", datatype, values)], request_id=f"raw-{datatype}")
    out = res.as_numpy("output-0")
    expected = np.array(values, dtype=DATATYPES[datatype][1])
    assert out.shape == (3,)
    assert list(out) == list(expected)
    msg = res.get_response()
    assert len(msg.raw_output_contents) == 1, "raw inputs -> raw outputs"
    assert msg.outputs[0].datatype == datatype
    assert msg.id == f"raw-{datatype}"


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
    assert res.id == "typed"
    assert res.model_name == "echo"


def test_bytes_tensor_2d(client):
    arr = np.array([[b"a", b"bc"], [b"\x00\xff", "é".encode()]], dtype=np.object_)
    i = tg.InferInput("s", [2, 2], "BYTES")
    i.set_data_from_numpy(arr)
    out = client.infer("echo", [i]).as_numpy("output-0")
    assert out.shape == (2, 2)
    assert out.tolist() == arr.tolist()


def test_fp16_raw(client, stub):
    half = np.array([1.5, -2.25, 65504], dtype=np.float16)
    res = client.infer("fp16-input", [raw_input("fp16_input", "FP16", half),
                                      raw_input("str_input", "BYTES", [b"x", b"yz"])])
    assert res.as_numpy("fp32_output").tolist() == [1.5, -2.25, 65504.0]
    assert res.as_numpy("str_output").tolist() == [b"x", b"yz"]
    # Typed FP32 in, an FP16 output forces every output raw.
    typed = stub.ModelInfer(typed_request("fp16-output", [("fp32_input", "FP32", [2], [0.5, 3.0])]))
    assert len(typed.raw_output_contents) == 2
    assert np.frombuffer(typed.raw_output_contents[0], "<f2").tolist() == [0.5, 3.0]
    assert np.frombuffer(typed.raw_output_contents[1], "<f4").tolist() == [0.5, 3.0]
    assert typed.outputs[0].parameters["binary_data_size"].int64_param == 4


def test_fp16_typed_is_rejected(stub):
    req = pb.ModelInferRequest(model_name="echo")
    t = req.inputs.add(name="h", datatype="FP16", shape=[1])
    t.contents.fp32_contents.append(1.0)
    expect_rpc_error(lambda: stub.ModelInfer(req), grpc.StatusCode.INVALID_ARGUMENT, contains="raw_input_contents")


def test_parameters_round_trip(stub, client):
    req = typed_request("echo", [("x", "INT32", [1], [4])], id="params")
    req.parameters["b"].bool_param = True
    req.parameters["i"].int64_param = -7
    req.parameters["s"].string_param = "text"
    req.inputs[0].parameters["k"].string_param = "v"
    res = stub.ModelInfer(req)
    assert res.parameters["b"].bool_param is True
    assert res.parameters["i"].int64_param == -7
    assert res.parameters["s"].string_param == "text"
    assert res.outputs[0].parameters["k"].string_param == "v"
    # tritonclient sends parameters too (Triton's proto shares the field numbers).
    tres = client.infer("echo", [raw_input("x", "INT32", [1])], parameters={"flag": True, "n": 3, "name": "z"})
    p = tres.get_response().parameters
    assert (p["flag"].bool_param, p["n"].int64_param, p["name"].string_param) == (True, 3, "z")
    # A float cannot travel back over gRPC: KServe's to_grpc_parameters rule.
    expect_triton_error(lambda: client.infer("echo", [raw_input("x", "INT32", [1])], parameters={"f": 1.5}),
                        "StatusCode.INVALID_ARGUMENT", "to_grpc: invalid parameter value: 1.5")


def test_request_id_and_metadata_reach_the_model(gstack, client):
    res = client.infer("echo", [raw_input("x", "INT32", [1])], request_id="grpc-id-1",
                       headers={"x-request-id": "grpc-trace-42"})
    assert res.get_response().id == "grpc-id-1"
    generated = client.infer("echo", [raw_input("x", "INT32", [1])]).get_response().id
    assert generated, "a response without a request id gets a generated id"
    # The x-request-id metadata reached the model as a header: the latency line names it.
    deadline = time.monotonic() + 5
    while "requestId: grpc-trace-42" not in gstack.stack.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "requestId: grpc-trace-42" in gstack.stack.log_text()


def test_requested_outputs(client, stub):
    inputs = [raw_input("a", "INT32", [1, 2]), raw_input("b", "FP64", [0.5])]
    res = client.infer("echo", inputs, outputs=[tg.InferRequestedOutput("output-1")])
    msg = res.get_response()
    assert [o.name for o in msg.outputs] == ["output-1"]
    assert res.as_numpy("output-1").tolist() == [0.5]
    req = typed_request("echo", [("a", "INT32", [1], [1]), ("b", "INT32", [1], [2])])
    req.outputs.add(name="output-1")
    req.outputs.add(name="output-0")
    assert [o.name for o in stub.ModelInfer(req).outputs] == ["output-1", "output-0"]
    bad = typed_request("echo", [("a", "INT32", [1], [1])])
    bad.outputs.add(name="zzz")
    expect_rpc_error(lambda: stub.ModelInfer(bad), grpc.StatusCode.INVALID_ARGUMENT,
                     equals="Unexpected inference output 'zzz' for model 'echo'")


def test_repository_load_unload(client, stub, gstack):
    api = u.Api(gstack.stack.base_url)
    client.unload_model("sleep")  # Triton's layout: model_name is field 2
    expect_triton_error(lambda: client.is_model_ready("sleep"), "StatusCode.NOT_FOUND")
    for _ in range(4):  # every worker agrees
        assert api.get("/v2/models/sleep/ready").status_code == 404
    client.load_model("sleep")
    assert client.is_model_ready("sleep")
    for _ in range(4):
        assert api.get("/v2/models/sleep/ready").status_code == 200
    # KServe's layout, and the response fields.
    r = stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="sleep"))
    assert (r.model_name, r.isUnloaded) == ("sleep", True)
    r = stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="sleep"))
    assert (r.model_name, r.isLoaded) == ("sleep", True)
    assert client.is_model_ready("sleep")


# --------------------------------------------------------------------------------------------
# errors: every code, never UNKNOWN
# --------------------------------------------------------------------------------------------

def test_error_codes(stub, client, target):
    S = grpc.StatusCode
    one = [("x", "INT32", [1], [1])]
    # NOT_FOUND
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("nope", one)), S.NOT_FOUND)
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
    mismatch = typed_request("echo", [])
    mismatch.inputs.add(name="a", datatype="INT32", shape=[1])
    mismatch.inputs.add(name="b", datatype="INT32", shape=[1])
    mismatch.raw_input_contents.append(struct.pack("<i", 1))
    expect_rpc_error(lambda: stub.ModelInfer(mismatch), S.INVALID_ARGUMENT,
                     equals="the number of inputs (2) does not match the expected number of raw input contents (1) "
                            "for model 'echo'.")
    mixed = typed_request("echo", one)
    mixed.raw_input_contents.append(struct.pack("<i", 1))
    expect_rpc_error(lambda: stub.ModelInfer(mixed), S.INVALID_ARGUMENT,
                     contains="contents field must not be specified when using raw_input_contents for input 'x'")
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("echo", [("x", "INT32", [2, 2], [1, 2, 3])])),
                     S.INVALID_ARGUMENT, contains="shape needs 4")
    short_raw = typed_request("echo", [])
    short_raw.inputs.add(name="x", datatype="FP32", shape=[3])
    short_raw.raw_input_contents.append(b"\0" * 8)
    expect_rpc_error(lambda: stub.ModelInfer(short_raw), S.INVALID_ARGUMENT, contains="'x'")
    unknown_type = pb.ModelInferRequest(model_name="echo")
    unknown_type.inputs.add(name="x", datatype="FLOAT", shape=[1])
    expect_rpc_error(lambda: stub.ModelInfer(unknown_type), S.INVALID_ARGUMENT, contains="FLOAT")
    expect_rpc_error(lambda: stub.ModelInfer(typed_request("fp16-output", one)), S.INVALID_ARGUMENT,
                     contains="fp32_input")
    expect_rpc_error(lambda: raw_stub_call(target, "ModelInfer", b"\xff\xff\xff"), S.INVALID_ARGUMENT,
                     contains="ModelInferRequest")
    # UNIMPLEMENTED: Triton-only RPCs
    expect_triton_error(lambda: client.get_model_config("echo"), "StatusCode.UNIMPLEMENTED")
    # RESOURCE_EXHAUSTED: over [grpc] max_message_size
    big = pb.ModelInferRequest(model_name="echo")
    big.inputs.add(name="x", datatype="UINT8", shape=[MAX_MESSAGE + 1])
    big.raw_input_contents.append(b"\0" * (MAX_MESSAGE + 1))
    expect_rpc_error(lambda: stub.ModelInfer(big), S.RESOURCE_EXHAUSTED, contains="max_message_size")
    # DEADLINE_EXCEEDED: the client's deadline passes while the model works
    slow = typed_request("sleep", one)
    slow.parameters["delay_ms"].int64_param = 2000
    expect_rpc_error(lambda: stub.ModelInfer(slow, timeout=0.3), S.DEADLINE_EXCEEDED)
    # and the server is fine afterwards
    assert stub.ModelInfer(typed_request("echo", one)).outputs[0].contents.int_contents == [1]


# --------------------------------------------------------------------------------------------
# size, concurrency, clients
# --------------------------------------------------------------------------------------------

def test_4mb_fp32_tensor(client, stub):
    arr = np.random.default_rng(7).standard_normal(1 << 20).astype(np.float32)  # 4 MiB
    i = tg.InferInput("x", [1 << 20], "FP32")
    i.set_data_from_numpy(arr)
    assert np.array_equal(client.infer("echo", [i]).as_numpy("output-0"), arr)
    typed = stub.ModelInfer(typed_request("echo", [("x", "FP32", [1 << 20], arr.tolist())]))
    assert np.array_equal(np.array(typed.outputs[0].contents.fp32_contents, np.float32), arr)


def test_64_concurrent_calls(target):
    c = tg.InferenceServerClient(url=target)
    try:
        def one(k: int):
            model = "sleep" if k % 2 else "echo"
            res = c.infer(model, [raw_input("x", "INT64", [k, k * 2])], request_id=f"c{k}")
            return k, res.as_numpy("output-0").tolist(), res.get_response().id

        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            results = list(pool.map(one, range(64)))
        assert sorted(results) == [(k, [k, k * 2], f"c{k}") for k in range(64)]
    finally:
        c.close()


def test_kserve_inference_grpc_client(target):
    from kserve import InferenceGRPCClient, InferInput, InferRequest

    async def run():
        async with InferenceGRPCClient(url=target, timeout=30, retries=0) as c:
            assert await c.is_server_ready()
            assert await c.is_server_live()
            assert await c.is_model_ready("echo")
            i = InferInput(name="input-0", shape=[2, 2], datatype="FP32")
            i.set_data_from_numpy(np.array([[1, 2], [3, 4]], dtype=np.float32))
            res = await c.infer(InferRequest(model_name="echo", infer_inputs=[i], request_id="kserve-1"),
                                headers=[("x-request-id", "kserve-hdr")])
            assert res.id == "kserve-1"
            assert res.outputs[0].as_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]

    asyncio.run(run())


# --------------------------------------------------------------------------------------------
# health
# --------------------------------------------------------------------------------------------

def _health_request(service: str) -> bytes:
    b = service.encode()
    return b"\x0a" + bytes([len(b)]) + b if b else b""


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
# failures: a worker killed mid-call, graceful drain
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


def test_graceful_drain(make_stack):
    """SIGTERM to the gRPC process: in-flight calls finish, health says NOT_SERVING, new calls are UNAVAILABLE."""
    s = GRPCStack(make_stack(grpc_config(), start=False, name="drain"))
    try:
        s.start()
        pids = s.grpc_pids()
        assert len(pids) == 1, f"expected one gRPC process, found {pids}"
        ch = grpc.insecure_channel(s.target, options=GRPC_OPTIONS)
        stub = pbg.GRPCInferenceServiceStub(ch)
        slow = typed_request("sleep", [("x", "INT32", [1], [3])])
        slow.parameters["delay_ms"].int64_param = 2000
        future = stub.ModelInfer.future(slow, timeout=30)
        wch, watch = health_watch(s.target)
        assert next(watch) == SERVING
        time.sleep(0.5)
        os.kill(pids[0], signal.SIGTERM)
        assert next(watch) == NOT_SERVING
        time.sleep(0.3)
        with pytest.raises(grpc.RpcError) as info:
            raw_stub_call(s.target, "ServerLive", timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        res = future.result(timeout=30)  # the in-flight call finished
        assert res.outputs[0].contents.int_contents == [3]
        deadline = time.monotonic() + 10
        while u.pid_alive(pids[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not u.pid_alive(pids[0]), "the gRPC process did not exit after draining"
        if s.manual is not None:
            assert s.manual.wait(5) == 0
        wch.close()
        ch.close()
    finally:
        s.stop_manual()


def test_master_stop_waits_for_grpc_calls(make_stack):
    """Stopping the whole server lets an in-flight gRPC call finish, and everything exits cleanly."""
    s = GRPCStack(make_stack(grpc_config(), start=False, name="stopgrpc"))
    try:
        s.start()
        ch = grpc.insecure_channel(s.target, options=GRPC_OPTIONS)
        stub = pbg.GRPCInferenceServiceStub(ch)
        slow = typed_request("sleep", [("x", "INT32", [1], [5])])
        slow.parameters["delay_ms"].int64_param = 1500
        future = stub.ModelInfer.future(slow, timeout=30)
        time.sleep(0.4)
        s.stop_manual()
        res = s.stack.stop(timeout=20)
        assert future.result(timeout=30).outputs[0].contents.int_contents == [5]
        assert not res.problems(), "; ".join(res.problems()) + "\n" + s.stack.log_tail(60)
        ch.close()
    finally:
        s.stop_manual()
