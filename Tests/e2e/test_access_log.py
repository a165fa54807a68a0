"""access_log_format (KServe's --access_log_format, gunicorn / asgi-logger atoms): one line per request, REST and
gRPC alike, where the server log goes; an unknown atom stops the start naming it; without the option, the built-in
line with the client's address and the response size."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import grpc
import pytest

import e2e_util as u

_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pbg
finally:
    sys.argv = _argv

EVERY_ATOM = ('ACCESS h=%(h)s r="%(r)s" s=%(s)s b=%(b)s m=%(m)s U=%(U)s q=%(q)s H=%(H)s a="%(a)s" f="%(f)s" '
              't=%(t)s L=%(L)s M=%(M)s D=%(D)s rid=%({X-Request-Id}i)s ct=%({Content-Type}o)s')
LINE = re.compile(
    r'ACCESS h=(?P<h>\S+) r="(?P<r>[^"]*)" s=(?P<s>\S+) b=(?P<b>\S+) m=(?P<m>\S+) U=(?P<U>\S+) q=(?P<q>\S+) '
    r'H=(?P<H>\S+) a="(?P<a>[^"]*)" f="(?P<f>[^"]*)" t=(?P<t>\[[^\]]+\]) L=(?P<L>\S+) M=(?P<M>\S+) D=(?P<D>\S+) '
    r'rid=(?P<rid>\S+) ct=(?P<ct>\S+)$')
TIME = re.compile(r"^\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]$")


@pytest.fixture(scope="module")
def fstack(tmp_path_factory):
    cfg = u.default_config()
    cfg["grpc"] = {"enable": True, "host": "127.0.0.1", "port": u.free_port()}
    yield from u.serve(u.Stack(tmp_path_factory.mktemp("access"), cfg, args=["--access_log_format", EVERY_ATOM],
                               name="access"), stop_timeout=15)


def lines_with(stack, needle: str, count: int = 1) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        found = [ln for ln in stack.log_text().splitlines() if needle in ln]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # and no second line trickles in
    return [ln for ln in stack.log_text().splitlines() if needle in ln]


def parse(line: str) -> dict:
    m = LINE.search(line)
    assert m, f"not the configured format: {line}"
    return m.groupdict()


def check_times(f: dict) -> None:
    assert TIME.match(f["t"]), f["t"]
    seconds, ms, us = float(f["L"]), int(f["M"]), int(f["D"])
    assert re.fullmatch(r"\d+\.\d{6}", f["L"]), f["L"]
    assert abs(seconds * 1e6 - us) <= 1, f
    assert abs(ms - us / 1000) <= 1, f


def test_every_atom_over_rest(fstack):
    api = u.Api(fstack.base_url)
    r = api.post("/v1/models/echo:predict?trace=1", json={"instances": [[1, 2]]},
                 headers={"User-Agent": "e2e-agent/1.0", "Referer": "http://referer.example/page",
                          "X-Request-Id": "rid-rest-1"})
    assert r.status_code == 200, u.describe(r)
    found = lines_with(fstack, "rid=rid-rest-1")
    assert len(found) == 1, found
    f = parse(found[0])
    assert f["h"] == "127.0.0.1"
    assert f["r"] == "POST /v1/models/echo:predict?trace=1 HTTP/1.1"
    assert (f["s"], f["m"], f["U"], f["q"], f["H"]) == ("200", "POST", "/v1/models/echo:predict", "trace=1", "HTTP/1.1")
    assert int(f["b"]) == len(r.content)
    assert (f["a"], f["f"]) == ("e2e-agent/1.0", "http://referer.example/page")
    assert f["ct"] == "application/json"
    check_times(f)

    r = api.get("/v2/models/nope/ready", headers={"X-Request-Id": "rid-rest-2"})
    f = parse(lines_with(fstack, "rid=rid-rest-2")[0])
    assert (f["s"], f["q"], f["f"], f["r"]) == ("404", "-", "-", "GET /v2/models/nope/ready HTTP/1.1")
    assert int(f["b"]) == len(r.content)


def test_every_atom_over_grpc(fstack):
    """Behind nginx (the default), ModelInfer's line is written by the worker that answered the call and the other
    methods' by the gRPC process: the same atoms either way (the gRPC status as %(s)s, the message's bytes)."""
    target = f"127.0.0.1:{fstack.config['grpc']['port']}"
    with grpc.insecure_channel(target, options=[("grpc.primary_user_agent", "e2e-grpc/2.0")]) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        stub = pbg.GRPCInferenceServiceStub(ch)
        request = pb.ModelInferRequest(model_name="echo", inputs=[
            pb.ModelInferRequest.InferInputTensor(name="x", datatype="UINT8", shape=[5])], raw_input_contents=[b"12345"])
        response = stub.ModelInfer(request, metadata=[("x-request-id", "rid-grpc-1")], timeout=30)
        with pytest.raises(grpc.RpcError) as e:
            stub.ModelReady(pb.ModelReadyRequest(name="nope"), metadata=[("x-request-id", "rid-grpc-2")], timeout=30)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    found = lines_with(fstack, "rid=rid-grpc-1")
    assert len(found) == 1, f"one line per call: {found}"
    assert "kserve.worker" in found[0], found[0]
    f = parse(found[0])
    assert f["h"] == "127.0.0.1"
    assert f["r"] == "POST /inference.GRPCInferenceService/ModelInfer HTTP/2.0"
    assert (f["s"], f["m"], f["U"], f["q"], f["H"]) == ("0", "POST", "/inference.GRPCInferenceService/ModelInfer", "-", "HTTP/2.0")
    assert int(f["b"]) == len(response.SerializeToString())
    assert f["a"].startswith("e2e-grpc/2.0"), f["a"]
    assert f["f"] == "-"
    check_times(f)
    assert "kserve.grpc" in lines_with(fstack, "rid=rid-grpc-2")[0]
    f = parse(lines_with(fstack, "rid=rid-grpc-2")[0])
    assert (f["s"], f["U"], f["b"]) == ("5", "/inference.GRPCInferenceService/ModelReady", "-")


def test_unknown_atom_stops_the_start_naming_it(make_stack):
    s = make_stack(args=["--access_log_format", "%(h)s %(Z)s"], start=False)
    s.spawn()
    assert s.proc.wait(timeout=30) != 0
    s.stopped = s.proc.returncode  # it never started: nothing to stop
    assert "%(Z)s" in s.log_text() and "--access_log_format" in s.log_text(), s.log_text()

    def cfg(c):
        c["server"]["access_log_format"] = "%(h)s %({X-A}x)s"
    s = make_stack(config=cfg, start=False)
    s.spawn()
    assert s.proc.wait(timeout=30) != 0
    s.stopped = s.proc.returncode  # it never started: nothing to stop
    assert "%({X-A}x)s" in s.log_text() and "[server] access_log_format" in s.log_text(), s.log_text()


def test_default_line_has_the_client_address_and_the_size(api, stack):
    r = api.get("/v2/health/live?probe=access-default")
    assert r.status_code == 200
    found = lines_with(stack, "/v2/health/live?probe=access-default")
    assert len(found) == 1, found
    m = re.search(r" 127\.0\.0\.1 GET /v2/health/live\?probe=access-default 200 (\d+)B [\d.]+ms$", found[0])
    assert m, found[0]
    assert int(m.group(1)) == len(r.content)


def test_access_lines_go_to_the_log_file(make_stack, tmp_path):
    log = tmp_path / "server.log"

    def cfg(c):
        c["server"]["log_file"] = str(log)
        c["server"]["access_log_format"] = "FILE %(m)s %(U)s %(s)s"
    s = make_stack(config=cfg)
    assert u.Api(s.base_url).get("/v2/health/ready").status_code == 200
    deadline = time.monotonic() + 10
    while "FILE GET /v2/health/ready 200" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "FILE GET /v2/health/ready 200" in log.read_text()
